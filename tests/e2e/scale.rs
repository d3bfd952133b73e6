//! Scale-out: `--shard i/n` splits a batch so that shards together process every image once, and
//! `brightseg merge` joins their outputs into exactly what one process writes, with plate, well
//! and field parsed from Harmony-style file names.

use std::path::{Path, PathBuf};

use brightseg::image::Calibration;
use brightseg::io::{read_image, write_tiff, OutputPlane};

use crate::util::*;

/// Two plates × 4 wells × 2 fields of 128 × 128 crops of a real image, named as Harmony
/// exports them (`<plate>/Images/r01c01f01p01-ch1sk1fk1fl1.tiff`).
pub fn make_plates(root: &Path, image: &Path) -> Vec<PathBuf> {
    make_named_plates(root, image, ["PlateA", "PlateB"])
}

/// [`make_plates`] with the plate folders named `names`.
pub fn make_named_plates(root: &Path, image: &Path, names: [&str; 2]) -> Vec<PathBuf> {
    let img = read_image(image).expect("read image");
    let plane = img.plane(0, 0, 0);
    let mut folders = Vec::new();
    let mut k = 0usize;
    for plate in names {
        let dir = root.join(plate).join("Images");
        std::fs::create_dir_all(&dir).expect("plate dir");
        for (row, col) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
            for field in 1..=2 {
                let (x0, y0) = ((k % 4) * 128, (k / 4 % 4) * 128);
                k += 1;
                let crop: Vec<f32> = (0..128 * 128)
                    .map(|i| plane.at(x0 + i % 128, y0 + i / 128))
                    .collect();
                let name = format!("r{row:02}c{col:02}f{field:02}p01-ch1sk1fk1fl1.tiff");
                write_tiff(
                    &dir.join(name),
                    128,
                    128,
                    &[OutputPlane::Float(&crop)],
                    1,
                    Calibration::square(0.5),
                )
                .expect("write crop");
            }
        }
        folders.push(dir);
    }
    folders
}

fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = brightseg(args);
    assert!(
        out.status.success(),
        "brightseg {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// find-nuclei on one worker thread (the tests run side by side); must succeed.
fn find_nuclei(model: &Path, input: &Path, out: &Path, extra: &[&str]) {
    find_nuclei_summary(model, input, out, &[&["--jobs", "1"], extra].concat());
}

/// The nuclei find-nuclei finds in the one plane of `file` at `pixel_um` µm per pixel, run
/// alone into `out` (at least 20 in the fields these tests use).
fn nuclei_alone(model: &Path, file: &Path, out: &Path, pixel_um: &str) -> i64 {
    find_nuclei(model, file, out, &["--pixel-size", pixel_um]);
    let (h, r) = read_csv(&out.join("summary.csv"));
    let n = h
        .iter()
        .position(|c| c == "Number of Objects")
        .expect("count");
    let count: i64 = r[0][n].parse().expect("count");
    assert!(count > 20, "{file:?}: {count} nuclei");
    count
}

fn merge(dirs: &[PathBuf], out: &Path) -> std::process::Output {
    let mut args = vec![
        os("merge"),
        os("--naming"),
        os("operetta"),
        os("--out"),
        out.as_os_str(),
    ];
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    brightseg(&args)
}

#[test]
fn sharded_runs_merge_to_exactly_the_single_process_result() {
    let (Some(model), Some(image)) = (shared_model(), data("stardist/img2d.tif")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let plates = make_plates(&root.join("screen"), &image);
    let mut single = Vec::new();
    let mut shards = Vec::new();
    for (p, plate) in plates.iter().enumerate() {
        let out = root.join(format!("single/{p}"));
        find_nuclei(&model, plate, &out, &[]);
        single.push(out);
        for i in 1..=3 {
            let out = root.join(format!("shards/{p}/{i}"));
            find_nuclei(&model, plate, &out, &["--shard", &format!("{i}/3")]);
            shards.push(out);
        }
    }
    let merged_single = root.join("merged-single");
    let merged_shards = root.join("merged-shards");
    assert!(merge(&single, &merged_single).status.success());
    // Shards given in another order change nothing.
    shards.reverse();
    let out = merge(&shards, &merged_shards);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in ["summary.csv", "objects.csv", "wells.csv"] {
        let a = std::fs::read_to_string(merged_single.join(table)).expect("single table");
        let b = std::fs::read_to_string(merged_shards.join(table)).expect("sharded table");
        assert_eq!(a, b, "{table} differs between one process and 3 shards");
    }
    let summary = std::fs::read_to_string(merged_shards.join("summary.csv")).expect("summary");
    let lines: Vec<&str> = summary.lines().collect();
    assert!(
        lines[0].starts_with("Plate,Well,Field,Image,Channel,T,Z,Status"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 16, "one row per image");
    assert!(
        lines[1].starts_with("PlateA,A01,1,r01c01f01p01"),
        "{}",
        lines[1]
    );
    assert!(
        lines[16].starts_with("PlateB,B02,2,r02c02f02p01"),
        "{}",
        lines[16]
    );
    // Every shard had work and each image was done once.
    let per_shard: Vec<usize> = shards
        .iter()
        .map(|d| {
            std::fs::read_to_string(d.join("summary.csv"))
                .expect("shard summary")
                .lines()
                .count()
                - 1
        })
        .collect();
    assert_eq!(per_shard.iter().sum::<usize>(), 16, "{per_shard:?}");
    // wells.csv: 2 plates × 4 wells, 2 fields each, objects summed over the fields; the other
    // 92 wells of each (96-well) plate are listed as having no images.
    let wells = std::fs::read_to_string(merged_shards.join("wells.csv")).expect("wells");
    let all: Vec<Vec<&str>> = wells
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(all.len(), 2 * 96, "{wells}");
    // Plate, Well, T, Z, Fields, Images, Failed Images, Status, Number of Objects, …
    let (empty, rows): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r[7] == "no images");
    assert_eq!(rows.len(), 8, "{wells}");
    assert!(
        empty.iter().all(|r| (r[4], r[5], r[8]) == ("0", "0", "")),
        "{empty:?}"
    );
    let objects = std::fs::read_to_string(merged_shards.join("objects.csv")).expect("objects");
    for r in &rows {
        assert_eq!(
            (r[2], r[3], r[4], r[5], r[6], r[7]),
            ("1", "1", "2", "2", "0", "ok"),
            "{wells}"
        );
        let in_well = objects
            .lines()
            .filter(|l| l.starts_with(&format!("{},{},", r[0], r[1])))
            .count();
        assert_eq!(
            r[8],
            in_well.to_string(),
            "Number of Objects of {} {}",
            r[0],
            r[1]
        );
    }
}

/// A time-lapse plate (each field a 2-frame movie): wells.csv has one row per well and time
/// point whose count is that time point's nuclei (never a sum over time), and the plate map is
/// drawn once per time point.
#[test]
fn a_time_lapse_plate_is_counted_per_well_and_time_point() {
    let (Some(model), Some(image)) = (shared_model(), data("stardist/img2d.tif")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = read_image(&image).expect("read image");
    let plane = img.plane(0, 0, 0);
    let dir = tmp.path().join("Movie/Images");
    std::fs::create_dir_all(&dir).expect("plate dir");
    let crop = |x0: usize, y0: usize| -> Vec<f32> {
        (0..128 * 128)
            .map(|i| plane.at(x0 + i % 128, y0 + i / 128))
            .collect()
    };
    for (k, column) in [1, 2].into_iter().enumerate() {
        // Frame 2 shows a different part of the image, with a different number of nuclei.
        let (t1, t2) = (crop(k * 128, 0), crop(k * 128 + 256, 128));
        write_tiff(
            &dir.join(format!("r02c{column:02}f01p01-ch1sk1fk1fl1.tiff")),
            128,
            128,
            &[OutputPlane::Float(&t1), OutputPlane::Float(&t2)],
            2,
            Calibration::square(0.5),
        )
        .expect("write movie");
    }
    let out = tmp.path().join("out");
    find_nuclei(&model, &dir, &out, &[]);
    let merged = tmp.path().join("merged");
    let run = merge(std::slice::from_ref(&out), &merged);
    assert!(run.status.success(), "{run:?}");
    let (header, summary) = read_csv(&merged.join("summary.csv"));
    let col = |h: &[String], name: &str| h.iter().position(|c| c == name).expect(name);
    let per_plane: Vec<(String, String, String)> = summary
        .iter()
        .map(|r| {
            (
                r[col(&header, "Well")].clone(),
                r[col(&header, "T")].clone(),
                r[col(&header, "Number of Objects")].clone(),
            )
        })
        .collect();
    let (wells_header, wells) = read_csv(&merged.join("wells.csv"));
    let per_well: Vec<(String, String, String)> = wells
        .iter()
        .filter(|r| r[col(&wells_header, "Status")] != "no images")
        .map(|r| {
            (
                r[col(&wells_header, "Well")].clone(),
                r[col(&wells_header, "T")].clone(),
                r[col(&wells_header, "Number of Objects")].clone(),
            )
        })
        .collect();
    assert_eq!(per_well.len(), 4, "2 wells × 2 time points: {per_well:?}");
    assert_eq!(
        per_well, per_plane,
        "one field per well: each row is its plane's count"
    );
    assert!(
        per_well[0].2 != per_well[1].2 || per_well[2].2 != per_well[3].2,
        "the frames differ, so the counts should: {per_well:?}"
    );
    for name in [
        "Movie_t1.png",
        "Movie_t2.png",
        "Movie_t1.svg",
        "Movie_t2.svg",
    ] {
        assert!(merged.join("plate-maps").join(name).is_file(), "{name}");
    }
    let svg = std::fs::read_to_string(merged.join("plate-maps/Movie_t2.svg")).expect("svg");
    assert!(
        svg.contains(&format!("<title>B2: {}</title>", per_well[3].2)),
        "{svg}"
    );
    // An image whose name the naming scheme does not match: its rows have no plate or well,
    // the merge still succeeds with a warning, and the maps are drawn without it.
    std::fs::copy(
        dir.join("r02c01f01p01-ch1sk1fk1fl1.tiff"),
        dir.join("stray.tif"),
    )
    .expect("copy");
    let out = tmp.path().join("out-stray");
    find_nuclei(&model, &dir, &out, &[]);
    let merged = tmp.path().join("merged-stray");
    let run = merge(std::slice::from_ref(&out), &merged);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("did not match --naming") && stderr.contains("left off the plate maps"),
        "{stderr}"
    );
    assert!(merged.join("plate-maps/Movie_t2.svg").is_file());

    // A Z-stack: well B01 as a file per plane (Harmony's p01, p02), well B02 as one file of two
    // planes. Each plane holds the same nuclei again, so each is a row of its own in wells.csv,
    // never a sum.
    let dir = tmp.path().join("Stack/Images");
    std::fs::create_dir_all(&dir).expect("plate dir");
    let (z1, z2) = (crop(0, 0), crop(256, 128));
    for (p, plane) in [(1, &z1), (2, &z2)] {
        write_tiff(
            &dir.join(format!("r02c01f01p{p:02}-ch1sk1fk1fl1.tiff")),
            128,
            128,
            &[OutputPlane::Float(plane)],
            1,
            Calibration::square(0.5),
        )
        .expect("write plane");
    }
    write_tiff(
        &dir.join("r02c02f01p01-ch1sk1fk1fl1.tiff"),
        128,
        128,
        &[OutputPlane::Float(&z1), OutputPlane::Float(&z2)],
        1,
        Calibration::square(0.5),
    )
    .expect("write stack");
    let out = tmp.path().join("out-stack");
    find_nuclei(&model, &dir, &out, &[]);
    let merged = tmp.path().join("merged-stack");
    let run = merge(std::slice::from_ref(&out), &merged);
    assert!(run.status.success(), "{run:?}");
    let (wells_header, wells) = read_csv(&merged.join("wells.csv"));
    let per_well: Vec<Vec<String>> = wells
        .iter()
        .filter(|r| r[col(&wells_header, "Status")] != "no images")
        .map(|r| {
            ["Well", "T", "Z", "Fields", "Number of Objects"]
                .iter()
                .map(|c| r[col(&wells_header, c)].clone())
                .collect()
        })
        .collect();
    let (n1, n2) = (per_well[0][4].as_str(), per_well[1][4].as_str());
    assert_ne!(n1, n2, "the planes differ: {per_well:?}");
    let expected: Vec<Vec<String>> = [
        ("B01", "1", n1),
        ("B01", "2", n2),
        ("B02", "1", n1),
        ("B02", "2", n2),
    ]
    .iter()
    .map(|(well, z, n)| [*well, "1", *z, "1", *n].map(str::to_owned).to_vec())
    .collect();
    assert_eq!(
        per_well, expected,
        "one row per plane, the same counts whether the planes are files or one stack"
    );
    for name in ["Stack_z1.svg", "Stack_z2.svg"] {
        assert!(merged.join("plate-maps").join(name).is_file(), "{name}");
    }
}

#[test]
fn merge_refuses_missing_duplicated_and_mixed_shards() {
    let (Some(model), Some(image)) = (shared_model(), data("stardist/img2d.tif")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let plates = make_plates(&root.join("screen"), &image);
    let plate = &plates[0];
    let s1 = root.join("s1");
    let s2 = root.join("s2");
    find_nuclei(&model, plate, &s1, &["--shard", "1/2"]);
    find_nuclei(&model, plate, &s2, &["--shard", "2/2"]);
    let out = root.join("merged");
    let missing = merge(std::slice::from_ref(&s1), &out);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("in none of the given folders"));
    let twice = merge(&[s1.clone(), s2.clone(), s1.clone()], &out);
    assert_eq!(
        twice.status.code(),
        Some(2),
        "a refusal, not a partial merge"
    );
    assert!(String::from_utf8_lossy(&twice.stderr).contains("processed twice"));
    let s2b = root.join("s2b");
    find_nuclei(
        &model,
        plate,
        &s2b,
        &["--shard", "2/2", "--threshold", "0.7"],
    );
    let mixed = merge(&[s1.clone(), s2b.clone()], &out);
    assert_eq!(
        mixed.status.code(),
        Some(2),
        "a refusal, not a partial merge"
    );
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("mixed settings"));
    for table in ["summary.csv", "objects.csv", "wells.csv"] {
        assert!(!out.join(table).exists(), "a refused merge wrote {table}");
    }
    // Rerunning shard 1 into its folder with one setting given.
    let rerun_s1 = |setting: &str, value: &str| {
        brightseg(&[
            os("find-nuclei"),
            plate.as_os_str(),
            os("--model"),
            model.as_os_str(),
            os("--out"),
            s1.as_os_str(),
            os("--shard"),
            os("1/2"),
            os(setting),
            os(value),
        ])
    };
    // Asking for the model's own split depth is the same setting as leaving it to the model.
    let same_depth = rerun_s1("--split-depth", "0.5");
    assert!(
        same_depth.status.success(),
        "{}",
        String::from_utf8_lossy(&same_depth.stderr)
    );
    // Rerunning into a folder with other settings is refused unless --overwrite.
    let rerun = rerun_s1("--min-size", "30");
    assert_eq!(rerun.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("other settings"));
    assert!(merge(&[s1, s2], &out).status.success());
}

#[test]
fn the_snakemake_workflow_gives_the_single_process_result() {
    let (Some(model), Some(image)) = (shared_model(), data("stardist/img2d.tif")) else {
        return;
    };
    let Some(snakemake) = require(
        repo_root().join(".venv/bin/snakemake"),
        "create it with scripts/setup-test-env.sh",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    // A plate folder whose name would run a command if it ever reached a shell unquoted.
    let hostile = "Plate B'$(touch PWNED)'`touch PWNED`;touch PWNED";
    let plates = make_named_plates(&root.join("screen"), &image, ["PlateA", hostile]);
    let results = root.join("results");
    let out = std::process::Command::new(&snakemake)
        .arg("-s")
        .arg(repo_root().join("workflows/Snakefile"))
        .args(["--cores", "2", "--quiet", "--directory"])
        .arg(root)
        .arg("--config")
        .arg(format!("screen={}", root.join("screen").display()))
        .arg(format!("model={}", model.display()))
        .arg(format!("out={}", results.display()))
        .arg(format!("brightseg={}", env!("CARGO_BIN_EXE_brightseg")))
        .args(["shards=3", "threads_per_job=1", "min_size_um2=10"])
        .env_remove("BRIGHTSEG_MODEL_PATH")
        .output()
        .expect("run snakemake");
    assert!(
        out.status.success(),
        "snakemake failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for dir in [
        root.to_path_buf(),
        repo_root(),
        std::env::current_dir().expect("cwd"),
    ] {
        assert!(
            !dir.join("PWNED").exists(),
            "a folder name ran as a command"
        );
    }
    // A brightseg that is not there: one line saying so, no traceback.
    let missing = std::process::Command::new(&snakemake)
        .arg("-s")
        .arg(repo_root().join("workflows/Snakefile"))
        .args(["--cores", "1", "--dry-run", "--directory"])
        .arg(root)
        .arg("--config")
        .arg(format!("screen={}", root.join("screen").display()))
        .arg("brightseg=no-such-brightseg")
        .output()
        .expect("run snakemake");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("brightseg not found: 'no-such-brightseg' is not a program on PATH")
            && !stderr.contains("Traceback"),
        "{stderr}"
    );
    // The shipped Slurm profile parses and plans the same jobs, each with a runtime (no
    // cluster here: a dry run).
    let planned = std::process::Command::new(&snakemake)
        .arg("-s")
        .arg(repo_root().join("workflows/Snakefile"))
        .arg("--profile")
        .arg(repo_root().join("workflows/profiles/slurm"))
        .args(["--dry-run", "--forceall", "--directory"])
        .arg(root)
        .arg("--config")
        .arg(format!("screen={}", root.join("screen").display()))
        .arg(format!("model={}", model.display()))
        .arg(format!("out={}", results.display()))
        .arg(format!("brightseg={}", env!("CARGO_BIN_EXE_brightseg")))
        .args(["shards=3", "threads_per_job=1"])
        .output()
        .expect("run snakemake");
    let stdout = String::from_utf8_lossy(&planned.stdout);
    assert!(
        planned.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    assert!(stdout.contains("find_nuclei        6"), "{stdout}");
    assert!(
        stdout.contains("runtime=60"),
        "the merge's own runtime: {stdout}"
    );
    // The same screen in one process per plate, merged the same way.
    let mut single = Vec::new();
    for (p, plate) in plates.iter().enumerate() {
        let dir = root.join(format!("single/{p}"));
        find_nuclei(
            &model,
            plate,
            &dir,
            &["--threshold", "0.5", "--min-size", "10"],
        );
        single.push(dir);
    }
    let merged_single = root.join("merged-single");
    assert!(merge(&single, &merged_single).status.success());
    for table in ["summary.csv", "objects.csv", "wells.csv"] {
        let a = std::fs::read_to_string(merged_single.join(table)).expect("single");
        let b = std::fs::read_to_string(results.join("merged").join(table)).expect("workflow");
        assert_eq!(a, b, "{table}: workflow and single process differ");
    }
    // The workflow declares and keeps the plate maps: the same pictures, one pair per plate,
    // the hostile plate name made a safe file name.
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("plate maps")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            // Snakemake marks a directory output with a hidden .snakemake_timestamp.
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let maps = results.join("merged/plate-maps");
    let names = listing(&maps);
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains(['$', '`', '\'', ';', ' '])),
        "{names:?}"
    );
    assert_eq!(names, listing(&merged_single.join("plate-maps")));
    for name in &names {
        assert_eq!(
            std::fs::read(maps.join(name)).expect("workflow"),
            std::fs::read(merged_single.join("plate-maps").join(name)).expect("single"),
            "{name}"
        );
    }
}

