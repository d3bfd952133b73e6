//! `brightseg export omero`: a merged screen's tables as OMERO's `omero metadata populate`
//! reads them for a Screen or a Plate, and the list of label images for `omero-rois`.
//!
//! `populate` makes an OMERO.table (bulk annotation) from a CSV whose first line is
//! `# header` and the column types (`plate`, `well`, `s`, `l`, `d`): it finds each row's plate
//! by name and its well by a row letter and column number (`B03`). Column names without spaces
//! or brackets can be queried, so `Size [µm²] Mean` becomes `Size_um2_Mean`.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::find_nuclei::{write_csv, SUMMARY_FILE};
use crate::merge::EMPTY_STATUS;
use crate::ExportOmeroArgs;

/// The per-well table (wells.csv rows of wells with images).
pub(crate) const WELLS_FILE: &str = "omero-wells.csv";
/// The per-image table (summary.csv rows of images placed in a well).
pub(crate) const IMAGES_FILE: &str = "omero-images.csv";
/// Each image's label image, for `omero-rois`.
pub(crate) const LABELS_FILE: &str = "omero-labels.csv";

/// A column name OMERO.tables can query: ASCII letters, digits and underscores.
fn queryable(name: &str) -> String {
    let ascii = name
        .replace("µm²", "um2")
        .replace("µm", "um")
        .replace('%', "percent");
    let mut out = String::new();
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// The `populate` type of a column: `plate` and `well` for those, `l` when every value is an
/// integer, `d` when every value is a number (NaN included), else `s`.
fn column_type(name: &str, values: &[&str]) -> &'static str {
    match name {
        "Plate" => return "plate",
        "Well" => return "well",
        _ => {}
    }
    if values.is_empty() {
        return "s";
    }
    if values.iter().all(|v| v.parse::<i64>().is_ok()) {
        "l"
    } else if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        "d"
    } else {
        "s"
    }
}

/// Writes `rows` (under `header`) to `path` as a `populate` CSV: the `# header` line of
/// column types, then the queryable column names, then the rows.
fn write_populate_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let types: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<&str> = rows.iter().map(|r| r[i].as_str()).collect();
            column_type(name, &values)
        })
        .collect();
    let names: Vec<String> = header.iter().map(|h| queryable(h)).collect();
    let mut text = format!("# header {}\n", types.join(","));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&names)?;
    for row in rows {
        writer.write_record(row)?;
    }
    text.push_str(&String::from_utf8(writer.into_inner()?)?);
    brightseg::io::write_bytes_atomically(path, text.as_bytes())?;
    Ok(())
}

/// The header and rows of a CSV table.
fn read_table(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader.headers()?.iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| Ok(r?.iter().map(str::to_owned).collect()))
        .collect::<Result<_>>()?;
    Ok((header, rows))
}

/// Runs `export omero`.
pub fn run(args: &ExportOmeroArgs) -> Result<()> {
    let merged = &args.merged;
    let out = args.out.clone().unwrap_or_else(|| merged.clone());
    let wells_csv = merged.join("wells.csv");
    if !wells_csv.is_file() {
        bail!(
            "{} has no wells.csv: give the --out folder of `brightseg merge --naming …`",
            merged.display()
        );
    }
    let (header, rows) = read_table(&wells_csv)?;
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{} has no {name} column", wells_csv.display()))
    };
    let status = at("Status")?;
    // Wells without images have no counts (and no images in OMERO to annotate).
    let imaged: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| r[status] != EMPTY_STATUS)
        .collect();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let wells_out = out.join(WELLS_FILE);
    write_populate_csv(&wells_out, &header, &imaged)?;

    let summary_csv = merged.join(SUMMARY_FILE);
    let (header, rows) = read_table(&summary_csv)?;
    let (plate, well, image) = (
        header.iter().position(|h| h == "Plate"),
        header.iter().position(|h| h == "Well"),
        header.iter().position(|h| h == "Image"),
    );
    let (Some(plate), Some(well), Some(image)) = (plate, well, image) else {
        bail!(
            "{} has no Plate, Well and Image columns: give the --out folder of `brightseg merge \
             --naming …`",
            summary_csv.display()
        );
    };
    // Images without a well (the naming did not match them) cannot be placed in OMERO.
    let placed: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| !r[plate].is_empty() && !r[well].is_empty())
        .collect();
    let images_out = out.join(IMAGES_FILE);
    write_populate_csv(&images_out, &header, &placed)?;

    // Each image's labels TIFF, found in the find-nuclei folders merge read.
    let folders = crate::merge::source_folders(merged)?;
    let mut labels: Vec<Vec<String>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in &placed {
        let key = (row[plate].clone(), row[well].clone(), row[image].clone());
        if !seen.insert(key) {
            continue;
        }
        let found = folders.iter().find_map(|dir| {
            let path = crate::find_nuclei::labels_path(dir, Path::new(&row[image]));
            path.is_file().then_some(path)
        });
        if let Some(path) = found {
            let field = header
                .iter()
                .position(|h| h == "Field")
                .map_or(String::new(), |f| row[f].clone());
            labels.push(vec![
                row[plate].clone(),
                row[well].clone(),
                field,
                row[image].clone(),
                path.display().to_string(),
            ]);
        }
    }
    let labels_out = out.join(LABELS_FILE);
    write_csv(
        &labels_out,
        &["Plate", "Well", "Field", "Image", "Labels"].map(str::to_owned),
        &labels,
    )?;
    eprintln!(
        "{} well row(s) → {}, {} image row(s) → {}, {} label image(s) → {}",
        imaged.len(),
        wells_out.display(),
        placed.len(),
        images_out.display(),
        labels.len(),
        labels_out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_and_types_as_populate_reads_them() {
        assert_eq!(queryable("Size [µm²] Mean"), "Size_um2_Mean");
        assert_eq!(queryable("Size [µm²] CV %"), "Size_um2_CV_percent");
        assert_eq!(queryable("Failed Images"), "Failed_Images");
        assert_eq!(queryable("Pixel Size [µm]"), "Pixel_Size_um");
        assert_eq!(column_type("Plate", &["P1"]), "plate");
        assert_eq!(column_type("Well", &["B03"]), "well");
        assert_eq!(column_type("Number of Objects", &["12", "0"]), "l");
        assert_eq!(column_type("Size [µm²] Mean", &["12.5", "NaN"]), "d");
        assert_eq!(column_type("Status", &["ok", "failed images"]), "s");
        assert_eq!(column_type("Message", &[]), "s");
    }
}
