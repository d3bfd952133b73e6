//! Labelling, distance transform, watershed and measurements against scikit-image and SciPy on
//! real nucleus masks (StarDist's img2d ground truth).

use std::path::Path;

use brightseg::image::{PixelData, Plane};
use brightseg::measure::measure_objects;
use brightseg::objects::{
    distance_transform, h_maxima_markers, label_components, watershed, Labels,
};

use crate::util::*;

struct Case {
    mask: Vec<bool>,
    w: usize,
    h: usize,
    tmp: tempfile::TempDir,
}

fn real_mask() -> Option<Case> {
    let path = data("stardist/mask2d.tif")?;
    let image = brightseg::io::read_image(&path).expect("read mask");
    let plane = image.plane(0, 0, 0);
    let (w, h) = (plane.width(), plane.height());
    let mask = (0..w * h).map(|i| plane.value(i) > 0.0).collect();
    Some(Case {
        mask,
        w,
        h,
        tmp: tempfile::tempdir().expect("tempdir"),
    })
}

impl Case {
    fn save_mask(&self) -> std::path::PathBuf {
        let p = self.tmp.path().join("mask.npy");
        let m: Vec<u32> = self.mask.iter().map(|&b| u32::from(b)).collect();
        write_npy(&p, &[self.h, self.w], &m);
        p
    }
}

#[test]
fn connected_components_equal_skimage_label() {
    let (Some(case), Some(py)) = (real_mask(), python()) else {
        return;
    };
    let mask = case.save_mask();
    let out = case.tmp.path().join("labels.npy");
    oracle(&py, &[os("label"), mask.as_os_str(), out.as_os_str()]);
    let (_, expected) = read_npy::<u32>(&out);
    let ours = label_components(&case.mask, case.w, case.h, true);
    println!("{} components", ours.count);
    assert!(ours.count > 50);
    assert_eq!(ours.data, expected, "same labels, same numbering");
}

#[test]
fn distance_transform_equals_scipy() {
    let (Some(case), Some(py)) = (real_mask(), python()) else {
        return;
    };
    let mask = case.save_mask();
    let out = case.tmp.path().join("edt.npy");
    oracle(&py, &[os("edt"), mask.as_os_str(), out.as_os_str()]);
    let (_, expected) = read_npy::<f32>(&out);
    let ours = distance_transform(&case.mask, case.w, case.h);
    // SciPy treats pixels outside the image as foreground too; compare away from the border.
    let mut worst = 0.0f32;
    for y in 0..case.h {
        for x in 0..case.w {
            let i = y * case.w + x;
            if ours[i].is_finite()
                && expected[i] < x.min(y).min(case.w - 1 - x).min(case.h - 1 - y) as f32
            {
                worst = worst.max((ours[i] - expected[i]).abs());
            }
        }
    }
    assert!(worst < 1e-4, "max difference {worst}");
}

#[test]
fn watershed_split_agrees_with_skimage_given_the_same_markers() {
    let (Some(case), Some(py)) = (real_mask(), python()) else {
        return;
    };
    let dist = distance_transform(&case.mask, case.w, case.h);
    let markers = h_maxima_markers(&dist, &case.mask, case.w, case.h, 2.0);
    let neg: Vec<f32> = dist
        .iter()
        .map(|d| if d.is_finite() { -d } else { 0.0 })
        .collect();
    let ours = watershed(&neg, &markers.data, &case.mask, case.w, case.h);
    let p = |n: &str| case.tmp.path().join(n);
    write_npy(&p("image.npy"), &[case.h, case.w], &neg);
    write_npy(&p("markers.npy"), &[case.h, case.w], &markers.data);
    let mask = case.save_mask();
    oracle(
        &py,
        &[
            os("watershed"),
            p("image.npy").as_os_str(),
            p("markers.npy").as_os_str(),
            mask.as_os_str(),
            p("ws.npy").as_os_str(),
        ],
    );
    let (_, expected) = read_npy::<u32>(&p("ws.npy"));
    let fg = case.mask.iter().filter(|&&m| m).count();
    let same = ours
        .iter()
        .zip(&expected)
        .zip(&case.mask)
        .filter(|((a, b), &m)| m && a == b)
        .count();
    let agreement = same as f64 / fg as f64;
    println!(
        "{} markers; watershed agrees with skimage on {:.3} % of foreground",
        markers.count,
        100.0 * agreement
    );
    assert!(markers.count > 100, "touching nuclei give extra markers");
    assert!(agreement > 0.995, "{agreement}");
}

