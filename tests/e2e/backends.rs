//! The backend choice: tract and ONNX Runtime (the CPU wheel of the test environment) give the
//! same numbers on the same tiles; the CLI says which ran, falls back from CUDA with a reason,
//! and refuses a wrong library clearly; `brightseg bench` measures and reports.

use std::path::Path;

use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::image::{PixelData, Plane};
use brightseg::io::read_image;
use brightseg::normalize::Normalizer;
use brightseg::pipeline::Model;

use crate::util::{
    brightseg, data, max_abs_diff, ort_library, os, python, repo_root, require, shared_model,
};

fn load(model: &Path, choice: BackendChoice, lib: &Path) -> Model {
    Model::load_with(
        model,
        &BackendOptions {
            choice,
            threads: 2,
            ort_library: Some(lib.to_path_buf()),
        },
    )
    .unwrap_or_else(|e| panic!("{choice}: {e}"))
}

/// A `w × h` plane whose pixel (x, y) is `plane`'s pixel `source(x, y)`.
fn window(
    plane: &Plane,
    w: usize,
    h: usize,
    source: impl Fn(usize, usize) -> (usize, usize),
) -> Plane {
    let values: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = source(i % w, i / w);
            plane.at(x, y)
        })
        .collect();
    Plane::new(w, h, PixelData::F32(values)).expect("window")
}

#[test]
fn tract_and_onnxruntime_agree_on_the_same_tiles() {
    let (Some(model), Some(lib), Some(img)) =
        (shared_model(), ort_library(), data("stardist/img2d.tif"))
    else {
        return;
    };
    let tract = load(&model, BackendChoice::Tract, &lib);
    let ort = load(&model, BackendChoice::OrtCpu, &lib);
    assert!(tract.backend_description().starts_with("tract"));
    assert!(
        ort.backend_description().starts_with("onnxruntime ")
            && ort.backend_description().contains("CPU"),
        "{}",
        ort.backend_description()
    );
    let image = read_image(&img).expect("image");
    let plane = image.plane(0, 0, 0);
    // The model takes 512 × 512 tiles only: the real image, and its mirror image.
    let mirrored = window(plane, 512, 512, |x, y| (511 - x, 511 - y));
    for (name, tile_plane) in [("image", plane), ("mirrored", &mirrored)] {
        tiles_agree(&tract, &ort, tile_plane, name);
    }
    // Whole-image prediction over several overlapping tiles, blended, on both.
    let big = window(plane, 900, 700, |x, y| (mirror(x), mirror(y)));
    maps_agree(&tract, &ort, &big, "900×700 image");
}

/// Runs one 512² tile of `plane` (normalised as the model asks) on both backends, checks they
/// agree within 1e-4 and gives tract's probabilities.
fn tiles_agree(tract: &Model, ort: &Model, plane: &Plane, what: &str) -> Vec<f32> {
    let norm = Normalizer::for_plane(plane, &tract.card().preprocessing);
    let tile: Vec<f32> = (0..512 * 512).map(|i| norm.apply(plane.value(i))).collect();
    let a = tract.run_tile(&tile, 512, 512).expect("tract");
    let b = ort.run_tile(&tile, 512, 512).expect("ort");
    let diff = max_abs_diff(&a, &b);
    println!("{what}: tract vs onnxruntime max abs difference {diff:e}");
    assert!(diff <= 1e-4, "{what}: {diff}");
    a
}

/// Predicts all of `plane` (overlapping tiles, blended) on both backends; they agree within 1e-4.
fn maps_agree(tract: &Model, ort: &Model, plane: &Plane, what: &str) {
    let a = tract.predict(plane, &|_| {}).expect("tract");
    let b = ort.predict(plane, &|_| {}).expect("ort");
    let diff = max_abs_diff(&a, &b);
    println!("{what}: tract vs onnxruntime max abs difference {diff:e}");
    assert!(diff <= 1e-4, "{what}: {diff}");
}

