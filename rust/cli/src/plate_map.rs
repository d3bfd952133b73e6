//! `brightseg plate-map`: draws one column of a `wells.csv` (written by `merge --naming`) on the
//! layout of each plate in it, as PNG and SVG (the drawing is `brightseg::plate_map`). `merge`
//! calls the same function for the nucleus count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brightseg::plate_map::{parse_well, PlateFormat, PlateMap, WellValue};

use crate::PlateMapArgs;

/// The column a plate map shows unless told otherwise.
pub(crate) const DEFAULT_COLUMN: &str = "Number of Objects";

/// The folder `merge` writes plate maps to, inside its output folder.
pub(crate) const FOLDER: &str = "plate-maps";

/// A well's name and what the map shows of it.
type NamedWell = (String, WellValue);

/// One row of a wells table, as the maps read it.
struct WellRow {
    plate: String,
    /// The time point and Z plane (each empty in a table without its T or Z column).
    plane: (String, String),
    /// The well as the table names it (`B03`).
    name: String,
    /// Its row and column, from 1.
    position: (u32, u32),
    value: WellValue,
}

/// Runs `plate-map`.
pub fn run(args: &PlateMapArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        args.wells
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(FOLDER)
    });
    let format = args
        .plate_wells
        .map(|n| {
            PlateFormat::standard(n).with_context(|| {
                format!("--plate-wells {n}: a plate has 6, 12, 24, 48, 96, 384 or 1536 wells")
            })
        })
        .transpose()?;
    let written = write_plate_maps(&args.wells, &args.column, format, &out)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Draws `column` of the wells table `wells_csv` for each plate in it (on `format`, or the
/// smallest screening plate holding its wells), writing `<plate>.png` and `<plate>.svg` into
/// `out` (`<plate>_t<T>.png`, `<plate>_z<Z>.png`, `<plate>_t<T>_z<Z>.png` … for each time point
/// and Z plane of a plate imaged at several); returns the
/// files written. A well whose images all failed has no value (its count would read 0); one with
/// some failed images gets a cross.
pub(crate) fn write_plate_maps(
    wells_csv: &Path,
    column: &str,
    format: Option<PlateFormat>,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let mut reader = csv::Reader::from_path(wells_csv)
        .with_context(|| format!("cannot read {}", wells_csv.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let (Some(plate_at), Some(well_at)) = (find("Plate"), find("Well")) else {
        bail!(
            "{} has no Plate and Well columns: give the wells.csv that `brightseg merge --naming` \
             writes",
            wells_csv.display()
        );
    };
    let Some(value_at) = find(column) else {
        bail!(
            "{} has no column \"{column}\"; it has: {}",
            wells_csv.display(),
            header.join(", ")
        );
    };
    let (images_at, failed_at) = (find("Images"), find("Failed Images"));
    let (time_at, z_at) = (find("T"), find("Z"));
    let status_at = find("Status");
    let mut rows: Vec<WellRow> = Vec::new();
    // Every well each plate's rows name, imaged or not: merge lists the wells of the plate's
    // layout, so these give the layout its plate file said.
    let mut listed: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    let mut unnamed = 0usize;
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} row {}", wells_csv.display(), line + 2))?;
        let field = |at: usize| record.get(at).unwrap_or("").trim();
        if let Some(position) = parse_well(field(well_at)) {
            listed
                .entry(field(plate_at).to_owned())
                .or_default()
                .push(position);
        }
        if status_at.is_some_and(|a| field(a) == crate::merge::EMPTY_STATUS) {
            // A well no image came from: drawn as such.
            continue;
        }
        let Some(position) = parse_well(field(well_at)) else {
            // Images whose names did not match the naming scheme: in the tables, not on a map.
            unnamed += 1;
            continue;
        };
        let count = |at: Option<usize>| at.and_then(|a| field(a).parse::<usize>().ok());
        let failed_images = count(failed_at).unwrap_or(0);
        let all_failed = count(images_at).is_some_and(|n| n > 0 && failed_images >= n);
        let value = field(value_at)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && !all_failed);
        rows.push(WellRow {
            plate: field(plate_at).to_owned(),
            plane: (
                time_at.map_or(String::new(), |a| field(a).to_owned()),
                z_at.map_or(String::new(), |a| field(a).to_owned()),
            ),
            name: field(well_at).to_owned(),
            position,
            value: WellValue {
                value,
                failed_images,
            },
        });
    }
    if unnamed > 0 {
        log::warn!(
            "{}: {unnamed} row(s) without a well name (like B03) are left off the plate maps",
            wells_csv.display()
        );
    }
    if rows.is_empty() {
        bail!("{} lists no wells", wells_csv.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut plates: Vec<&str> = Vec::new();
    for r in &rows {
        if !plates.contains(&r.plate.as_str()) {
            plates.push(&r.plate);
        }
    }
    let mut written = Vec::new();
    let mut stems = std::collections::HashSet::new();
    for plate in plates {
        let of_plate: Vec<&WellRow> = rows.iter().filter(|r| r.plate == plate).collect();
        // One layout for every plane of a plate.
        let layout = format.unwrap_or_else(|| {
            PlateFormat::holding(listed.get(plate).into_iter().flatten().copied())
        });
        let mut planes: Vec<&(String, String)> = Vec::new();
        for r in &of_plate {
            if !planes.contains(&&r.plane) {
                planes.push(&r.plane);
            }
        }
        let several = |part: fn(&(String, String)) -> &String| {
            planes.iter().any(|p| part(p) != part(planes[0]))
        };
        let (times_vary, planes_vary) = (several(|p| &p.0), several(|p| &p.1));
        for plane in &planes {
            let (t, z) = (&plane.0, &plane.1);
            let mut wells: Vec<NamedWell> = Vec::new();
            let mut drawn: Vec<(u32, u32)> = Vec::new();
            for r in of_plate.iter().filter(|r| r.plane == **plane) {
                wells.push((r.name.clone(), r.value.clone()));
                drawn.push(r.position);
            }
            // A well whose images all failed has a row at one plane only; it failed at every
            // plane, so every map of the plate crosses it.
            for r in &of_plate {
                if r.value.failed_images > 0 && !drawn.contains(&r.position) {
                    let missing = WellValue {
                        value: None,
                        failed_images: r.value.failed_images,
                    };
                    wells.push((r.name.clone(), missing));
                    drawn.push(r.position);
                }
            }
            let (mut quantity, mut stem) = (column.to_owned(), file_stem(plate));
            if times_vary {
                quantity.push_str(&format!(", T {t}"));
                stem.push_str(&format!("_t{t}"));
            }
            if planes_vary {
                quantity.push_str(&format!(", Z {z}"));
                stem.push_str(&format!("_z{z}"));
            }
            // Plates whose names differ only in characters a file name cannot hold.
            let stem = (1..)
                .map(|k| {
                    if k == 1 {
                        stem.clone()
                    } else {
                        format!("{stem}_{k}")
                    }
                })
                .find(|s| stems.insert(s.clone()))
                .unwrap_or(stem);
            let map = PlateMap::new(plate, &quantity, wells, Some(layout))?;
            let png = out.join(format!("{stem}.png"));
            let (w, h, rgb) = map.to_rgb();
            brightseg::io::write_png_rgb(&png, w, h, &rgb)?;
            let svg = out.join(format!("{stem}.svg"));
            brightseg::io::write_bytes_atomically(&svg, map.to_svg().as_bytes())?;
            written.extend([png, svg]);
        }
    }
    Ok(written)
}

/// A plate name as a file name: letters, digits, `-`, `_` and `.` kept, anything else `_`;
/// `plate` when empty.
fn file_stem(plate: &str) -> String {
    let stem: String = plate
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_matches('.') {
        "" => "plate".to_owned(),
        s => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_names_become_safe_file_names() {
        assert_eq!(file_stem("Plate 1/A"), "Plate_1_A");
        assert_eq!(file_stem(""), "plate");
        assert_eq!(file_stem(".."), "plate");
        assert_eq!(file_stem("P-01_x.2"), "P-01_x.2");
    }

    #[test]
    fn each_plate_of_a_wells_table_gets_its_map_and_a_missing_column_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = dir.path().join("wells.csv");
        std::fs::write(
            &csv,
            "Plate,Well,Fields,Images,Failed Images,Number of Objects\n\
             P1,B02,2,2,0,40\nP1,B03,2,2,2,0\nP2,A01,1,1,0,7\n",
        )
        .expect("write");
        let out = dir.path().join("maps");
        let written = write_plate_maps(&csv, DEFAULT_COLUMN, None, &out).expect("maps");
        let names: Vec<String> = written
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, ["P1.png", "P1.svg", "P2.png", "P2.svg"]);
        let svg = std::fs::read_to_string(out.join("P1.svg")).expect("svg");
        // Every image of B03 failed: no value, not a count of 0.
        assert!(
            svg.contains("<title>B3: no value; 2 failed image(s)</title>"),
            "{svg}"
        );
        assert!(svg.contains("<title>B2: 40</title>"), "{svg}");
        let png = brightseg::io::read_image(&out.join("P2.png")).expect("png");
        assert_eq!(png.channels(), 3, "an RGB picture");
        assert!(png.width() > 100 && png.height() > 100);
        let err = write_plate_maps(&csv, "Nuclei", None, &out).expect_err("no such column");
        assert!(err.to_string().contains("no column \"Nuclei\""), "{err}");
        // A plate imaged at two time points: a map for each, titled with its time point.
        std::fs::write(
            &csv,
            "Plate,Well,T,Fields,Images,Failed Images,Number of Objects\n\
             P1,B02,1,1,1,0,40\nP1,B02,2,1,1,0,55\nP2,A01,1,1,1,0,7\n",
        )
        .expect("write");
        let out = dir.path().join("timed");
        let written = write_plate_maps(&csv, DEFAULT_COLUMN, None, &out).expect("maps");
        assert_eq!(written.len(), 6);
        for name in ["P1_t1.svg", "P1_t2.svg", "P2.svg"] {
            assert!(out.join(name).is_file(), "{name}");
        }
        let svg = std::fs::read_to_string(out.join("P1_t2.svg")).expect("svg");
        assert!(svg.contains(">P1 - Number of Objects, T 2</text>"), "{svg}");
        assert!(svg.contains("<title>B2: 55</title>"), "{svg}");
        // A plate imaged at two Z planes: a map for each; with time points too, one per both.
        std::fs::write(
            &csv,
            "Plate,Well,T,Z,Fields,Images,Failed Images,Number of Objects\n\
             P1,B02,1,1,1,1,0,40\nP1,B02,1,2,1,1,0,42\nP2,A01,1,1,1,1,0,7\nP2,A01,2,1,1,1,0,8\n\
             P2,A01,1,2,1,1,0,9\nP2,A01,2,2,1,1,0,10\n",
        )
        .expect("write");
        let out = dir.path().join("stacked");
        let written = write_plate_maps(&csv, DEFAULT_COLUMN, None, &out).expect("maps");
        assert_eq!(written.len(), 12, "{written:?}");
        for name in ["P1_z1.svg", "P1_z2.svg", "P2_t1_z1.svg", "P2_t2_z2.svg"] {
            assert!(out.join(name).is_file(), "{name}");
        }
        let svg = std::fs::read_to_string(out.join("P2_t2_z1.svg")).expect("svg");
        assert!(
            svg.contains(">P2 - Number of Objects, T 2, Z 1</text>"),
            "{svg}"
        );
        assert!(svg.contains("<title>A1: 8</title>"), "{svg}");
        // A well whose images all failed (one row, at T 1) is crossed on every map of its
        // plate; rows without a well name are left off; plates whose names become the same
        // file name both keep their maps.
        std::fs::write(
            &csv,
            "Plate,Well,T,Fields,Images,Failed Images,Number of Objects\n\
             P1,B02,1,1,1,0,40\nP1,B02,2,1,1,0,55\nP1,C05,1,1,1,1,0\n,,1,1,1,0,3\n\
             Plate 1,A01,1,1,1,0,1\nPlate_1,A01,1,1,1,0,2\n",
        )
        .expect("write");
        let out = dir.path().join("odd");
        let written = write_plate_maps(&csv, DEFAULT_COLUMN, None, &out).expect("maps");
        assert_eq!(written.len(), 8, "{written:?}");
        let svg = std::fs::read_to_string(out.join("P1_t2.svg")).expect("svg");
        assert!(
            svg.contains("<title>C5: no value; 1 failed image(s)</title>"),
            "{svg}"
        );
        let first = std::fs::read_to_string(out.join("Plate_1.svg")).expect("svg");
        let second = std::fs::read_to_string(out.join("Plate_1_2.svg")).expect("svg");
        assert!(first.contains("<title>A1: 1</title>") && second.contains("<title>A1: 2</title>"));
    }
}