#[test]
fn areas_centroids_and_boxes_equal_skimage_regionprops() {
    let (Some(case), Some(py)) = (real_mask(), python()) else {
        return;
    };
    let labels: Labels = {
        let image =
            brightseg::io::read_image(&data("stardist/mask2d.tif").expect("mask")).expect("read");
        let plane = image.plane(0, 0, 0);
        let raw: Vec<u32> = (0..case.w * case.h)
            .map(|i| plane.value(i) as u32)
            .collect();
        let count = raw.iter().copied().max().unwrap_or(0) as usize;
        Labels {
            width: case.w,
            height: case.h,
            data: raw,
            count,
        }
    };
    let lp = case.tmp.path().join("labels.npy");
    write_npy(&lp, &[case.h, case.w], &labels.data);
    let out = case.tmp.path().join("props.npy");
    oracle(&py, &[os("regionprops"), lp.as_os_str(), out.as_os_str()]);
    let (shape, props) = read_npy::<f64>(&out);
    let prob = vec![0.5f32; case.w * case.h];
    let plane = Plane::new(case.w, case.h, PixelData::U8(vec![1; case.w * case.h])).expect("plane");
    let ours = measure_objects(&labels, &prob, &plane, 0.5, 0.5);
    assert_eq!(ours.len(), shape[0]);
    for (o, row) in ours.iter().zip(props.chunks(8)) {
        assert_eq!(f64::from(o.id), row[0]);
        assert_eq!(o.area_px as f64, row[1]);
        assert_eq!(o.area_um2, row[1] * 0.25);
        assert!((o.centroid_y_um / 0.5 - 0.5 - row[2]).abs() < 1e-9);
        assert!((o.centroid_x_um / 0.5 - 0.5 - row[3]).abs() < 1e-9);
        assert_eq!(
            [
                o.bbox_y,
                o.bbox_x,
                o.bbox_y + o.bbox_height,
                o.bbox_x + o.bbox_width
            ]
            .map(|v| v as f64),
            [row[4], row[5], row[6], row[7]]
        );
    }
}

