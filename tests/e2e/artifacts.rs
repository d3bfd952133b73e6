//! Artifact segmentation from image-level labels, end to end on real transmitted-light tiles
//! (ndev's scratch assay) with SYNTHETIC artifacts: the set is seeded, the classifier learns
//! from labels only, ScoreCAM localises what it learned, mutual information agrees with NumPy,
//! and the artifact U-Net trains and is evaluated with `evaluate --no-split`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use brightseg_train::artifacts::pseudo::mutual_information;

use crate::util::*;

const SCRATCH: &str = "ndev/scratch-assay-labeled-10T-2Ch.tiff";

fn synth(image: &Path, frames: &str, seed: &str, out: &Path) {
    brightseg_ok(&[
        os("synth-artifacts"),
        image.as_os_str(),
        os("--channel"),
        os("oblique"),
        os("--frames"),
        os(frames),
        os("--seed"),
        os(seed),
        os("--out"),
        out.as_os_str(),
    ]);
}

/// The number after `label` on the line of `output` that contains `line`.
fn number_after(output: &str, line: &str, label: &str) -> f64 {
    let l = output
        .lines()
        .find(|l| l.contains(line))
        .unwrap_or_else(|| panic!("no line with {line:?} in:\n{output}"));
    let rest = &l[l
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {l}"))
        + label.len()..];
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {l}"))
}

#[test]
fn the_synthetic_set_is_seeded_labelled_per_image_and_named_synthetic() {
    let Some(image) = data(SCRATCH) else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    synth(&image, "0-1", "3", &a);
    synth(&image, "0-1", "3", &b);
    let labels = std::fs::read_to_string(a.join("labels.csv")).expect("labels.csv");
    let rows: Vec<&str> = labels.lines().skip(1).collect();
    // 576 × 210 frames: 6 × 2 whole 96-px tiles each.
    assert_eq!(rows.len(), 24);
    assert_eq!(rows.iter().filter(|r| r.ends_with(",artifact")).count(), 12);
    assert!(rows
        .iter()
        .all(|r| r.ends_with(",artifact") || r.ends_with(",clean")));
    for r in &rows {
        let file = r.split(',').next().expect("file");
        let ours = std::fs::read(a.join(file)).expect("tile");
        assert_eq!(ours, std::fs::read(b.join(file)).expect("tile"), "{file}");
        let truth = brightseg::io::read_image(
            &a.join("truth")
                .join(Path::new(file).file_name().expect("name")),
        )
        .expect("truth");
        let plane = truth.plane(0, 0, 0);
        let covered = (0..plane.width() * plane.height())
            .filter(|&i| plane.value(i) > 0.0)
            .count();
        assert_eq!(
            covered > 0,
            r.ends_with(",artifact"),
            "{r}: {covered} truth pixels"
        );
        let tile = brightseg::io::read_image(&a.join(file)).expect("tile");
        let px = tile.calibration.pixel_width_um.expect("calibrated tile");
        assert!((px - 0.619).abs() < 1e-6, "{px}");
    }
    let readme = std::fs::read_to_string(a.join("README.md")).expect("README");
    assert!(readme.contains("SYNTHETIC"), "{readme}");
}

#[test]
fn mutual_information_equals_numpy() {
    let (Some(image), Some(py)) = (data(SCRATCH), python()) else {
        return;
    };
    let series = brightseg::io::read_image(&image).expect("read");
    let c = series.resolve_channel(Some("oblique")).expect("oblique");
    let plane = series.plane(c, 0, 2);
    let values: Vec<f32> = (0..plane.width() * plane.height())
        .map(|i| plane.value(i))
        .collect();
    // A mask that follows the image (its darkest fifth) and one that does not (a stripe).
    let mut sorted = values.clone();
    sorted.sort_by(f32::total_cmp);
    let cut = sorted[sorted.len() / 5];
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("image.npy");
    write_npy(&img, &[plane.height(), plane.width()], &values);
    for (name, mask) in [
        (
            "dark",
            values.iter().map(|&v| v < cut).collect::<Vec<bool>>(),
        ),
        (
            "stripe",
            (0..values.len())
                .map(|i| (i % plane.width()) < 50)
                .collect(),
        ),
    ] {
        let m = tmp.path().join(format!("{name}.npy"));
        let as_f32: Vec<f32> = mask.iter().map(|&b| f32::from(u8::from(b))).collect();
        write_npy(&m, &[plane.height(), plane.width()], &as_f32);
        let out = tmp.path().join(format!("{name}.mi.npy"));
        oracle(
            &py,
            &[
                os("mi"),
                m.as_os_str(),
                img.as_os_str(),
                os("32"),
                out.as_os_str(),
            ],
        );
        let (_, want) = read_npy::<f64>(&out);
        let ours = mutual_information(&mask, &values, 32);
        assert!(
            (ours - want[0]).abs() < 1e-3,
            "{name}: ours {ours}, NumPy {}",
            want[0]
        );
    }
}

