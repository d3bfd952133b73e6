//! Tests of reading and writing images.

use super::atomic::partial_owner;
use super::metadata::{ome_plane_index, parse_imagej_description, parse_ome_xml};
use super::*;
use crate::budget::MemoryBudget;
use crate::error::ErrorKind;
use crate::image::{Calibration, PixelData};

#[test]
fn imagej_description() {
    let m = parse_imagej_description(
        "ImageJ=1.53t\nimages=20\nchannels=2\nframes=10\nhyperstack=true\nunit=micron\n",
    )
    .expect("ImageJ header");
    assert_eq!(m.channels, Some(2));
    assert_eq!(m.frames, Some(10));
    assert_eq!(m.slices, None);
    assert_eq!(m.unit_to_um, Some(1.0));
    assert!(parse_imagej_description("something else").is_none());
}

#[test]
fn ome_order_and_calibration() {
    let xml = r#"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
      <Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16"
      SizeX="4" SizeY="3" SizeC="2" SizeZ="3" SizeT="1" PhysicalSizeX="650" PhysicalSizeXUnit="nm"
      PhysicalSizeY="0.65"><Channel ID="Channel:0:0" Name="BF"/><Channel ID="Channel:0:1" Name="DAPI"/>
      </Pixels></Image></OME>"#;
    let m = parse_ome_xml(xml).expect("OME");
    assert_eq!((m.size_c, m.size_z, m.size_t), (2, 3, 1));
    assert!((m.pixel_width_um.expect("x") - 0.65).abs() < 1e-12);
    assert_eq!(m.channel_names[1].as_deref(), Some("DAPI"));
    // XYZCT: z fastest. IFD 4 = z 1 of channel 1.
    assert_eq!(ome_plane_index("XYZCT", 4, 2, 3, 1), (1, 1, 0));
    assert_eq!(ome_plane_index("XYCZT", 4, 2, 3, 1), (0, 2, 0));
}

#[test]
fn write_then_read_keeps_values_and_calibration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let labels: Vec<u32> = (0..12).collect();
    let path = dir.path().join("labels.tif");
    write_tiff(
        &path,
        4,
        3,
        &[OutputPlane::Labels(&labels)],
        1,
        Calibration::square(0.619),
    )
    .expect("write");
    let img = read_image(&path).expect("read back");
    assert_eq!(
        img.plane(0, 0, 0).data(),
        &PixelData::U16((0..12).collect())
    );
    let pw = img.calibration.pixel_width_um.expect("calibrated");
    assert!((pw - 0.619).abs() < 1e-9, "{pw}");

    let big: Vec<u32> = vec![70_000; 12];
    let big2: Vec<u32> = (0..12).map(|i| 100_000 + i).collect();
    let series = [OutputPlane::Labels(&big), OutputPlane::Labels(&big2)];
    write_tiff(&path, 4, 3, &series, 2, Calibration::default()).expect("write 32-bit");
    let img = read_image(&path).expect("read back");
    assert_eq!((img.slices(), img.frames()), (1, 2));
    assert_eq!(img.plane(0, 0, 0).at(3, 2), 70_000.0);
    assert_eq!(img.plane(0, 0, 1).at(3, 2), 100_011.0);
    assert_eq!(img.calibration, Calibration::default());
    let probs: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
    write_tiff(
        &path,
        4,
        3,
        &[OutputPlane::Float(&probs)],
        1,
        Calibration::default(),
    )
    .expect("write float");
    assert_eq!(
        read_image(&path).expect("read").plane(0, 0, 0).at(3, 2),
        11.0 / 12.0
    );
    let mixed = [OutputPlane::Float(&probs), OutputPlane::Labels(&big)];
    assert!(write_tiff(&path, 4, 3, &mixed, 1, Calibration::default()).is_err());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        1,
        "no temp files left"
    );
}

#[test]
fn raw_planes_write_the_same_file_as_planes_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (37, 11);
    let cal = Calibration::square(0.5);
    let small: Vec<u32> = (0..2 * w * h).map(|i| (i % 7) as u32).collect();
    let large: Vec<u32> = (0..w * h).map(|i| (i * 997) as u32).collect();
    let floats: Vec<f32> = (0..2 * w * h).map(|i| i as f32 / 3.0).collect();
    let cases: [(&str, RawKind, Vec<OutputPlane<'_>>); 3] = [
        (
            "small",
            RawKind::Labels { max_label: 6 },
            small.chunks(w * h).map(OutputPlane::Labels).collect(),
        ),
        (
            "large",
            RawKind::Labels {
                max_label: (w * h * 997 - 997) as u32,
            },
            vec![OutputPlane::Labels(&large)],
        ),
        (
            "floats",
            RawKind::Float,
            floats.chunks(w * h).map(OutputPlane::Float).collect(),
        ),
    ];
    for (name, kind, planes) in cases {
        let memory = dir.path().join(format!("{name}-memory.tif"));
        write_tiff(&memory, w, h, &planes, 1, cal).expect("write");
        let mut raw = RawPlanes::new_in(dir.path()).expect("raw");
        for p in &planes {
            // In uneven row blocks, as bands arrive.
            match p {
                OutputPlane::Labels(l) => {
                    raw.push_labels(&l[..5 * w]).expect("push");
                    raw.push_labels(&l[5 * w..]).expect("push");
                }
                OutputPlane::Float(f) => raw.push_floats(f).expect("push"),
                OutputPlane::Gray16(_) => unreachable!(),
            }
        }
        let streamed = dir.path().join(format!("{name}-raw.tif"));
        raw.write_tiff(&streamed, w, h, 1, cal, kind)
            .expect("write raw");
        let (a, b) = (
            std::fs::read(&memory).expect("read"),
            std::fs::read(&streamed).expect("read"),
        );
        assert!(a == b, "{name}: the two files differ");
    }
    let mut short = RawPlanes::new_in(dir.path()).expect("raw");
    short.push_floats(&[1.0; 10]).expect("push");
    assert!(short
        .write_tiff(&dir.path().join("x.tif"), w, h, 1, cal, RawKind::Float)
        .is_err());
}