/// Multi-sample TIFF pages (brightfield, Hoechst, PI, … in one page, as `tifffile` and many
/// instruments write them) are read as channels, interleaved or planar, 8/16/32-bit, "RGBA" or
/// grey with extra samples, 3-sample "RGB" pages in either layout; and Find Nuclei runs on one of
/// them.
#[test]
fn multi_sample_tiffs_written_by_tifffile_are_read_as_channels() {
    let (Some(img2d), Some(py)) = (data("stardist/img2d.tif"), python()) else {
        return;
    };
    let image = brightseg::io::read_image(&img2d).expect("img2d");
    let plane = image.plane(0, 0, 0);
    let (w, h) = (96, 64);
    let tmp = tempfile::tempdir().expect("tempdir");
    // Channel c: a window of the real image, moved c × 40 pixels right, scaled to fit 8 bits,
    // plus c (so that no two channels are equal: three equal "RGB" planes are read as grey).
    let channel = |c: usize| -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let v = (plane.value((i / w) * plane.width() + i % w + 40 * c) / 256.0).floor();
                (v + c as f32).min(255.0)
            })
            .collect()
    };
    for (samples, dtype, photometric, planar) in [
        (4, "uint16", "rgb", "contig"),
        (4, "uint16", "minisblack", "separate"),
        (2, "uint8", "minisblack", "contig"),
        (5, "float32", "minisblack", "contig"),
        (3, "uint16", "minisblack", "separate"),
        // As tifffile writes a (3, Y, X) uint16 array by default (celldetective's fields):
        // "RGB", one plane after the other. Only the first plane was read before.
        (3, "uint16", "rgb", "separate"),
        (3, "uint8", "rgb", "contig"),
    ] {
        let case = format!("{samples} × {dtype} {photometric} {planar}");
        let stack: Vec<f32> = (0..samples).flat_map(channel).collect();
        let npy = tmp.path().join("stack.npy");
        write_npy(&npy, &[samples, h, w], &stack);
        let tif = tmp
            .path()
            .join(format!("s{samples}-{dtype}-{photometric}-{planar}.tif"));
        oracle(
            &py,
            &[
                os("samples"),
                npy.as_os_str(),
                os(dtype),
                os(photometric),
                os(planar),
                tif.as_os_str(),
            ],
        );
        let read = brightseg::io::read_image(&tif).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            (read.channels(), read.slices(), read.frames()),
            (samples, 1, 1),
            "{case}"
        );
        for c in 0..samples {
            let p = read.plane(c, 0, 0);
            let values: Vec<f32> = (0..w * h).map(|i| p.value(i)).collect();
            assert_eq!(values, channel(c), "{case}: channel {}", c + 1);
        }
    }
    // Find Nuclei on channel 2 of the 4-sample "RGBA" page (how `tifffile` writes 4 channels).
    let out = tmp.path().join("out");
    let tif = tmp.path().join("s4-uint16-rgb-contig.tif");
    let model = shared_model().unwrap_or_else(|| repo_root().join("models/nuclei-brightfield"));
    brightseg_ok(&[
        os("find-nuclei"),
        tif.as_os_str(),
        os("--model"),
        model.as_os_str(),
        os("--channel"),
        os("2"),
        os("--out"),
        out.as_os_str(),
        os("--quiet"),
    ]);
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    assert!(!summary.contains(",error,"), "{summary}");
}

/// Width, height and values of the first plane of the image at `path`.
fn first_plane(path: &Path) -> (usize, usize, Vec<f32>) {
    let image = brightseg::io::read_image(path).expect("read image");
    let plane = image.plane(0, 0, 0);
    let (w, h) = (plane.width(), plane.height());
    (w, h, (0..w * h).map(|i| plane.value(i)).collect())
}

/// An OME-TIFF holding several series (fields, as tifffile writes several images) is never read
/// as one image whose fields pass for Z planes: `read_image` refuses it with how to split it,
/// and find-nuclei segments each series as an image of its own (`series3.ome.tif#0` … in the
/// tables, `series3_s0_labels.tif` … on disk), each exactly as the same plane written alone.
#[test]
fn a_multi_series_ome_tiff_is_read_series_by_series() {
    let (Some(img2d), Some(py)) = (data("stardist/img2d.tif"), python()) else {
        return;
    };
    let (w, h, values) = first_plane(&img2d);
    let tmp = tempfile::tempdir().expect("tempdir");
    let npy = tmp.path().join("plane.npy");
    write_npy(&npy, &[h, w], &values);
    let model = repo_root().join("models/nuclei-brightfield");
    let run = |input: &Path, out: &Path| {
        find_nuclei_summary(&model, input, out, &["--pixel-size", "0.619"])
    };
    let mut counts = Vec::new();
    for series in [1, 3] {
        let tif = tmp.path().join(format!("series{series}.ome.tif"));
        oracle(
            &py,
            &[
                os("ome-series"),
                npy.as_os_str(),
                os(&series.to_string()),
                tif.as_os_str(),
            ],
        );
        let read = brightseg::io::read_image(&tif);
        let (header, rows) = run(&tif, &tmp.path().join(format!("out{series}")));
        let col = |name: &str| header.iter().position(|c| c == name).expect(name);
        counts.push(
            rows.iter()
                .map(|r| r[col("Number of Objects")].clone())
                .collect::<Vec<_>>(),
        );
        if series == 1 {
            let read = read.expect("one series");
            assert_eq!((read.slices(), read.frames(), read.channels()), (1, 1, 1));
            assert_eq!(rows[0][col("Image")], "series1.ome.tif");
            continue;
        }
        let err = read.expect_err("three series").to_string();
        for part in [
            "3 series",
            "B02 field 1, B02 field 2, B02 field 3",
            "bfconvert -series",
        ] {
            assert!(err.contains(part), "{part:?} not in {err}");
        }
        let images: Vec<&str> = rows.iter().map(|r| r[col("Image")].as_str()).collect();
        assert_eq!(
            images,
            [
                "series3.ome.tif#0",
                "series3.ome.tif#1",
                "series3.ome.tif#2"
            ]
        );
        for (k, row) in rows.iter().enumerate() {
            assert_eq!(row[col("Z")], "1", "a series, not a Z plane: {row:?}");
            let labels = tmp.path().join(format!("out3/series3_s{k}_labels.tif"));
            assert!(labels.is_file(), "{labels:?}");
        }
    }
    let alone = counts[0][0].clone();
    assert!(alone.parse::<u32>().expect("count") > 10, "{alone}");
    assert_eq!(counts[1], vec![alone; 3], "each series as the plane alone");
}

