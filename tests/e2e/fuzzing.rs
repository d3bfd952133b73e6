//! Replays tests/fuzz-regressions/TARGET/* through the code each fuzz target drives (fuzz/):
//! every input that ever crashed a fuzz target, and hostile inputs made by hand (lying headers,
//! IFD cycles, YAML bombs, path traversal, absurd option values), must give an error or a
//! result, never a panic; the CLI must fail them with one clear line.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::budget::MemoryBudget;
use brightseg::model::{ModelCard, MAX_TILE_EDGE};
use brightseg::pipeline::Model;

use crate::util::*;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fuzz-regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("regression folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

/// Runs `check` on every input of `target`; a panic fails the test naming the input.
fn replay(target: &str, check: impl Fn(&Path, &[u8])) {
    for path in inputs(target) {
        let bytes = std::fs::read(&path).expect("read input");
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&path, &bytes)));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn image_decoding_regressions_are_errors_not_panics() {
    replay("read_image", |path, bytes| {
        let budget = MemoryBudget::bytes(256 << 20);
        if let Ok(image) = brightseg::io::read_image_from_bytes(bytes, path, budget) {
            let plane = image.plane(0, 0, 0);
            let _ = (plane.min_max(), plane.check_finite());
        }
    });
    // Through the whole CLI: every hostile file of this set is refused with a message.
    let Some(model) = shared_model() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    for path in inputs("read_image") {
        if path.ends_with("bits-per-sample-64.tif") {
            continue; // a valid (if unusual) 64-bit image
        }
        let out = tmp.path().join("out");
        let o = brightseg(&[
            os("find-nuclei"),
            os("--quiet"),
            path.as_os_str(),
            os("--model"),
            model.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--backend"),
            os("tract"),
            os("--overwrite"),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", path.display());
        assert!(
            err.contains("cannot decode") || err.contains("memory budget"),
            "{}: {err}",
            path.display()
        );
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
    }
}

#[test]
fn model_description_regressions_are_errors_not_panics() {
    let folder = Path::new("/models/fuzz");
    replay("model_card", |_, bytes| {
        if let Ok(card) = ModelCard::parse(
            &String::from_utf8_lossy(bytes),
            folder,
            &folder.join("bioimageio.yaml"),
        ) {
            assert!(
                card.onnx_path.starts_with(folder),
                "weights outside the folder"
            );
            let (th, tw) = card.tile_shape(100_000, 100_000);
            assert!(
                th <= MAX_TILE_EDGE && tw <= MAX_TILE_EDGE,
                "tile {th} × {tw}"
            );
        }
    });
}

#[test]
fn onnx_regressions_are_errors_not_panics() {
    let Some(shared) = shared_model() else { return };
    let model_dir = dynamic_model(&shared, 64, "{min: 64, step: 16}");
    let options = BackendOptions {
        choice: BackendChoice::Tract,
        threads: 1,
        ort_library: None,
    };
    replay("onnx_model", |path, bytes| {
        std::fs::write(model_dir.join("model.onnx"), bytes).expect("write weights");
        let loaded = Model::load_with(&model_dir, &options);
        assert!(loaded.is_err(), "{} is not a network", path.display());
    });
}

#[test]
fn command_line_regressions_are_usage_errors_not_panics() {
    replay("cli_args", |path, bytes| {
        let args: Vec<String> = bytes
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        // Parsing alone, as the fuzz target does…
        let _ = brightseg_cli::parse(std::iter::once("brightseg".to_owned()).chain(args.clone()));
        // …and the binary, which also checks what parsing cannot (files, expressions).
        let argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| os(a)).collect();
        let o = brightseg(&argv);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
    });
}