#[test]
fn stale_partials_of_stopped_processes_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A process id that cannot be running (above Linux's pid_max limit of 2^22).
    let dead = d.join(".a_labels.tif.99999999.partial");
    let own = temp_path_for(&d.join("b_summary.csv"));
    let parent = std::os::unix::process::parent_id();
    let live = d.join(format!(".c_objects.csv.{parent}.partial"));
    let unrelated = [
        d.join("a_labels.tif"),
        d.join(".hidden"),
        d.join(".x.y.partial"),
    ];
    for f in [&dead, &own, &live].into_iter().chain(&unrelated) {
        std::fs::write(f, b"half").expect("write");
    }
    assert_eq!(partial_owner(".a.tif.12.partial"), Some(12));
    assert_eq!(partial_owner("a.tif.12.partial"), None);
    assert_eq!(remove_stale_partials(d).expect("clean"), 2);
    assert!(!dead.exists() && !own.exists(), "stale ones removed");
    assert!(live.exists(), "a running process's file is kept");
    assert!(unrelated.iter().all(|f| f.exists()), "other files are kept");
}

/// A little-endian TIFF whose header claims a `width × height` 16-bit plane, with 16 bytes
/// of pixel data: what a corrupt or hostile file looks like.
fn lying_tiff(width: u32, height: u32) -> Vec<u8> {
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 16),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8 + 2 + 8 * 12 + 4),
        (278, 4, height),
        (279, 4, 16),
    ];
    let mut b = b"II*\0\x08\0\0\0".to_vec();
    b.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        if kind == 3 {
            b.extend((value as u16).to_le_bytes());
            b.extend([0, 0]);
        } else {
            b.extend(value.to_le_bytes());
        }
    }
    b.extend(0u32.to_le_bytes());
    b.extend([7u8; 16]);
    b
}

#[test]
fn sizes_from_headers_are_checked_against_the_budget_before_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small.tif");
    std::fs::write(&small, lying_tiff(4, 2)).expect("write");
    let img = read_image(&small).expect("an honest 4 × 2 header reads");
    assert_eq!(
        img.plane(0, 0, 0).at(0, 0),
        f32::from(u16::from_le_bytes([7, 7]))
    );

    let huge = dir.path().join("huge.tif");
    std::fs::write(&huge, lying_tiff(4_000_000_000, 4_000_000_000)).expect("write");
    let e = read_image(&huge).expect_err("a 4e9 × 4e9 header is refused");
    assert_eq!(e.kind(), ErrorKind::ResourceLimit, "{e}");
    assert!(
        e.message().contains("4000000000 × 4000000000 pixels"),
        "{e}"
    );
    assert!(e.message().contains("crop it"), "{e}");

    let budget = MemoryBudget::bytes(10_000);
    let e = read_image_within(&small, MemoryBudget::bytes(8)).expect_err("16 bytes > 8");
    assert_eq!(e.kind(), ErrorKind::ResourceLimit);
    let png = dir.path().join("picture.png");
    write_png_rgb(&png, 64, 64, &vec![9u8; 64 * 64 * 3]).expect("write png");
    let e = read_image_within(&png, budget).expect_err("24 kB of RGB > 10 kB");
    assert_eq!(e.kind(), ErrorKind::ResourceLimit);
    assert!(e.message().contains("64 × 64 pixels"), "{e}");
    read_image_within(&png, MemoryBudget::bytes(100_000)).expect("fits");
}

#[test]
fn not_an_image_and_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.tif");
    std::fs::write(&text, b"hello, this is text").expect("write");
    let e = read_image(&text).expect_err("text is not an image");
    assert_eq!(e.kind(), ErrorKind::Image);

    let full = dir.path().join("full.tif");
    let data: Vec<f32> = vec![1.0; 64 * 64];
    write_tiff(
        &full,
        64,
        64,
        &[OutputPlane::Float(&data)],
        1,
        Calibration::default(),
    )
    .expect("write");
    let bytes = std::fs::read(&full).expect("read");
    let cut = dir.path().join("cut.tif");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    assert!(read_image(&cut).is_err());
}
