//! `brightseg merge`: joins the output folders of several `find-nuclei` runs (the shards of a
//! batch, or several plates) into one `summary.csv` and one `objects.csv`, after checking that
//! they fit together: the same settings everywhere, and every image of each batch processed by
//! exactly one shard. With `--naming`, adds Plate, Well and Field columns, a per-well table and
//! a plate map of the nucleus count per plate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brightseg::harmony::well_name;
use brightseg::measure::{ObjectMeasurement, PopulationStats};
use brightseg::plate_map::{parse_well, PlateFormat};

use crate::batch::BatchRecord;
use crate::find_nuclei::{
    number, read_rows, summary_header, write_csv, Outcome, Outputs, SUMMARY_FILE,
};
use crate::naming::{ImageName, Naming, PlatePosition};
use crate::MergeArgs;

/// What a well collects: its fields, its images (and how many of them failed) and, per plane
/// (time point, Z plane), the sizes of its objects: summed over fields, never over time points
/// or Z planes (each plane of a stack holds the same nuclei again).
#[derive(Default)]
struct Well {
    fields: BTreeSet<String>,
    images: usize,
    failed: usize,
    sizes_by_plane: BTreeMap<WellPlane, Vec<f64>>,
}

/// A plane of a well: (time point, Z plane), both from 1.
type WellPlane = (usize, usize);

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

/// The wells.csv rows of a well: one per plane (time point, Z plane) it has (1, 1 when no image
/// of it could be read), each with the well's fields, images and failed images.
fn well_rows_of((plate, name): &(String, String), well: &Well) -> Vec<Vec<String>> {
    let none = BTreeMap::from([((1, 1), Vec::new())]);
    let planes = if well.sizes_by_plane.is_empty() {
        &none
    } else {
        &well.sizes_by_plane
    };
    planes
        .iter()
        .map(|((t, z), sizes)| {
            let stats = PopulationStats::from_sizes(sizes);
            [
                plate.clone(),
                name.clone(),
                t.to_string(),
                z.to_string(),
                well.fields.len().to_string(),
                well.images.to_string(),
                well.failed.to_string(),
                if well.failed > 0 {
                    FAILED_STATUS
                } else {
                    OK_STATUS
                }
                .to_owned(),
            ]
            .into_iter()
            .chain(stats.values().iter().map(|v| number(*v)))
            .collect()
        })
        .collect()
}

/// The file in a merged folder that lists the find-nuclei folders it was merged from.
const SOURCES_FILE: &str = "merged-from.txt";

/// The find-nuclei folders `merged` (a merge --out folder) was merged from.
pub(crate) fn source_folders(merged: &Path) -> Result<Vec<PathBuf>> {
    let list = merged.join(SOURCES_FILE);
    let text = std::fs::read_to_string(&list).with_context(|| {
        format!(
            "cannot read {}: merge the folders again with this version of brightseg",
            list.display()
        )
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .collect())
}

/// Status of a well whose images were all segmented.
const OK_STATUS: &str = "ok";
/// Status of a well some of whose images failed (its counts miss them).
const FAILED_STATUS: &str = "failed images";
/// Status of a well of the plate's layout that no image came from.
pub(crate) const EMPTY_STATUS: &str = "no images";

/// Adds a row (Status "no images", no counts) for every well of each plate's layout that has
/// none, at each of the plate's planes (time point, Z), so that a well never imaged is a row of the table
/// too; rows stay in well order. The layout is the one `layouts` gives for the plate (read from
/// the instrument's plate file), else the smallest screening plate holding its wells. A plate
/// with a well name that is not one (images the naming scheme did not match) keeps its rows as
/// they are.
fn with_empty_wells(
    rows: Vec<Vec<String>>,
    layouts: &HashMap<String, PlateFormat>,
) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    let mut rest = rows.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut plate = vec![first];
        while rest.peek().is_some_and(|r| r[0] == plate[0][0]) {
            plate.extend(rest.next());
        }
        let placed: Option<Vec<(u32, u32)>> = plate.iter().map(|r| parse_well(&r[1])).collect();
        let Some(placed) = placed else {
            out.extend(plate);
            continue;
        };
        let layout = layouts
            .get(&plate[0][0])
            .copied()
            .unwrap_or_else(|| PlateFormat::holding(placed.iter().copied()));
        let mut planes: Vec<(String, String)> = Vec::new();
        for r in &plate {
            let tz = (r[2].clone(), r[3].clone());
            if !planes.contains(&tz) {
                planes.push(tz);
            }
        }
        let width = plate[0].len();
        let name = plate[0][0].clone();
        let mut keyed: Vec<((u32, u32), Vec<String>)> = placed.into_iter().zip(plate).collect();
        for row in 1..=layout.rows {
            for column in 1..=layout.columns {
                if keyed.iter().any(|(at, _)| *at == (row, column)) {
                    continue;
                }
                for (t, z) in &planes {
                    let mut empty = vec![
                        name.clone(),
                        well_name(row, column),
                        t.clone(),
                        z.clone(),
                        "0".to_owned(),
                        "0".to_owned(),
                        "0".to_owned(),
                        EMPTY_STATUS.to_owned(),
                    ];
                    empty.resize(width, String::new());
                    keyed.push(((row, column), empty));
                }
            }
        }
        // Stable: a well's planes keep their order.
        keyed.sort_by_key(|(at, _)| *at);
        out.extend(keyed.into_iter().map(|(_, r)| r));
    }
    out
}

