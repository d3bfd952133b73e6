//! `brightseg merge`: joins the output folders of several `find-nuclei` runs (the shards of a
//! batch, or several plates) into one `summary.csv` and one `objects.csv`, after checking that
//! they fit together: the same settings everywhere, and every image of each batch processed by
//! exactly one shard. With `--naming`, adds Plate, Well and Field columns and a per-well table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brightseg::measure::{ObjectMeasurement, PopulationStats};

use crate::batch::BatchRecord;
use crate::find_nuclei::{
    number, read_rows, summary_header, write_csv, Outcome, Outputs, SUMMARY_FILE,
};
use crate::naming::{Naming, PlatePosition};
use crate::MergeArgs;

/// What a well collects: its fields, its images and the sizes of its objects.
#[derive(Default)]
struct Well {
    fields: BTreeSet<String>,
    images: usize,
    sizes: Vec<f64>,
}

/// One output folder to merge.
struct Part {
    dir: PathBuf,
    record: BatchRecord,
    /// Summary rows by image file name.
    rows: HashMap<String, Vec<Vec<String>>>,
}

fn read_part(dir: &Path) -> Result<Part> {
    let record = BatchRecord::read(dir)?.with_context(|| {
        format!(
            "{} is not a find-nuclei output folder (no batch.yaml): give the --out folders of \
             find-nuclei runs",
            dir.display()
        )
    })?;
    let summary = dir.join(SUMMARY_FILE);
    if !summary.is_file() {
        bail!(
            "{} has no {SUMMARY_FILE}: its run did not finish; run it again (finished images are \
             skipped)",
            dir.display()
        );
    }
    let mut rows: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for row in read_rows(&summary)? {
        rows.entry(row[0].clone()).or_default().push(row);
    }
    Ok(Part {
        dir: dir.to_path_buf(),
        record,
        rows,
    })
}

fn object_header() -> Vec<String> {
    ["Image", "T", "Z"]
        .iter()
        .chain(ObjectMeasurement::COLUMNS.iter())
        .map(|s| (*s).to_owned())
        .collect()
}