#[test]
fn weak_labels_train_a_classifier_whose_scorecam_finds_the_artifacts_and_a_unet() {
    let Some(image) = data(SCRATCH) else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let (train, test) = (tmp.path().join("train"), tmp.path().join("test"));
    synth(&image, "0-6", "1", &train);
    synth(&image, "7-9", "2", &test);
    let classifier = tmp.path().join("classifier");
    let out = brightseg_ok(&[
        os("train"),
        os("classifier"),
        os("--labels"),
        train.join("labels.csv").as_os_str(),
        os("--epochs"),
        os("30"),
        os("--out"),
        classifier.as_os_str(),
    ]);
    let accuracy = number_after(&out, "classifier written", "validation accuracy");
    assert!(accuracy >= 0.8, "{out}");
    let cams = tmp.path().join("cams");
    let out = brightseg_ok(&[
        os("cam"),
        os("--classifier"),
        classifier.as_os_str(),
        os("--labels"),
        test.join("labels.csv").as_os_str(),
        os("--truth-dir"),
        test.join("truth").as_os_str(),
        os("--out"),
        cams.as_os_str(),
    ]);
    // Held-out frames: the maps of a classifier that never saw a mask overlap the artifacts
    // (0.37 measured; a classifier that learned the background instead scored 0.02).
    let cam_iou = number_after(&out, "(a) ScoreCAM", "pixel IoU");
    assert!(cam_iou >= 0.25, "{out}");
    // The image sharpens the coarse maps: rings and fibres instead of discs (0.63 measured
    // against 0.29 unrefined with the shipped classifier).
    let unrefined = number_after(&out, "MI-selected, unrefined", "pixel IoU");
    let refined = number_after(&out, "(b) pseudo-masks, refine dark", "pixel IoU");
    assert!(
        refined >= 0.5 && refined > unrefined + 0.15 && refined > cam_iou + 0.1,
        "{out}"
    );
    let wins: usize = out
        .lines()
        .filter(|l| l.trim_start().starts_with("0."))
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(wins, 18, "every artifact tile gets a threshold:\n{out}");
    assert!(cams.join("pseudo.csv").is_file());
    let first = std::fs::read_dir(&cams)
        .expect("cams")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cam.png"))
        .count();
    assert_eq!(first, 36);

    // The U-Net on the pseudo-masks, scored like any model: 10 epochs × 10 steps (about 10 s),
    // and a 1 × 1 step run that has hardly left its initial weights.
    let train_unet = |name: &str, epochs: &str, steps: &str| -> PathBuf {
        let model = tmp.path().join(name);
        brightseg_ok(&[
            os("train"),
            os("artifacts"),
            os("--labels"),
            train.join("labels.csv").as_os_str(),
            os("--classifier"),
            classifier.as_os_str(),
            os("--epochs"),
            os(epochs),
            os("--steps"),
            os(steps),
            os("--batch"),
            os("4"),
            os("--jobs"),
            os("2"),
            os("--out"),
            model.as_os_str(),
        ]);
        model
    };
    let model = train_unet("artifacts-test", "10", "10");
    let barely_trained = train_unet("artifacts-1-step", "1", "1");
    let yaml = std::fs::read_to_string(model.join("bioimageio.yaml")).expect("description");
    assert!(yaml.contains("min_percentile: 25.0"), "{yaml}");
    assert!(yaml.contains("channel_names: [artifact]"), "{yaml}");
    // The zoo's own validator and test accept the artifact U-Net as written.
    if let Some(zoo_py) = crate::zoo::zoo_python() {
        let (passed, report) = crate::zoo::zoo_check(&zoo_py, &[&model]);
        assert!(passed, "{report}");
    }
    let all: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(test.join("images"))
            .expect("images")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(all.len(), 36);
    let images = &all[..6];
    // `brightseg evaluate` of `model` on `images` against their synthetic truth.
    let evaluate = |model: &Path, images: &[PathBuf], extra: &[&OsStr]| -> String {
        let truths: Vec<PathBuf> = images
            .iter()
            .map(|p| test.join("truth").join(p.file_name().expect("name")))
            .collect();
        let mut args = vec![os("evaluate")];
        args.extend(images.iter().map(|p| p.as_os_str()));
        args.extend([
            os("--model"),
            model.as_os_str(),
            os("--no-split"),
            os("--truth"),
        ]);
        args.extend(truths.iter().map(|p| p.as_os_str()));
        args.extend(extra);
        brightseg_ok(&args)
    };
    let out = evaluate(&model, images, &[]);
    assert!(
        out.contains("IoU") && out.lines().any(|l| l.starts_with("total")),
        "{out}"
    );

    // Pooled pixel IoU of `model` on all 36 held-out tiles (frames 7-9, seed 2).
    let pooled_iou = |model: &Path, extra: &[&OsStr], name: &str| -> f64 {
        let csv = tmp.path().join(name);
        let mut args = vec![os("--csv"), csv.as_os_str()];
        args.extend(extra);
        evaluate(model, &all, &args);
        let table = std::fs::read_to_string(&csv).expect("evaluation table");
        let column = table
            .lines()
            .next()
            .and_then(|h| h.split(',').position(|c| c == "pixel_iou"))
            .expect("pixel_iou column");
        table
            .lines()
            .find(|l| l.starts_with("\"total\""))
            .and_then(|l| l.split(',').nth(column))
            .and_then(|v| v.parse().ok())
            .expect("pooled IoU")
    };
    // Quality floor of the artifact trainer (issue 35), from image-level labels only: measured
    // on 2026-12-07, pooled IoU 0.632 after 10 × 10 steps (seeds 2 and 3: 0.550 and 0.499) and
    // 0.191 after one step. Catches a U-Net that learns nothing from its pseudo-masks, or
    // pseudo-masks that no longer follow the artifacts.
    let trained = pooled_iou(&model, &[], "trained.csv");
    let barely = pooled_iou(&barely_trained, &[], "one-step.csv");
    println!("artifact U-Net: pooled IoU {trained} trained, {barely} after one step");
    assert!(
        trained >= 0.45 && trained > barely + 0.2,
        "artifact U-Net: pooled pixel IoU {trained} trained, {barely} after one step"
    );

    // The shipped model on the same tiles (as its card says), without image labels. Its
    // description asks for the image refinement of the mask that its training targets had:
    // pooled pixel IoU 0.63 measured with it, 0.57 without.
    let shipped = repo_root().join("models/artifacts-brightfield");
    let refined = pooled_iou(&shipped, &[], "refined.csv");
    let unrefined = pooled_iou(&shipped, &[os("--refine"), os("none")], "unrefined.csv");
    assert!(
        refined >= 0.6 && refined > unrefined + 0.02,
        "shipped artifact model, pooled pixel IoU {refined} refined, {unrefined} not"
    );

    // find-artifacts: the share covered is the labelled share of each image.
    let found = tmp.path().join("found");
    let mut args = vec![os("find-artifacts")];
    args.extend(images.iter().map(|p| p.as_os_str()));
    args.extend([
        os("--model"),
        model.as_os_str(),
        os("--out"),
        found.as_os_str(),
        os("--quiet"),
    ]);
    brightseg_ok(&args);
    let summary = std::fs::read_to_string(found.join("summary.csv")).expect("summary");
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header.last(), Some(&"Area Covered [%]"));
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let stem = cells[0].trim_end_matches(".tif");
        let labels =
            brightseg::io::read_image(&found.join(format!("{stem}_labels.tif"))).expect("labels");
        let plane = labels.plane(0, 0, 0);
        let n = plane.width() * plane.height();
        let covered = (0..n).filter(|&i| plane.value(i) > 0.0).count() as f64 * 100.0 / n as f64;
        let reported: f64 = cells[cells.len() - 1].parse().expect("covered");
        assert!((covered - reported).abs() < 1e-6, "{line}");
    }

    // find-nuclei --exclude-artifacts with the shipped artifact model: the nuclei dropped are the
    // ones reported, and on tiles where half carry artifacts some are dropped.
    let nuclei_model = repo_root().join("models/nuclei-brightfield");
    let model = shipped;
    let images = &all;
    let count = |exclude: bool| -> Vec<(usize, usize)> {
        let out = tmp.path().join(if exclude { "excluded" } else { "all" });
        let mut args = vec![os("find-nuclei")];
        args.extend(images.iter().map(|p| p.as_os_str()));
        args.extend([
            os("--model"),
            nuclei_model.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ]);
        if exclude {
            args.extend([os("--exclude-artifacts"), model.as_os_str()]);
        }
        args.push(os("--quiet"));
        brightseg_ok(&args);
        let text = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
        text.lines()
            .skip(1)
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                let dropped = cells[5]
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                (cells[6].parse().expect("count"), dropped)
            })
            .collect()
    };
    let (all, excluded) = (count(false), count(true));
    for ((n_all, _), (n_kept, dropped)) in all.iter().zip(&excluded) {
        assert_eq!(n_all - n_kept, *dropped, "{all:?} vs {excluded:?}");
    }
    let dropped: usize = excluded.iter().map(|(_, d)| d).sum();
    assert!(dropped > 0, "no nucleus touched an artifact: {excluded:?}");
}
