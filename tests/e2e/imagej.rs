//! ImageJ itself (Debian's ImageJ 1.x) opens brightseg's output TIFFs with the right calibration,
//! bit depth and stack layout.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use brightseg::image::Calibration;
use brightseg::io::{write_tiff, OutputPlane};

use crate::util::*;

/// What ImageJ reports for `image` (key=value pairs printed by tests/imagej/DescribeImage.java).
fn imagej_describe(ij_jar: &Path, image: &Path) -> HashMap<String, String> {
    let classes = tempfile::tempdir().expect("tempdir");
    let javac = Command::new("javac")
        .arg("-cp")
        .arg(ij_jar)
        .arg("-d")
        .arg(classes.path())
        .arg(repo_root().join("tests/imagej/DescribeImage.java"))
        .output()
        .expect("javac (a JDK) is needed for the ImageJ tests");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let cp = format!("{}:{}", ij_jar.display(), classes.path().display());
    let out = Command::new("java")
        .args(["-Djava.awt.headless=true", "-cp", &cp, "DescribeImage"])
        .arg(image)
        .output()
        .expect("java");
    assert!(
        out.status.success(),
        "ImageJ could not open {}: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[test]
fn imagej_opens_label_and_probability_tiffs_calibrated() {
    let Some(ij) = require(
        "/usr/share/java/ij.jar".into(),
        "install Debian's libij-java (scripts/setup.sh does)",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (w, h) = (40usize, 30usize);
    // A 16-bit label time series (3 frames) and a 32-bit label image with a label above 65535.
    let frames: Vec<Vec<u32>> = (0..3u32)
        .map(|t| (0..(w * h) as u32).map(|i| (i + t) % 50).collect())
        .collect();
    let planes: Vec<OutputPlane<'_>> = frames.iter().map(|f| OutputPlane::Labels(f)).collect();
    let series = tmp.path().join("series_labels.tif");
    write_tiff(&series, w, h, &planes, 3, Calibration::square(0.619)).expect("write");
    let d = imagej_describe(&ij, &series);
    assert_eq!(d["unit"], "micron");
    let pw: f64 = d["pixelWidth"].parse().expect("number");
    assert!((pw - 0.619).abs() < 1e-7, "ImageJ pixel width {pw}");
    assert_eq!(
        (
            d["bitDepth"].as_str(),
            d["slices"].as_str(),
            d["frames"].as_str()
        ),
        ("16", "1", "3")
    );
    assert_eq!(
        (d["width"].as_str(), d["height"].as_str(), d["max"].as_str()),
        ("40", "30", "49.0")
    );

    let big: Vec<u32> = (0..(w * h) as u32).map(|i| 70_000 + i).collect();
    let labels32 = tmp.path().join("big_labels.tif");
    write_tiff(
        &labels32,
        w,
        h,
        &[OutputPlane::Labels(&big)],
        1,
        Calibration {
            pixel_width_um: Some(0.5),
            pixel_height_um: Some(0.25),
        },
    )
    .expect("write");
    let d = imagej_describe(&ij, &labels32);
    assert_eq!(d["bitDepth"], "32", "ImageJ shows 32-bit labels as 32-bit");
    assert_eq!(d["max"], format!("{}.0", 70_000 + w * h - 1));
    let ph: f64 = d["pixelHeight"].parse().expect("number");
    assert!((ph - 0.25).abs() < 1e-9);

    let prob: Vec<f32> = (0..w * h).map(|i| i as f32 / (w * h) as f32).collect();
    let prob_path = tmp.path().join("probability.tif");
    write_tiff(
        &prob_path,
        w,
        h,
        &[OutputPlane::Float(&prob)],
        1,
        Calibration::default(),
    )
    .expect("write");
    let d = imagej_describe(&ij, &prob_path);
    assert_eq!(
        (d["bitDepth"].as_str(), d["unit"].as_str()),
        ("32", "pixel"),
        "uncalibrated stays uncalibrated"
    );
}