/// Band-by-band processing (for planes too large to hold whole) writes what whole-plane
/// processing writes, byte for byte: the ndev time series with bands of 20 rows, so most
/// nuclei (20–40 rows tall) cross a band edge, as it is (uncalibrated) and at 0.5 µm per pixel,
/// resampled band by band for the model's 0.619 µm.
#[test]
fn band_by_band_equals_whole_plane() {
    let Some(image) = data("ndev/scratch-assay-labeled-10T-2Ch.tiff") else {
        return;
    };
    let model = repo_root().join("models/nuclei-brightfield");
    let dir = tempfile::tempdir().expect("tempdir");
    for (case, calibration) in [("as-is", &[][..]), ("0.5um", &["--pixel-size", "0.5"][..])] {
        let (whole, bands) = (
            dir.path().join(format!("whole-{case}")),
            dir.path().join(format!("bands-{case}")),
        );
        let common = [
            &["--channel", "oblique", "--probability", "--overlay"][..],
            calibration,
        ]
        .concat();
        find_nuclei(
            &model,
            &image,
            &whole,
            &[&common[..], &["--band-rows", "0"]].concat(),
        );
        find_nuclei(
            &model,
            &image,
            &bands,
            &[&common[..], &["--band-rows", "20"]].concat(),
        );
        let stem = "scratch-assay-labeled-10T-2Ch";
        for file in [
            "_labels.tif",
            "_probability.tif",
            "_summary.csv",
            "_objects.csv",
        ] {
            let a = std::fs::read(whole.join(format!("{stem}{file}"))).expect("whole output");
            let b = std::fs::read(bands.join(format!("{stem}{file}"))).expect("banded output");
            assert!(
                a == b,
                "{case}: {file} differs between whole-plane and banded runs"
            );
        }
        for t in [1, 10] {
            let png = format!("{stem}_overlay_t{t}_z1.png");
            let a = read_image(&whole.join(&png)).expect("whole overlay");
            let b = read_image(&bands.join(&png)).expect("banded overlay");
            assert_eq!(a.channels(), 3);
            for c in 0..3 {
                assert!(
                    a.plane(c, 0, 0) == b.plane(c, 0, 0),
                    "{case}: {png} differs in channel {c}"
                );
            }
        }
        let objects =
            std::fs::read_to_string(whole.join(format!("{stem}_objects.csv"))).expect("objects");
        assert!(
            objects.lines().count() > 400,
            "{case}: {} nuclei in 10 frames",
            objects.lines().count() - 1
        );
    }
}