/// An OME-TIFF whose OME-XML puts planes in another file (one file of a multi-file set) is not
/// guessed at: in a folder with a good image, the batch runs, the good image is segmented and the
/// set's file gets an error row that says why.
#[test]
fn an_ome_tiff_of_a_multi_file_set_is_an_error_row_not_a_stopped_batch() {
    let (Some(img2d), Some(py)) = (data("stardist/img2d.tif"), python()) else {
        return;
    };
    let (w, h, values) = first_plane(&img2d);
    let tmp = tempfile::tempdir().expect("tempdir");
    let folder = tmp.path().join("images");
    std::fs::create_dir_all(&folder).expect("folder");
    let npy = tmp.path().join("plane.npy");
    write_npy(&npy, &[h, w], &values);
    let xml = tmp.path().join("ome.xml");
    let image_xml = |k: usize, file: &str| {
        format!(
            r#"<Image ID="Image:{k}"><Pixels ID="Pixels:{k}" DimensionOrder="XYCZT" Type="uint16" SizeX="{w}" SizeY="{h}" SizeC="1" SizeZ="1" SizeT="1"><TiffData IFD="0" PlaneCount="1"><UUID FileName="{file}">urn:uuid:{k}</UUID></TiffData></Pixels></Image>"#
        )
    };
    std::fs::write(
        &xml,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">{}{}</OME>"#,
            image_xml(0, "set_0.ome.tif"),
            image_xml(1, "set_1.ome.tif")
        ),
    )
    .expect("xml");
    let set = folder.join("set_0.ome.tif");
    oracle(
        &py,
        &[
            os("described"),
            npy.as_os_str(),
            xml.as_os_str(),
            set.as_os_str(),
        ],
    );
    oracle(
        &py,
        &[
            os("plain"),
            npy.as_os_str(),
            folder.join("good.tif").as_os_str(),
        ],
    );
    let out = tmp.path().join("out");
    let run = brightseg(&[
        os("find-nuclei"),
        folder.as_os_str(),
        os("--model"),
        repo_root().join("models/nuclei-brightfield").as_os_str(),
        os("--pixel-size"),
        os("0.619"),
        os("--out"),
        out.as_os_str(),
        os("--quiet"),
    ]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (header, rows) = read_csv(&out.join("summary.csv"));
    let col = |name: &str| header.iter().position(|c| c == name).expect(name);
    let by_image: std::collections::BTreeMap<&str, (&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r[col("Image")].as_str(),
                (r[col("Status")].as_str(), r[col("Message")].as_str()),
            )
        })
        .collect();
    assert_eq!(by_image["good.tif"].0, "ok");
    let (status, message) = by_image["set_0.ome.tif"];
    assert_eq!(status, "error");
    assert!(
        message.contains("another file (set_1.ome.tif)"),
        "{message}"
    );
}