/// The shipped models (the brightfield nucleus model runs at half resolution behind a strided
/// stem) give the same probabilities in tract and onnxruntime on their own kind of image: a
/// 512² tile of the scratch assay's oblique-light channel, and a whole frame over several tiles.
#[test]
fn shipped_models_agree_in_tract_and_onnxruntime() {
    let (Some(lib), Some(img)) = (
        ort_library(),
        data("ndev/scratch-assay-labeled-10T-2Ch.tiff"),
    ) else {
        return;
    };
    let image = read_image(&img).expect("image");
    let channel = image.resolve_channel(Some("oblique")).expect("oblique");
    let frame = image.plane(channel, 0, 7);
    let (fw, fh) = (frame.width(), frame.height());
    let reflect = |v: usize, n: usize| brightseg::tiling::mirror(v as isize, n);
    let tile_plane = window(frame, 512, 512, |x, y| (reflect(x, fw), reflect(y, fh)));
    for name in [
        "nuclei-brightfield",
        "nuclei-brightfield-generalist",
        "artifacts-brightfield",
    ] {
        let folder = crate::util::repo_root().join("models").join(name);
        let tract = load(&folder, BackendChoice::Tract, &lib);
        let ort = load(&folder, BackendChoice::OrtCpu, &lib);
        let a = tiles_agree(&tract, &ort, &tile_plane, &format!("{name}, 512² tile"));
        if name.starts_with("nuclei") {
            assert!(
                a.iter().any(|&p| p > 0.5) && a.iter().any(|&p| p < 0.5),
                "{name} finds nuclei, and not everywhere"
            );
        }
        // Several tiles both ways, also with the brightfield model's 768-pixel preference.
        let whole = window(frame, 1100, 900, |x, y| (reflect(x, fw), reflect(y, fh)));
        maps_agree(
            &tract,
            &ort,
            &whole,
            &format!("{name}, 1100×900 over tiles"),
        );
    }
}

/// Mirrors a coordinate into 0..512.
fn mirror(v: usize) -> usize {
    let m = v % 1024;
    if m < 512 {
        m
    } else {
        1023 - m
    }
}

fn summary_row(out: &Path) -> csv::StringRecord {
    let mut reader = csv::Reader::from_path(out.join("summary.csv")).expect("summary");
    let headers = reader.headers().expect("headers").clone();
    let row = reader.records().next().expect("a row").expect("row");
    assert_eq!(headers.len(), row.len());
    row
}

fn column(out: &Path, name: &str) -> String {
    let mut reader = csv::Reader::from_path(out.join("summary.csv")).expect("summary");
    let index = reader
        .headers()
        .expect("headers")
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    summary_row(out)[index].to_owned()
}

#[test]
fn the_cli_runs_each_backend_and_records_which_ran() {
    let (Some(model), Some(lib), Some(img)) =
        (shared_model(), ort_library(), data("stardist/img2d.tif"))
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |backend: &str, ort_lib: &Path| {
        let out = tmp.path().join(backend);
        let result = brightseg(&[
            os("find-nuclei"),
            img.as_os_str(),
            os("--model"),
            model.as_os_str(),
            os("--pixel-size"),
            os("0.5"),
            os("--backend"),
            os(backend),
            os("--ort-lib"),
            ort_lib.as_os_str(),
            os("--jobs"),
            os("2"),
            os("--out"),
            out.as_os_str(),
        ]);
        (out, result)
    };
    let (tract_out, tract) = run("tract", &lib);
    assert!(tract.status.success());
    assert!(column(&tract_out, "Backend").starts_with("tract"));
    let (ort_out, ort) = run("ort-cpu", &lib);
    let stderr = String::from_utf8_lossy(&ort.stderr);
    assert!(ort.status.success(), "{stderr}");
    assert!(
        stderr.contains("on onnxruntime"),
        "the run says what ran: {stderr}"
    );
    assert!(column(&ort_out, "Backend").starts_with("onnxruntime "));
    let count = |out: &Path| -> i64 { column(out, "Number of Objects").parse().expect("a count") };
    assert!((count(&tract_out) - count(&ort_out)).abs() <= 1);

    // CUDA asked for with a CPU-only library: it runs on the CPU and says why.
    let (cuda_out, cuda) = run("ort-cuda", &lib);
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    assert!(cuda.status.success(), "{stderr}");
    assert!(stderr.contains("CUDA is not available"), "{stderr}");
    assert!(column(&cuda_out, "Backend").contains("on CPU"));

    // A library that is not one: a clear error, nothing processed.
    let (_, wrong) = run("ort-cpu", &tmp.path().join("no-such-lib.so"));
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("not an ONNX Runtime library"), "{stderr}");
    // An unknown backend name lists the choices.
    let (_, unknown) = run("tpu", &lib);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ort-cuda"));
}