/// Runs the merge.
pub fn run(args: &MergeArgs) -> Result<Outcome> {
    let naming = args.naming.as_deref().map(Naming::new).transpose()?;
    let parts: Vec<Part> = args
        .dirs
        .iter()
        .map(|d| read_part(d))
        .collect::<Result<_>>()?;
    // The same settings everywhere.
    for part in &parts[1..] {
        let diff = parts[0].record.settings.differences(&part.record.settings);
        if !diff.is_empty() {
            bail!(
                "mixed settings: {} and {} were made with different settings ({}); merge only \
                 outputs of one configuration",
                parts[0].dir.display(),
                part.dir.display(),
                diff.join("; ")
            );
        }
    }
    // Each batch (the same full input list) covered exactly once by its shards.
    let mut batches: Vec<(Vec<PathBuf>, Vec<usize>)> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match batches
            .iter_mut()
            .find(|(all, _)| *all == part.record.all_inputs)
        {
            Some((_, members)) => members.push(i),
            None => batches.push((part.record.all_inputs.clone(), vec![i])),
        }
    }
    let mut ordered: Vec<(usize, PathBuf)> = Vec::new();
    for (all, members) in &batches {
        let mut owner: HashMap<&PathBuf, usize> = HashMap::new();
        for &m in members {
            for input in &parts[m].record.inputs {
                if let Some(other) = owner.insert(input, m) {
                    bail!(
                        "{} was processed twice, in {} and in {}: each image must belong to one \
                         shard (same --shard n for all, each i once)",
                        input.display(),
                        parts[other].dir.display(),
                        parts[m].dir.display()
                    );
                }
            }
        }
        let missing: Vec<String> = all
            .iter()
            .filter(|p| !owner.contains_key(p))
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} image(s) of the batch are in none of the given folders (a shard is \
                 missing?): {}{}",
                missing.len(),
                missing[..missing.len().min(10)].join(", "),
                if missing.len() > 10 { ", …" } else { "" }
            );
        }
        for input in all {
            ordered.push((owner[input], input.clone()));
        }
    }

    let positions: Vec<PlatePosition> = match &naming {
        Some(n) => {
            let mut unmatched = 0usize;
            let p = ordered
                .iter()
                .map(|(_, input)| {
                    n.parse(input).unwrap_or_else(|| {
                        unmatched += 1;
                        PlatePosition::default()
                    })
                })
                .collect();
            if unmatched > 0 {
                log::warn!("{unmatched} image name(s) did not match --naming: their Plate, Well and Field are empty");
            }
            p
        }
        None => vec![PlatePosition::default(); ordered.len()],
    };
    // One order whatever order the folders were given in: by plate, well, field, then path.
    let mut entries: Vec<((usize, PathBuf), PlatePosition)> =
        ordered.into_iter().zip(positions).collect();
    entries.sort_by(|(a, pa), (b, pb)| (pa, &a.1).cmp(&(pb, &b.1)));
    let plate_columns = |pos: &PlatePosition| -> Vec<String> {
        if naming.is_some() {
            vec![pos.plate.clone(), pos.well.clone(), pos.field.clone()]
        } else {
            Vec::new()
        }
    };
    let lead: Vec<String> = if naming.is_some() {
        vec!["Plate".into(), "Well".into(), "Field".into()]
    } else {
        Vec::new()
    };

    let mut summary_rows = Vec::new();
    let mut object_rows = Vec::new();
    let mut wells: BTreeMap<(String, String), Well> = BTreeMap::new();
    let mut failed = 0usize;
    let area_index = 3 + 1; // Image, T, Z, Object, Area [µm²]
    for ((part_index, input), pos) in &entries {
        let part = &parts[*part_index];
        let name = crate::file_name(input);
        let rows = part.rows.get(&name).with_context(|| {
            format!(
                "{} has no result for {name} although it was given that image: run the shard \
                 again",
                part.dir.display()
            )
        })?;
        let mut ok = false;
        for row in rows {
            if row.get(4).is_some_and(|s| s == "ok") {
                ok = true;
            } else {
                failed += 1;
            }
            summary_rows.push(
                plate_columns(pos)
                    .into_iter()
                    .chain(row.iter().cloned())
                    .collect(),
            );
        }
        let well = wells
            .entry((pos.plate.clone(), pos.well.clone()))
            .or_default();
        well.fields.insert(pos.field.clone());
        well.images += 1;
        if ok {
            let objects = Outputs::for_input(&part.dir, input).objects;
            let mut reader = csv::Reader::from_path(&objects)
                .with_context(|| format!("cannot read {}", objects.display()))?;
            let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
            if header != object_header() {
                bail!(
                    "{} has other columns than this version writes",
                    objects.display()
                );
            }
            for record in reader.records() {
                let record: Vec<String> = record?.iter().map(str::to_owned).collect();
                if let Some(area) = record.get(area_index).and_then(|a| a.parse::<f64>().ok()) {
                    well.sizes.push(area);
                }
                object_rows.push(plate_columns(pos).into_iter().chain(record).collect());
            }
        }
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let with_lead = |h: Vec<String>| -> Vec<String> { lead.iter().cloned().chain(h).collect() };
    write_csv(
        &args.out.join(SUMMARY_FILE),
        &with_lead(summary_header()),
        &summary_rows,
    )?;
    write_csv(
        &args.out.join("objects.csv"),
        &with_lead(object_header()),
        &object_rows,
    )?;
    if naming.is_some() {
        let header: Vec<String> = ["Plate", "Well", "Fields", "Images"]
            .iter()
            .chain(PopulationStats::COLUMNS.iter())
            .map(|s| (*s).to_owned())
            .collect();
        let rows: Vec<Vec<String>> = wells
            .iter()
            .map(|((plate, name), well)| {
                let stats = PopulationStats::from_sizes(&well.sizes);
                [
                    plate.clone(),
                    name.clone(),
                    well.fields.len().to_string(),
                    well.images.to_string(),
                ]
                .into_iter()
                .chain(stats.values().iter().map(|v| number(*v)))
                .collect()
            })
            .collect();
        write_csv(&args.out.join("wells.csv"), &header, &rows)?;
    }
    eprintln!(
        "merged {} folder(s): {} image(s), {} object(s), {failed} failed plane(s) → {}",
        parts.len(),
        entries.len(),
        object_rows.len(),
        args.out.display()
    );
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::AllDone
    })
}