/// The columns of wells.csv.
pub(crate) fn wells_header() -> Vec<String> {
    [
        "Plate",
        "Well",
        "T",
        "Z",
        "Fields",
        "Images",
        "Failed Images",
        "Status",
    ]
    .iter()
    .chain(PopulationStats::COLUMNS.iter())
    .map(|s| (*s).to_owned())
    .collect()
}

/// The time point of the well that an image's own time point `t` (from 1) falls in: the one
/// its file name gives, when the naming gives one (a file per time point), counted on from
/// there.
fn plate_time(name: &ImageName, t: usize) -> usize {
    name.time.map_or(t, |first| first + t.saturating_sub(1))
}

/// The plane of the well (time point, Z plane) of an image's own plane (`t`, `z`, from 1): each
/// counted on from the one its file name gives, when the naming gives one (a file per plane).
fn plate_plane(name: &ImageName, t: usize, z: usize) -> WellPlane {
    (
        plate_time(name, t),
        name.plane.map_or(z, |first| first + z.saturating_sub(1)),
    )
}

/// The (T, Z) of a summary or objects row whose T and Z are in columns `t` and `t + 1`.
fn row_plane<'a>(mut at: impl FnMut(usize) -> Option<&'a str>, t: usize) -> Option<WellPlane> {
    let number = |v: Option<&str>| v.and_then(|v| v.parse::<usize>().ok());
    Some((number(at(t))?, number(at(t + 1))?))
}

/// Appends the summary rows of `input` (one per plane) and notes the time points of those that
/// succeeded in `well`; true when its planes all succeeded.
fn add_summary_rows(
    part: &Part,
    input: &Path,
    name: &ImageName,
    plate_columns: &dyn Fn(&PlatePosition) -> Vec<String>,
    summary_rows: &mut Vec<Vec<String>>,
    failed: &mut usize,
    well: &mut Well,
) -> Result<bool> {
    let file = crate::image_name(input);
    let rows = part.rows.get(&file).with_context(|| {
        format!(
            "{} has no result for {file} although it was given that image: run the shard again",
            part.dir.display()
        )
    })?;
    let mut ok = true;
    for row in rows {
        if row.get(4).is_none_or(|s| s != "ok") {
            ok = false;
            *failed += 1;
        } else if let Some((t, z)) = row_plane(|i| row.get(i).map(String::as_str), 2) {
            // A plane with no nuclei still gets its row (a count of 0).
            well.sizes_by_plane
                .entry(plate_plane(name, t, z))
                .or_default();
        }
        summary_rows.push(
            plate_columns(&name.position)
                .into_iter()
                .chain(row.iter().cloned())
                .collect(),
        );
    }
    Ok(ok)
}

/// Copies the objects of `input` into `writer`, collecting their areas; returns how many.
fn stream_objects<W: std::io::Write>(
    part: &Part,
    input: &Path,
    name: &ImageName,
    plate_columns: &dyn Fn(&PlatePosition) -> Vec<String>,
    writer: &mut csv::Writer<W>,
    well: &mut Well,
) -> Result<usize> {
    const T: usize = 1; // Image, T, Z, Object, Area [µm²]: Z follows T
    const AREA: usize = 4;
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
    let lead = plate_columns(&name.position);
    let mut n = 0;
    for record in reader.records() {
        let record = record?;
        if let (Some(area), Some((t, z))) = (
            record.get(AREA).and_then(|a| a.parse::<f64>().ok()),
            row_plane(|i| record.get(i), T),
        ) {
            well.sizes_by_plane
                .entry(plate_plane(name, t, z))
                .or_default()
                .push(area);
        }
        writer.write_record(lead.iter().map(String::as_str).chain(record.iter()))?;
        n += 1;
    }
    Ok(n)
}