/// A plate in one OME-TIFF, its OME-XML (Plate, Well, WellSample, TiffData) written by the
/// oracle: four fields of brightfield + Hoechst in wells B02 and C04, one field smaller than the
/// others. find-nuclei segments every field on its brightfield channel at the file's pixel
/// size, and `merge --naming ome` counts each well over its fields exactly as the fields run one
/// by one.
#[test]
fn a_plate_in_one_ome_tiff_is_counted_per_well() {
    plate_in_one_store_is_counted_per_well("ome-plate", "plate.ome.tif", "Screen-1", 40);
}

/// An OME-Zarr HCS plate (NGFF 0.4, Zarr v2, blosc chunks of 128²) written by ome-zarr-py, the
/// reference implementation: the same fields in wells B2 and C4, each a field group of its
/// well. find-nuclei streams each field's chunks at the store's pixel size (`scale` in
/// micrometer), and `merge --naming ome` counts each well as its fields run one by one; a store
/// holding one image is read as that image.
#[test]
fn an_ome_zarr_plate_is_counted_per_well() {
    plate_in_one_store_is_counted_per_well("ome-zarr-plate", "plate.zarr", "Screen-Z", 0);
}

/// Writes four fields of ndev (brightfield and Hoechst; the fourth `narrower` columns narrower)
/// with the oracle `command` into `store`, checks that find-nuclei segments each exactly as its
/// brightfield plane alone, and that `merge --naming ome` counts them in wells B02 and C04 of
/// plate `plate`.
fn plate_in_one_store_is_counted_per_well(
    command: &str,
    store: &str,
    plate_name: &str,
    narrower: usize,
) {
    let (Some(ndev), Some(py)) = (data("ndev/scratch-assay-labeled-10T-2Ch.tiff"), python()) else {
        return;
    };
    let model = repo_root().join("models/nuclei-brightfield");
    let series = brightseg::io::read_image(&ndev).expect("ndev");
    let channels = [
        series.resolve_channel(Some("oblique")).expect("oblique"),
        series.resolve_channel(Some("H3342")).expect("Hoechst"),
    ];
    let pixel = series.calibration.pixel_width_um.expect("calibrated");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut args = vec![
        os(command).to_owned(),
        tmp.path().join(store).into_os_string(),
        format!("{pixel}").into(),
    ];
    let mut alone_counts = Vec::new();
    for k in 0..4 {
        // Fields of different sizes.
        let full = series.width();
        let w = if k == 3 { full - narrower } else { full };
        let h = series.height();
        let mut values = Vec::with_capacity(2 * w * h);
        for &c in &channels {
            let p = series.plane(c, 0, k);
            for y in 0..h {
                values.extend((0..w).map(|x| p.value(y * full + x)));
            }
        }
        let npy = tmp.path().join(format!("field{k}.npy"));
        write_npy(&npy, &[2, h, w], &values);
        args.push(npy.into_os_string());
        // The field alone, its brightfield plane as a plain TIFF at the same pixel size.
        let plain = tmp.path().join(format!("field{k}.npy.bf"));
        write_npy(&plain, &[h, w], &values[..w * h]);
        let tif = tmp.path().join(format!("field{k}.tif"));
        oracle(&py, &[os("plain"), plain.as_os_str(), tif.as_os_str()]);
        let out = tmp.path().join(format!("alone{k}"));
        let (header, rows) =
            find_nuclei_summary(&model, &tif, &out, &["--pixel-size", &format!("{pixel}")]);
        let n = header
            .iter()
            .position(|c| c == "Number of Objects")
            .expect("count");
        alone_counts.push(rows[0][n].parse::<i64>().expect("count"));
    }
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    oracle(&py, &arg_refs);
    let plate = tmp.path().join(store);
    let out = tmp.path().join("out");
    let (header, rows) = find_nuclei_summary(&model, &plate, &out, &["--channel", "Brightfield"]);
    let col = |name: &str| header.iter().position(|c| c == name).expect(name);
    let found: Vec<i64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r[col("Status")], "ok", "{r:?}");
            assert_eq!(
                r[col("Pixel Size [µm]")],
                format!("{pixel}"),
                "the file's pixel size"
            );
            r[col("Number of Objects")].parse().expect("count")
        })
        .collect();
    assert_eq!(
        found, alone_counts,
        "each field as its brightfield plane alone"
    );
    if command == "ome-zarr-plate" {
        // Each field's labels, written back into the store, as ome-zarr-py reads them: equal to
        // the labels TIFF of that field.
        for (k, group) in ["B/2/0", "B/2/1", "C/4/0", "C/4/1"].iter().enumerate() {
            assert_zarr_labels_equal_tiff(
                &py,
                &plate,
                group,
                &out.join(format!("plate_s{k}_labels.tif")),
            );
        }
    }
    let merged = tmp.path().join("merged");
    let done = brightseg(&[
        os("merge"),
        out.as_os_str(),
        os("--naming"),
        os("ome"),
        os("--out"),
        merged.as_os_str(),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let (header, wells) = read_csv(&merged.join("wells.csv"));
    let col = |name: &str| header.iter().position(|c| c == name).expect(name);
    let counted: Vec<(String, String, String, i64)> = wells
        .iter()
        .filter(|r| r[col("Status")] == "ok")
        .map(|r| {
            (
                r[col("Plate")].clone(),
                r[col("Well")].clone(),
                r[col("Fields")].clone(),
                r[col("Number of Objects")].parse().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        counted,
        [
            (
                plate_name.into(),
                "B02".into(),
                "2".into(),
                alone_counts[0] + alone_counts[1]
            ),
            (
                plate_name.into(),
                "C04".into(),
                "2".into(),
                alone_counts[2] + alone_counts[3]
            ),
        ]
    );
    assert!(merged
        .join(format!("plate-maps/{plate_name}.png"))
        .is_file());
    // The plate's own 16 × 24 layout, although its wells lie within a 96-well plate's.
    assert_eq!(wells.len(), 384, "every well of the plate's metadata");
    if command != "ome-zarr-plate" {
        return;
    }
    // A store of one image: read as that image, named as the store.
    let single = tmp.path().join("field.zarr");
    oracle(
        &py,
        &[
            os(command),
            single.as_os_str(),
            os(&format!("{pixel}")),
            args[3].as_os_str(),
        ],
    );
    let out = tmp.path().join("out-single");
    let (header, rows) = find_nuclei_summary(&model, &single, &out, &["--channel", "Brightfield"]);
    let col = |name: &str| header.iter().position(|c| c == name).expect(name);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][col("Image")], "field.zarr");
    assert_eq!(
        rows[0][col("Number of Objects")],
        alone_counts[0].to_string()
    );
    assert_zarr_labels_equal_tiff(&py, &single, "", &out.join("field_labels.tif"));
}

/// The label image ome-zarr-py's reader finds for image `group` of OME-Zarr `store` (one plane,
/// labels/brightseg) equals the labels TIFF brightseg wrote for it.
fn assert_zarr_labels_equal_tiff(py: &Path, store: &Path, group: &str, tiff: &Path) {
    let npy = tiff.with_extension("zarr-labels.npy");
    oracle(
        py,
        &[
            os("ome-zarr-labels"),
            store.as_os_str(),
            os(group),
            npy.as_os_str(),
        ],
    );
    let (shape, from_zarr) = read_npy::<u32>(&npy);
    let image = brightseg::io::read_image(tiff).expect("labels TIFF");
    let plane = image.plane(0, 0, 0);
    assert_eq!(shape, [plane.height(), plane.width()], "{group}: y, x");
    let from_tiff: Vec<u32> = (0..plane.width() * plane.height())
        .map(|i| plane.value(i) as u32)
        .collect();
    assert!(from_tiff.iter().any(|&l| l > 0), "{group}: no nuclei");
    assert!(from_zarr == from_tiff, "{group}: labels differ");
}