#[test]
fn bench_measures_every_engine_in_one_run_and_writes_markdown() {
    let (Some(model), Some(lib), Some(img), Some(py), Some(series)) = (
        shared_model(),
        ort_library(),
        data("stardist/img2d.tif"),
        python(),
        data("ndev/scratch-assay-labeled-10T-2Ch.tiff"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let md = tmp.path().join("BENCHMARKS.md");
    let out = brightseg(&[
        os("bench"),
        os("--model"),
        model.as_os_str(),
        os("--image"),
        img.as_os_str(),
        os("--threads"),
        os("1"),
        os("--tiles"),
        os("1"),
        os("--e2e-size"),
        os("256"),
        os("--repeats"),
        os("1"),
        os("--large-size"),
        os("600"),
        os("--pixel-size"),
        os("0.619,0.5"),
        os("--ort-lib"),
        lib.as_os_str(),
        os("--python"),
        py.as_os_str(),
        os("--profile-tract"),
        os("--training-steps"),
        os("2"),
        os("--training-series"),
        series.as_os_str(),
        os("--markdown"),
        md.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&md).expect("markdown written");
    for row in [
        "| brightseg tract | 1 |",
        "| brightseg ort-cpu | 1 |",
        "| Python onnxruntime (CPU) | 1 |",
        "| tract | 1 |",
        "| ort-cpu | 1 |",
    ] {
        assert!(text.contains(row), "missing {row:?} in\n{text}");
    }
    // The reference's own ratio is 1 and the peak-memory run reported a real figure.
    assert!(text.contains("| 1.00 |"), "{text}");
    assert!(text.contains("### Peak memory"), "{text}");
    // End to end and peak memory at each pixel size, end to end beside the network alone.
    for size in ["0.619", "0.5"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| tract | 1 | {size} |")))
            .unwrap_or_else(|| panic!("no end-to-end row at {size} µm in\n{text}"));
        let cells: Vec<f64> = row
            .split('|')
            .skip(4)
            .take(4)
            .map(|c| c.trim().parse().unwrap_or(f64::NAN))
            .collect();
        // seconds, MP/s, network alone MP/s, their ratio
        assert!(cells.iter().all(|&v| v > 0.0), "{row}");
        // The ratio of the two throughputs, as far as their rounding to 0.01 allows.
        let (low, high) = (
            (cells[1] - 0.005) / (cells[2] + 0.005),
            (cells[1] + 0.005) / (cells[2] - 0.005).max(1e-9),
        );
        assert!(cells[3] >= low - 0.005 && cells[3] <= high + 0.005, "{row}");
    }
    // Where the end-to-end time went: every stage, for every end-to-end run, with the network
    // taking some of it. Catches a stage table that lost a stage or a clock that never ran.
    let stages = text
        .split("Where the time went")
        .nth(1)
        .unwrap_or_else(|| panic!("no stage table in\n{text}"));
    for label in [
        "input rows (copied or resampled)",
        "tiles cut and normalised",
        "network",
        "tiles blended",
        "probability back to the image grid",
        "threshold and connected components",
        "holes, seeds and watershed",
        "size filter and renumbering",
        "measurements",
    ] {
        let row = stages
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no stage {label:?} in\n{text}"));
        assert_eq!(row.matches(" %) |").count(), 4, "{row}");
        if label == "network" {
            let seconds: f64 = row
                .split('|')
                .nth(2)
                .and_then(|c| c.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            assert!(seconds > 0.0, "{row}");
        }
    }
    let memory_rows = text.split("### Peak memory").nth(1).map_or(0, |t| {
        t.lines()
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with("| "))
            .count()
    });
    assert_eq!(memory_rows, 2, "{text}");
    assert!(
        text.contains("### Where tract's time goes") && text.contains(" % |"),
        "tract's time by operator: {text}"
    );
    assert!(text.contains("logical cores"), "{text}");
    // Training steps of both architectures on flex (the engine every build has), flex being
    // its own reference, and on LibTorch in a build with that engine.
    let mut engines = vec!["flex"];
    if cfg!(feature = "libtorch") {
        engines.push("libtorch");
    }
    for arch in ["standard", "fast"] {
        for engine in &engines {
            let row = text
                .lines()
                .find(|l| l.starts_with(&format!("| {arch} | {engine} | 1 |")))
                .unwrap_or_else(|| panic!("no training row for {arch} on {engine} in\n{text}"));
            let seconds: f64 = row
                .split('|')
                .nth(4)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or_else(|| panic!("seconds in {row}"));
            assert!(seconds > 0.0, "{row}");
            if *engine == "flex" {
                assert!(row.contains("| 1.00× |"), "{row}");
            }
        }
    }
}

#[test]
fn bench_times_the_java_api_in_turns_with_the_same_call_in_process() {
    let Some(jar) = require(
        repo_root().join(format!(
            "java/build/libs/brightseg-api-{}.jar",
            env!("CARGO_PKG_VERSION")
        )),
        "build it with `gradle build` or `gradle test` (scripts/test.sh does)",
    ) else {
        return;
    };
    let Some(img) = data("ndev/scratch-assay-labeled-10T-2Ch.tiff") else {
        return;
    };
    let model = repo_root().join("models/nuclei-brightfield");
    let tmp = tempfile::tempdir().expect("tempdir");
    let md = tmp.path().join("bench.md");
    // No ONNX Runtime and no Python here: those rows say why, the JNI row is what is tested.
    let out = brightseg(&[
        os("bench"),
        os("--model"),
        model.as_os_str(),
        os("--image"),
        img.as_os_str(),
        os("--channel"),
        os("oblique"),
        os("--pixel-size"),
        os("0.619"),
        os("--threads"),
        os("1"),
        os("--tiles"),
        os("1"),
        os("--rounds"),
        os("1"),
        os("--e2e-size"),
        os("300"),
        os("--repeats"),
        os("1"),
        os("--large-size"),
        os("0"),
        os("--training-steps"),
        os("0"),
        os("--ort-lib"),
        tmp.path().as_os_str(),
        os("--python"),
        os("/nonexistent/python"),
        os("--jar"),
        jar.as_os_str(),
        os("--markdown"),
        md.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&md).expect("markdown written");
    assert!(
        text.contains("### JNI call vs in-process call (same image, tract, 1 thread)"),
        "{text}\n{stderr}"
    );
    assert!(
        !text.contains("### Training step"),
        "--training-steps 0 skips the training part: {text}"
    );
    for kind in [
        "| labels, measurements (the CLI's default outputs) |",
        "| labels, measurements, probability image |",
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no row {kind:?} in\n{text}"));
        // in process ms | Java API ms | vs in process | bridge ms | segmenting ms | share
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let number = |i: usize| -> f64 {
            cells[i]
                .trim_end_matches('%')
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("cell {i} of {row:?}"))
        };
        let (in_process, java, bridge, work) = (number(2), number(3), number(5), number(6));
        assert!(in_process > 0.0 && java > 0.0 && work > 0.0, "{row}");
        assert!(bridge >= 0.0 && bridge < java, "{row}");
    }
}