/// A Harmony / Opera Phenix export as the instruments write it: `Images/Index.idx.xml` and one
/// plain TIFF (no calibration, written by tifffile) per field and channel. `find-nuclei PLATE
/// --channel Brightfield` segments the brightfield files only, at the index's pixel size (0.5
/// µm, so resampled for the model), and `merge --naming operetta` counts in each well exactly
/// the nuclei of its brightfield fields run one by one at that pixel size.
#[test]
fn a_harmony_export_is_segmented_on_its_named_channel_at_its_pixel_size() {
    let (Some(ndev), Some(py)) = (data("ndev/scratch-assay-labeled-10T-2Ch.tiff"), python()) else {
        return;
    };
    let model = repo_root().join("models/nuclei-brightfield");
    let series = read_image(&ndev).expect("ndev");
    let channels = [
        series.resolve_channel(Some("oblique")).expect("oblique"),
        series.resolve_channel(Some("H3342")).expect("Hoechst"),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let images = tmp.path().join("Screen-7").join("Images");
    std::fs::create_dir_all(&images).expect("export folder");
    // (row, column, field): wells B02 and C04, two fields each, a time point of ndev each.
    let fields = [(2, 2, 1), (2, 2, 2), (3, 4, 1), (3, 4, 2)];
    let mut entries = String::new();
    for (t, &(row, column, field)) in fields.iter().enumerate() {
        for (c, &channel) in channels.iter().enumerate() {
            let plane = series.plane(channel, 0, t);
            let (w, h) = (plane.width(), plane.height());
            let values: Vec<f32> = (0..w * h).map(|i| plane.value(i)).collect();
            let npy = tmp.path().join("field.npy");
            write_npy(&npy, &[h, w], &values);
            let name = format!(
                "r{row:02}c{column:02}f{field:02}p01-ch{}sk1fk1fl1.tiff",
                c + 1
            );
            let tif = images.join(&name);
            oracle(&py, &[os("plain"), npy.as_os_str(), tif.as_os_str()]);
            entries += &format!(
                "<Image Version=\"1\"><id>{row:02}{column:02}K1F{field}P1R{ch}</id>\
                 <URL>{name}</URL><Row>{row}</Row><Col>{column}</Col><FieldID>{field}</FieldID>\
                 <PlaneID>1</PlaneID><TimepointID>0</TimepointID><ChannelID>{ch}</ChannelID>\
                 </Image>\n",
                ch = c + 1
            );
        }
    }
    // A field that was not acquired: no file.
    entries += "<Image Version=\"1\"><id>0404K1F1P1R1</id><URL></URL><Row>4</Row><Col>4</Col>\
                <FieldID>1</FieldID><PlaneID>1</PlaneID><TimepointID>0</TimepointID>\
                <ChannelID>1</ChannelID></Image>\n";
    let index = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <EvaluationInputData xmlns=\"http://www.perkinelmer.com/PEHH/HarmonyV6\" Version=\"2\">\n\
         <Plates><Plate><PlateID>7</PlateID><Name>Screen-7</Name><PlateRows>16</PlateRows>\
         <PlateColumns>24</PlateColumns></Plate></Plates>\n\
         <Maps><Map>\
         <Entry ChannelID=\"1\"><ChannelName>Brightfield</ChannelName>\
         <ImageResolutionX Unit=\"m\">5E-07</ImageResolutionX>\
         <ImageResolutionY Unit=\"m\">5E-07</ImageResolutionY></Entry>\
         <Entry ChannelID=\"2\"><ChannelName>HOECHST 33342</ChannelName>\
         <ImageResolutionX Unit=\"m\">5E-07</ImageResolutionX>\
         <ImageResolutionY Unit=\"m\">5E-07</ImageResolutionY></Entry>\
         </Map></Maps>\n<Images>\n{entries}</Images>\n</EvaluationInputData>\n"
    );
    std::fs::write(images.join("Index.idx.xml"), index).expect("index");
    let plate = tmp.path().join("Screen-7");
    let out = tmp.path().join("out");
    find_nuclei(&model, &plate, &out, &["--channel", "Brightfield"]);
    let (header, summary) = read_csv(&out.join("summary.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let images_run: Vec<&str> = summary.iter().map(|r| r[col("Image")].as_str()).collect();
    assert_eq!(
        images_run,
        [
            "r02c02f01p01-ch1sk1fk1fl1.tiff",
            "r02c02f02p01-ch1sk1fk1fl1.tiff",
            "r03c04f01p01-ch1sk1fk1fl1.tiff",
            "r03c04f02p01-ch1sk1fk1fl1.tiff"
        ],
        "the brightfield files only"
    );
    // The index's pixel size, not the uncalibrated files' 1 µm.
    for row in &summary {
        assert_eq!(row[col("Pixel Size [µm]")], "0.5", "{row:?}");
        assert_eq!(row[col("Channel")], "1 (Brightfield)", "{row:?}");
    }
    // Each brightfield field run alone at that pixel size.
    let mut expected = std::collections::BTreeMap::<&str, i64>::new();
    for (k, &(row, column, field)) in fields.iter().enumerate() {
        let file = images.join(format!(
            "r{row:02}c{column:02}f{field:02}p01-ch1sk1fk1fl1.tiff"
        ));
        let count = nuclei_alone(&model, &file, &tmp.path().join(format!("alone{k}")), "0.5");
        *expected
            .entry(if row == 2 { "B02" } else { "C04" })
            .or_default() += count;
    }
    let merged = tmp.path().join("merged");
    let merged_run = merge(std::slice::from_ref(&out), &merged);
    assert!(
        merged_run.status.success(),
        "{}",
        String::from_utf8_lossy(&merged_run.stderr)
    );
    let (header, wells) = read_csv(&merged.join("wells.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let counted: std::collections::BTreeMap<&str, i64> = wells
        .iter()
        .filter(|r| r[col("Status")] != "no images")
        .map(|r| {
            assert_eq!(r[col("Plate")], "Screen-7");
            assert_eq!(r[col("Fields")], "2");
            let n = r[col("Number of Objects")].parse().expect("count");
            (r[col("Well")].as_str(), n)
        })
        .collect();
    assert_eq!(counted, expected);
    // The index's 384-well layout, although every well imaged lies within a 96-well plate's.
    assert_eq!(wells.len(), 384, "one row per well of the plate");
    // For OMERO: the imaged wells and the brightfield fields as `omero metadata populate`
    // reads them (a `# header` of column types, queryable names), and each field's labels.
    let omero = tmp.path().join("omero");
    brightseg_ok(&[
        os("export"),
        os("omero"),
        merged.as_os_str(),
        os("--out"),
        omero.as_os_str(),
    ]);
    let text = std::fs::read_to_string(omero.join("omero-wells.csv")).expect("wells");
    let mut lines = text.lines();
    let types = lines.next().expect("types");
    assert!(
        types.starts_with("# header plate,well,l,l,l,l,l,s,l,d,"),
        "{types}"
    );
    let names: Vec<&str> = lines.next().expect("names").split(',').collect();
    assert_eq!(
        names[..9],
        [
            "Plate",
            "Well",
            "T",
            "Z",
            "Fields",
            "Images",
            "Failed_Images",
            "Status",
            "Number_of_Objects"
        ]
    );
    assert!(names.contains(&"Size_um2_Mean"), "{names:?}");
    assert_eq!(types.split(',').count(), names.len());
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let exported: std::collections::BTreeMap<&str, i64> = rows
        .iter()
        .map(|r| (r[1], r[8].parse().expect("count")))
        .collect();
    assert_eq!(
        exported, expected,
        "the imaged wells only, with their counts"
    );
    let (header, labels) = read_csv(&omero.join("omero-labels.csv"));
    assert_eq!(header, ["Plate", "Well", "Field", "Image", "Labels"]);
    assert_eq!(labels.len(), 4, "one label image per brightfield field");
    for row in &labels {
        assert!(Path::new(&row[4]).is_file(), "{row:?}");
    }
    let images = std::fs::read_to_string(omero.join("omero-images.csv")).expect("images");
    assert!(
        images.starts_with("# header plate,well,l,s,s,l,l,s,"),
        "{images}"
    );
    assert_eq!(images.lines().count(), 2 + 4);
    // Without a channel, or with one the export does not have: the channels are listed.
    for extra in [&[][..], &["--channel", "Phase"][..]] {
        let mut args = vec![
            os("find-nuclei"),
            plate.as_os_str(),
            os("--model"),
            model.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ];
        args.extend(extra.iter().map(|a| os(a)));
        let failed = brightseg(&args);
        assert!(!failed.status.success());
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains("1 (Brightfield), 2 (HOECHST 33342)"),
            "{stderr}"
        );
    }
}

/// A MetaXpress plate as ImageXpress writes it: `Plate_0042.HTD` (a 384-well plate, wavelength 1
/// "Transmitted Light", 2 "DAPI"), `TimePoint_N/` folders, one plain TIFF per well, site and
/// wavelength (`Plate_0042_B03_s1_w1.tif`) and thumbnails. `find-nuclei PLATE --naming
/// metaxpress --channel "transmitted light"` segments the w1 files only; `merge --naming
/// metaxpress` counts each well per time point (from the folder) exactly as the w1 files run one
/// by one, lays it out on 384 wells, and refuses a run that segmented both wavelengths (their
/// nuclei would be counted twice, as they were before).
#[test]
fn a_metaxpress_plate_is_segmented_on_its_named_wavelength_per_time_point() {
    let (Some(ndev), Some(py)) = (data("ndev/scratch-assay-labeled-10T-2Ch.tiff"), python()) else {
        return;
    };
    let model = repo_root().join("models/nuclei-brightfield");
    let series = read_image(&ndev).expect("ndev");
    let channels = [
        series.resolve_channel(Some("oblique")).expect("oblique"),
        series.resolve_channel(Some("H3342")).expect("Hoechst"),
    ];
    let pixel = format!("{}", series.calibration.pixel_width_um.expect("calibrated"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let plate = tmp.path().join("Plate_0042");
    std::fs::create_dir_all(&plate).expect("plate folder");
    std::fs::write(
        plate.join("Plate_0042.HTD"),
        "\"HTSInfoFile\", Version 1.0\r\n\"TimePoints\", 2\r\n\"XWells\", 24\r\n\
         \"YWells\", 16\r\n\"Sites\", FALSE\r\n\"Waves\", TRUE\r\n\"NWavelengths\", 2\r\n\
         \"WaveName1\", \"Transmitted Light\"\r\n\"WaveName2\", \"DAPI\"\r\n\"EndFile\"\r\n",
    )
    .expect("HTD");
    // (time point, well): wells B03 and C05 at two time points, a frame of ndev each.
    let files = [(1, "B03"), (1, "C05"), (2, "B03"), (2, "C05")];
    for (frame, &(time, well)) in files.iter().enumerate() {
        let folder = plate.join(format!("TimePoint_{time}"));
        std::fs::create_dir_all(&folder).expect("time point folder");
        for (c, &channel) in channels.iter().enumerate() {
            let p = series.plane(channel, 0, frame);
            let (w, h) = (p.width(), p.height());
            let values: Vec<f32> = (0..w * h).map(|i| p.value(i)).collect();
            let npy = tmp.path().join("site.npy");
            write_npy(&npy, &[h, w], &values);
            for suffix in ["", "_thumb"] {
                let tif = folder.join(format!("Plate_0042_{well}_s1_w{}{suffix}.tif", c + 1));
                oracle(&py, &[os("plain"), npy.as_os_str(), tif.as_os_str()]);
            }
        }
    }
    let out = tmp.path().join("out");
    let naming = ["--naming", "metaxpress", "--pixel-size", &pixel];
    let mut extra = naming.to_vec();
    extra.extend(["--channel", "transmitted light"]);
    // The plate folder's images are in its time point folders: each is given.
    let time_points = [plate.join("TimePoint_1"), plate.join("TimePoint_2")];
    let mut args = vec![os("find-nuclei")];
    args.extend(time_points.iter().map(|t| t.as_os_str()));
    args.extend([
        os("--model"),
        model.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    args.extend([os("--quiet"), os("--jobs"), os("1")]);
    args.extend(extra.iter().map(|a| os(a)));
    run_ok(&args);
    let (header, summary) = read_csv(&out.join("summary.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let images_run: Vec<&str> = summary.iter().map(|r| r[col("Image")].as_str()).collect();
    assert_eq!(
        images_run,
        [
            "TimePoint_1/Plate_0042_B03_s1_w1.tif",
            "TimePoint_1/Plate_0042_C05_s1_w1.tif",
            "TimePoint_2/Plate_0042_B03_s1_w1.tif",
            "TimePoint_2/Plate_0042_C05_s1_w1.tif"
        ],
        "the transmitted-light files only, no thumbnails, named with their time point folder"
    );
    for row in &summary {
        assert_eq!(row[col("Channel")], "1 (Transmitted Light)", "{row:?}");
    }
    // Each w1 file run alone.
    let mut expected = std::collections::BTreeMap::<(String, String), i64>::new();
    for (k, &(time, well)) in files.iter().enumerate() {
        let file = plate
            .join(format!("TimePoint_{time}"))
            .join(format!("Plate_0042_{well}_s1_w1.tif"));
        let count = nuclei_alone(&model, &file, &tmp.path().join(format!("alone{k}")), &pixel);
        expected.insert((well.to_owned(), time.to_string()), count);
    }
    let merged = tmp.path().join("merged");
    let merge_args = |dir: &Path, into: &Path| -> std::process::Output {
        brightseg(&[
            os("merge"),
            os("--naming"),
            os("metaxpress"),
            os("--out"),
            into.as_os_str(),
            dir.as_os_str(),
        ])
    };
    let merged_run = merge_args(&out, &merged);
    assert!(
        merged_run.status.success(),
        "{}",
        String::from_utf8_lossy(&merged_run.stderr)
    );
    let (header, wells) = read_csv(&merged.join("wells.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let counted: std::collections::BTreeMap<(String, String), i64> = wells
        .iter()
        .filter(|r| r[col("Status")] != "no images")
        .map(|r| {
            assert_eq!(r[col("Plate")], "Plate_0042");
            assert_eq!(r[col("Fields")], "1", "{r:?}");
            let n = r[col("Number of Objects")].parse().expect("count");
            ((r[col("Well")].clone(), r[col("T")].clone()), n)
        })
        .collect();
    assert_eq!(counted, expected, "per well and time point");
    assert_eq!(
        wells.len(),
        384 * 2,
        "every well of the .HTD's plate, per time point"
    );
    // Without --channel the wavelengths are listed by name.
    let refused_out = tmp.path().join("refused");
    let listing = [
        os("find-nuclei"),
        time_points[0].as_os_str(),
        os("--model"),
        model.as_os_str(),
        os("--naming"),
        os("metaxpress"),
        os("--out"),
        refused_out.as_os_str(),
    ];
    let refused = brightseg(&listing);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("1 (Transmitted Light), 2 (DAPI)"),
        "{stderr}"
    );
    // Both wavelengths segmented (no --naming at find-nuclei): merge refuses to pool them.
    let both = tmp.path().join("both");
    find_nuclei(&model, &time_points[0], &both, &["--pixel-size", &pixel]);
    let pooled = merge_args(&both, &tmp.path().join("pooled"));
    assert!(!pooled.status.success());
    let stderr = String::from_utf8_lossy(&pooled.stderr);
    assert!(stderr.contains("several channels"), "{stderr}");
}

/// A damaged image in a plate is a marked row, not a lost merge: `merge` writes every table,
/// flags the image's well in wells.csv (Failed Images) and says so with exit code 1, which the
/// Snakemake workflow accepts so that the tables stay.
#[test]
fn a_damaged_image_is_flagged_in_its_well_and_the_tables_are_written() {
    let (Some(model), Some(image)) = (shared_model(), data("stardist/img2d.tif")) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let plates = make_named_plates(tmp.path(), &image, ["PlateA", "PlateB"]);
    // Truncate well A02's first field (PlateA).
    let damaged = plates[0].join("r01c02f01p01-ch1sk1fk1fl1.tiff");
    let bytes = std::fs::read(&damaged).expect("read");
    std::fs::write(&damaged, &bytes[..bytes.len() / 3]).expect("truncate");
    let out = tmp.path().join("out");
    let run = brightseg(&[
        os("find-nuclei"),
        plates[0].as_os_str(),
        os("--model"),
        model.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("--quiet"),
    ]);
    assert_eq!(run.status.code(), Some(1), "one image failed");
    let merged = tmp.path().join("merged");
    let merging = merge(std::slice::from_ref(&out), &merged);
    assert_eq!(merging.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&merging.stderr);
    assert!(stderr.contains("1 failed plane(s)"), "{stderr}");
    let wells = std::fs::read_to_string(merged.join("wells.csv")).expect("wells.csv written");
    let mut lines = wells.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("Plate,Well,T,Z,Fields,Images,Failed Images,Status,")),
        "{wells}"
    );
    let failed: Vec<(String, String)> = lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|cells| cells[7] != "no images")
        .map(|cells| (cells[1].to_owned(), cells[6].to_owned()))
        .collect();
    assert_eq!(
        failed,
        [
            ("A01".to_owned(), "0".to_owned()),
            ("A02".to_owned(), "1".to_owned()),
            ("B01".to_owned(), "0".to_owned()),
            ("B02".to_owned(), "0".to_owned())
        ]
    );
    for table in ["summary.csv", "objects.csv"] {
        assert!(merged.join(table).is_file(), "{table} written");
    }
    // The plate map: PlateA on a 96-well layout, A2 crossed with the count of its good field,
    // wells without images grey; its PNG is a picture brightseg (and any viewer) reads back.
    let svg = std::fs::read_to_string(merged.join("plate-maps/PlateA.svg")).expect("plate map");
    assert_eq!(svg.matches("<title>").count(), 96, "one tooltip per well");
    assert!(svg.contains("1 failed image(s)</title>"), "{svg}");
    assert!(svg.contains("<title>H12: no images</title>"), "{svg}");
    let png = brightseg::io::read_image(&merged.join("plate-maps/PlateA.png")).expect("png");
    assert_eq!(png.channels(), 3);
    // `plate-map` draws another column of the same table, on the layout asked for.
    let out = tmp.path().join("maps");
    let drawn = brightseg(&[
        os("plate-map"),
        merged.join("wells.csv").as_os_str(),
        os("--column"),
        os("Size [µm²] Mean"),
        os("--plate-wells"),
        os("384"),
        os("--out"),
        out.as_os_str(),
    ]);
    assert!(drawn.status.success(), "{drawn:?}");
    let svg = std::fs::read_to_string(out.join("PlateA.svg")).expect("plate map");
    assert_eq!(svg.matches("<title>").count(), 384);
    assert!(svg.contains("PlateA - Size [µm²] Mean"), "{svg}");
    let refused = brightseg(&[
        os("plate-map"),
        merged.join("wells.csv").as_os_str(),
        os("--column"),
        os("Nuclei"),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no column \"Nuclei\""), "{stderr}");
}
