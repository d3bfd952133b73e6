//! The bioimage.io zoo's own tools judge the models brightseg ships and writes:
//! bioimageio.spec's validation with IO checks and bioimageio.core's `test_model` on the ONNX
//! weights (onnxruntime reproducing the test output that brightseg's tract computed at export),
//! run from .venv-zoo (scripts/setup-test-env.sh). `brightseg validate-model` must agree.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{brightseg, brightseg_ok, data, os, repo_root, require};

/// The Python interpreter with bioimageio.spec and bioimageio.core.
pub fn zoo_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("BRIGHTSEG_ZOO_PYTHON")
        .map_or_else(|| repo_root().join(".venv-zoo/bin/python"), PathBuf::from);
    require(candidate, "create it with scripts/setup-test-env.sh")
}

/// Runs tests/oracle/zoo_check.py on `folders`: (passed, its report).
pub fn zoo_check(python: &Path, folders: &[&Path]) -> (bool, String) {
    let out = Command::new(python)
        .arg(repo_root().join("tests/oracle/zoo_check.py"))
        .args(folders)
        // No download, no conda: everything a check needs is in the folder.
        .env(
            "BIOIMAGEIO_CACHE_PATH",
            std::env::temp_dir().join("bioimageio-cache"),
        )
        .output()
        .expect("start the zoo's python");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

fn shipped(name: &str) -> PathBuf {
    repo_root().join("models").join(name)
}

#[test]
fn shipped_models_pass_the_zoos_validation_and_test() {
    let Some(py) = zoo_python() else { return };
    let models = [
        shipped("nuclei-brightfield"),
        shipped("nuclei-brightfield-generalist"),
        shipped("artifacts-brightfield"),
    ];
    let refs: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    let (passed, report) = zoo_check(&py, &refs);
    assert!(passed, "{report}");
    assert_eq!(
        report.matches("test_model passed").count(),
        models.len(),
        "{report}"
    );
    for model in &models {
        let ours = brightseg_ok(&[os("validate-model"), model.as_os_str()]);
        assert!(ours.contains("passes the checks"), "{ours}");
        assert!(
            ours.contains(": 0 of "),
            "tract reproduces the test output: {ours}"
        );
    }
}

/// An older brightseg model: the zoo rejects it (so the check can fail), validate-model names
/// the same defects, upgrade-model fixes it without touching the network, and find-nuclei
/// gives byte-identical results before and after.
#[test]
fn an_older_model_is_rejected_then_upgraded_with_its_network_untouched() {
    let (Some(py), Some(image)) = (
        zoo_python(),
        data("ndev/scratch-assay-labeled-10T-2Ch.tiff"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let folder = tmp.path().join("old-nuclei");
    std::fs::create_dir(&folder).expect("mkdir");
    for file in ["model.onnx", "weights.bpk", "training.json", "LICENSE"] {
        std::fs::copy(shipped("nuclei-brightfield").join(file), folder.join(file)).expect("copy");
    }
    std::fs::copy(
        repo_root().join("tests/fixtures/nuclei-brightfield-0.1.0.bioimageio.yaml"),
        folder.join("bioimageio.yaml"),
    )
    .expect("copy");
    std::fs::write(
        folder.join("README.md"),
        "# nuclei-brightfield\n\nAn older model.\n",
    )
    .expect("readme");

    let (passed, report) = zoo_check(&py, &[&folder]);
    assert!(!passed, "the zoo must reject the old description: {report}");
    assert!(report.contains("format validation failed"), "{report}");
    let ours = brightseg(&[os("validate-model"), folder.as_os_str()]);
    let ours_text = String::from_utf8_lossy(&ours.stdout).to_string();
    assert_eq!(ours.status.code(), Some(1), "{ours_text}");
    for words in [
        "REJECTED",
        "`training_data`",
        "`inputs.0.data_type`: Extra inputs are not permitted",
        "`inputs.0.preprocessing.0.kwargs.mode`",
        "`inputs.0.test_tensor`: Field required",
        "minimum size 16 is too small for halo 32",
    ] {
        assert!(ours_text.contains(words), "{words:?} not in {ours_text}");
    }

    let find = |model: &Path, out: &Path| {
        brightseg_ok(&[
            os("find-nuclei"),
            image.as_os_str(),
            os("--model"),
            model.as_os_str(),
            os("--channel"),
            os("oblique"),
            os("--probability"),
            os("--out"),
            out.as_os_str(),
            os("--quiet"),
        ]);
    };
    let before = tmp.path().join("before");
    find(&folder, &before);
    let onnx_before = std::fs::read(folder.join("model.onnx")).expect("onnx");

    let upgraded = brightseg_ok(&[
        os("upgrade-model"),
        folder.as_os_str(),
        os("--test-image"),
        image.as_os_str(),
        os("--channel"),
        os("oblique"),
        os("--frames"),
        os("6"),
        os("--region"),
        os("0,0,288,210"),
    ]);
    assert!(upgraded.contains("passes the checks"), "{upgraded}");
    assert_eq!(
        std::fs::read(folder.join("model.onnx")).expect("onnx"),
        onnx_before,
        "the network must not change"
    );
    let readme = std::fs::read_to_string(folder.join("README.md")).expect("readme");
    assert!(
        readme.starts_with("# nuclei-brightfield\n\nAn older model."),
        "{readme}"
    );
    assert!(
        readme.contains("## Validation\n\n- validation_object_f1_iou50: 0.6395"),
        "{readme}"
    );
    let (passed, report) = zoo_check(&py, &[&folder]);
    assert!(passed, "{report}");

    let after = tmp.path().join("after");
    find(&folder, &after);
    let mut compared = 0;
    for entry in std::fs::read_dir(&before).expect("list") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default();
        if name == OsStr::new("batch.yaml") {
            continue;
        }
        assert_eq!(
            std::fs::read(&path).expect("before"),
            std::fs::read(after.join(name)).expect("after"),
            "{} changed",
            name.to_string_lossy()
        );
        compared += 1;
    }
    assert!(compared >= 4, "only {compared} outputs compared");
}