/// Refuses images of several channels (by the naming's `channel` group): their nuclei would be
/// counted twice in their wells, once per channel.
fn refuse_mixed_channels(ordered: &[(usize, PathBuf)], names: &[ImageName]) -> Result<()> {
    let mut first_of: BTreeMap<u32, &Path> = BTreeMap::new();
    for ((_, input), name) in ordered.iter().zip(names) {
        if let Some(channel) = name.channel {
            first_of.entry(channel).or_insert(input);
        }
    }
    if first_of.len() > 1 {
        let listed: Vec<String> = first_of
            .iter()
            .map(|(c, p)| format!("channel {c} (e.g. {})", p.display()))
            .collect();
        bail!(
            "the folders hold results of images of several channels: {}; their nuclei would be \
             counted once per channel in each well. Segment one channel: run find-nuclei with \
             --naming and --channel (e.g. --naming metaxpress --channel 1)",
            listed.join(", ")
        );
    }
    Ok(())
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

    let names: Vec<ImageName> = match &naming {
        Some(n) => {
            let mut unmatched = 0usize;
            let p = ordered
                .iter()
                .map(|(_, input)| {
                    n.parse(input).unwrap_or_else(|| {
                        unmatched += 1;
                        ImageName::default()
                    })
                })
                .collect();
            if unmatched > 0 {
                log::warn!("{unmatched} image name(s) did not match --naming: their Plate, Well and Field are empty");
            }
            p
        }
        None => vec![ImageName::default(); ordered.len()],
    };
    refuse_mixed_channels(&ordered, &names)?;
    // One order whatever order the folders were given in: by plate, well, field, then path.
    let mut entries: Vec<((usize, PathBuf), ImageName)> = ordered.into_iter().zip(names).collect();
    entries.sort_by(|(a, na), (b, nb)| (&na.position, &a.1).cmp(&(&nb.position, &b.1)));
    // The layout of each plate, where the instrument's plate file beside its images gives one.
    let mut layouts: HashMap<String, PlateFormat> = HashMap::new();
    if naming.is_some() {
        let mut looked: BTreeSet<&str> = BTreeSet::new();
        for ((_, input), name) in &entries {
            let plate = name.position.plate.as_str();
            if looked.insert(plate) {
                let own = crate::series::placed(input)
                    .and_then(|p| p.place.plate_size)
                    .and_then(|(rows, columns)| PlateFormat::drawable(rows, columns));
                if let Some(layout) = own.or_else(|| PlateFormat::beside(input)) {
                    log::info!(
                        "plate {plate:?}: {} × {} wells, as its plate metadata says",
                        layout.rows,
                        layout.columns
                    );
                    layouts.insert(plate.to_owned(), layout);
                }
            }
        }
    }
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

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let with_lead = |h: Vec<String>| -> Vec<String> { lead.iter().cloned().chain(h).collect() };
    // Objects stream straight into objects.csv (a screen has far too many to hold), and since
    // entries are sorted by plate and well, each well is complete when the next one starts.
    let mut summary_rows = Vec::new();
    let mut well_rows: Vec<Vec<String>> = Vec::new();
    let mut failed = 0usize;
    let mut object_count = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    let objects_path = args.out.join("objects.csv");
    brightseg::io::write_atomically(&objects_path, |file| {
        let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let mut stream = || -> Result<()> {
            writer.write_record(with_lead(object_header()))?;
            let mut current: Option<((String, String), Well)> = None;
            for ((part_index, input), name) in &entries {
                let part = &parts[*part_index];
                let pos = &name.position;
                let key = (pos.plate.clone(), pos.well.clone());
                if current.as_ref().is_none_or(|(k, _)| *k != key) {
                    if let Some((k, well)) = current.take() {
                        well_rows.extend(well_rows_of(&k, &well));
                    }
                    current = Some((key, Well::default()));
                }
                let Some((_, well)) = current.as_mut() else {
                    continue;
                };
                let ok = add_summary_rows(
                    part,
                    input,
                    name,
                    &plate_columns,
                    &mut summary_rows,
                    &mut failed,
                    well,
                )?;
                well.fields.insert(pos.field.clone());
                well.images += 1;
                if ok {
                    object_count +=
                        stream_objects(part, input, name, &plate_columns, &mut writer, well)?;
                } else {
                    well.failed += 1;
                }
            }
            if let Some((k, well)) = current.take() {
                well_rows.extend(well_rows_of(&k, &well));
            }
            writer.flush()?;
            Ok(())
        };
        stream().map_err(|e| {
            failure = Some(e);
            std::io::Error::other("merge stopped")
        })
    })
    .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
    write_csv(
        &args.out.join(SUMMARY_FILE),
        &with_lead(summary_header()),
        &summary_rows,
    )?;
    let sources: String = parts
        .iter()
        .map(|p| {
            let dir = std::fs::canonicalize(&p.dir).unwrap_or_else(|_| p.dir.clone());
            format!("{}\n", dir.display())
        })
        .collect();
    brightseg::io::write_bytes_atomically(&args.out.join(SOURCES_FILE), sources.as_bytes())?;
    if naming.is_some() {
        let wells = args.out.join("wells.csv");
        write_csv(
            &wells,
            &wells_header(),
            &with_empty_wells(well_rows, &layouts),
        )?;
        let maps = args.out.join(crate::plate_map::FOLDER);
        // The tables matter more than the pictures: a map that cannot be drawn is a warning.
        if let Err(e) = crate::plate_map::write_plate_maps(
            &wells,
            crate::plate_map::DEFAULT_COLUMN,
            None,
            &maps,
        ) {
            log::warn!("plate maps not drawn: {e:#}");
        }
    }
    eprintln!(
        "merged {} folder(s): {} image(s), {} object(s), {failed} failed plane(s) → {}",
        parts.len(),
        entries.len(),
        object_count,
        args.out.display()
    );
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::AllDone
    })
}
