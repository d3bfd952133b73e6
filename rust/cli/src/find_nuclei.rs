//! `brightseg find-nuclei`: a resumable batch over images, writing per-image outputs and one
//! summary table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brightseg::banded::{self, find_nuclei_in_bands, BAND_MARGIN};
use brightseg::harmony;
use brightseg::image::Calibration;
use brightseg::image::Plane;
use brightseg::io::{self, PngRows, RawKind, RawPlanes};
use brightseg::measure::{
    ObjectMeasurement, PopulationStats, POOR_FIT_MESSAGE, SUMMARY_LEAD_COLUMNS,
    SUMMARY_TAIL_COLUMNS, UNCALIBRATED_MESSAGE,
};
use brightseg::pipeline::{find_nuclei, Findings, Model, NucleiParams, Progress, Stage};
use brightseg::render::{overlay_rgb, OverlayRows};
use indicatif::{ProgressBar, ProgressStyle};

use crate::batch::{BatchRecord, Settings};
use crate::naming::Naming;
use crate::FindNucleiArgs;

/// How a batch ended when it could start at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every image was processed (or already was).
    AllDone,
    /// Some images failed; they are listed in the summary with their error.
    SomeFailed,
}

pub(crate) const SUMMARY_FILE: &str = "summary.csv";

/// What a run finds: the outputs are the same, artifacts add the share of the image covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// Nuclei (split when touching).
    Nuclei,
    /// Artifacts (never split).
    Artifacts,
}

impl Population {
    fn noun(self) -> &'static str {
        match self {
            Population::Nuclei => "nuclei",
            Population::Artifacts => "artifacts",
        }
    }
}

/// Column the artifact summary adds after the settings.
pub(crate) const COVERED_COLUMN: &str = "Area Covered [%]";

/// `brightseg find-artifacts`: find-nuclei's batch for the population "Artifacts".
pub fn run_artifacts(mut args: FindNucleiArgs) -> Result<Outcome> {
    if args.exclude_artifacts.is_some() {
        bail!("--exclude-artifacts belongs to find-nuclei: find-artifacts finds the artifacts");
    }
    args.no_split = true;
    run_population(&args, Population::Artifacts)
}

/// Output file names of one input image.
pub(crate) struct Outputs {
    labels: PathBuf,
    probability: PathBuf,
    pub(crate) objects: PathBuf,
    summary: PathBuf,
    overlay_stem: PathBuf,
}

impl Outputs {
    pub(crate) fn for_input(out: &Path, input: &Path) -> Self {
        let full = crate::image_name(input).replace('/', "_");
        // A series of a multi-series OME-TIFF (`plate.ome.tif#3`): `plate_s3_labels.tif`, ….
        let (name, series) = match full.rsplit_once('#') {
            Some((file, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (file.to_owned(), format!("_s{n}"))
            }
            _ => (full.clone(), String::new()),
        };
        let lower = name.to_ascii_lowercase();
        let stem = [
            ".ome.zarr",
            ".zarr",
            ".ome.tiff",
            ".ome.tif",
            ".tiff",
            ".tif",
            ".png",
            ".jpeg",
            ".jpg",
        ]
        .iter()
        .find(|ext| lower.ends_with(*ext))
        .map_or(name.as_str(), |ext| &name[..name.len() - ext.len()]);
        let f = |suffix: &str| out.join(format!("{stem}{series}{suffix}"));
        Outputs {
            labels: f("_labels.tif"),
            probability: f("_probability.tif"),
            objects: f("_objects.csv"),
            summary: f("_summary.csv"),
            overlay_stem: f("_overlay"),
        }
    }

    fn overlay(&self, t: usize, z: usize, planes: usize) -> PathBuf {
        let stem = self.overlay_stem.to_string_lossy();
        if planes == 1 {
            PathBuf::from(format!("{stem}.png"))
        } else {
            PathBuf::from(format!("{stem}_t{}_z{}.png", t + 1, z + 1))
        }
    }

    /// True when a previous run finished this image with the outputs now asked for. The
    /// per-image summary is written last, so its presence means the rest is complete.
    fn complete(&self, args: &FindNucleiArgs) -> bool {
        self.summary.is_file()
            && self.labels.is_file()
            && self.objects.is_file()
            && (!args.probability || self.probability.is_file())
            && (!args.overlay || self.overlay(0, 0, 1).is_file() || self.overlay(0, 0, 2).is_file())
    }
}

/// The labels TIFF find-nuclei writes into `out` for `input`.
pub(crate) fn labels_path(out: &Path, input: &Path) -> PathBuf {
    Outputs::for_input(out, input).labels
}

/// What an export's index says about one of its image files.
#[derive(Debug, Clone)]
struct ExportImage {
    /// The pixel size of its channel.
    calibration: Calibration,
    /// Its channel as the summary names it: number and name in the export, `1 (Brightfield)`.
    channel_label: String,
}

/// The images of a batch, and what export indexes said about those that came from one.
struct Inputs {
    files: Vec<PathBuf>,
    exports: HashMap<PathBuf, ExportImage>,
}

/// Expands folders (sorted, non-recursive) and keeps files as given. A Harmony / Opera Phenix /
/// Operetta export (a folder holding `Index.idx.xml` or `Index.xml`, or its `Images` folder, or
/// the index file itself) gives the files of the chosen channel (`channel`: a name or number
/// from its index), with its pixel size. With a `naming` whose names carry the channel, the
/// other files are those of the chosen channel (see [`files_of_channel`]).
fn expand_inputs(
    inputs: &[PathBuf],
    channel: Option<&str>,
    naming: Option<&Naming>,
) -> Result<Inputs> {
    let mut files = Vec::new();
    let mut exports = HashMap::new();
    for input in inputs {
        if let Some(index_file) = harmony::find_index(input) {
            let index = harmony::read_index(&index_file)?;
            let chosen = index.resolve_channel(channel)?;
            let images = index.images_of(chosen.id);
            let wells: std::collections::BTreeSet<(u32, u32)> =
                images.iter().map(|i| (i.row, i.column)).collect();
            let pixel = match chosen.calibration.pixel_width_um {
                Some(um) => format!("{um:.4} µm per pixel"),
                None => "no pixel size in the index".to_owned(),
            };
            log::info!(
                "{}: plate {:?}, channel {} {:?}: {} image(s) in {} well(s), {pixel}{}",
                index_file.display(),
                index.plate,
                chosen.id,
                chosen.name,
                images.len(),
                wells.len(),
                if index.missing > 0 {
                    format!("; {} entries without a file", index.missing)
                } else {
                    String::new()
                }
            );
            let described = ExportImage {
                calibration: chosen.calibration,
                channel_label: if chosen.name.is_empty() {
                    chosen.id.to_string()
                } else {
                    format!("{} ({})", chosen.id, chosen.name)
                },
            };
            for image in images {
                exports.insert(image.path.clone(), described.clone());
                files.push(image.path.clone());
            }
        } else if input.is_dir() && !brightseg::ome_zarr::is_zarr(input) {
            // Image files, and OME-Zarr stores (a folder of plates).
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            (p.is_file() && io::is_supported_image_name(p))
                                || brightseg::ome_zarr::is_zarr(p)
                        })
                        .collect()
                })
                .unwrap_or_default();
            if found.is_empty() {
                log::warn!(
                    "{} holds no TIFF, PNG or JPEG images nor OME-Zarr stores",
                    input.display()
                );
            }
            found.sort();
            for file in found {
                files.extend(crate::series::inputs_of(&file));
            }
        } else {
            files.extend(crate::series::inputs_of(input));
        }
    }
    if let Some(naming) = naming {
        files = files_of_channel(files, naming, channel, &mut exports)?;
    }
    Ok(Inputs { files, exports })
}

/// Of `files` that each hold one channel of a plate, named by `naming`, those of the chosen
/// channel (`channel`: its number, or the name the plate's MetaXpress `.HTD` gives it; needed
/// when the files hold several), each noted in `exports` with its channel's label. Files the
/// naming does not match and MetaXpress thumbnails (`_thumb` in the name) are skipped; files
/// already described by an export index are kept as they are.
fn files_of_channel(
    files: Vec<PathBuf>,
    naming: &Naming,
    channel: Option<&str>,
    exports: &mut HashMap<PathBuf, ExportImage>,
) -> Result<Vec<PathBuf>> {
    let total = files.len();
    let mut named: Vec<(PathBuf, Option<u32>)> = Vec::with_capacity(total);
    let mut skipped = 0usize;
    for file in files {
        if exports.contains_key(&file) {
            named.push((file, None));
            continue;
        }
        let thumbnail = crate::file_name(&file)
            .to_ascii_lowercase()
            .contains("_thumb");
        match naming.parse(&file) {
            Some(name) if !thumbnail => named.push((file, name.channel)),
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        log::warn!(
            "{skipped} of {total} file(s) do not match --naming (or are thumbnails): skipped"
        );
    }
    let channels: std::collections::BTreeSet<u32> = named.iter().filter_map(|(_, c)| *c).collect();
    if channels.is_empty() {
        return Ok(named.into_iter().map(|(f, _)| f).collect());
    }
    // Channel names from the plate's MetaXpress file, where there is one.
    let htd = named.iter().find_map(|(f, c)| {
        c.and_then(|_| brightseg::metaxpress::find_htd(f.parent()?))
            .and_then(|path| brightseg::metaxpress::read_htd(&path).ok())
    });
    let label = |c: u32| match htd.as_ref().and_then(|h| h.wave_name(c)) {
        Some(name) => format!("{c} ({name})"),
        None => c.to_string(),
    };
    let listing = channels
        .iter()
        .map(|&c| label(c))
        .collect::<Vec<_>>()
        .join(", ");
    let chosen = match channel {
        None if channels.len() == 1 => channels.first().copied(),
        None => bail!(
            "the plate's files hold {} channels: {listing}; choose the transmitted-light one \
             with --channel (number or name)",
            channels.len()
        ),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|c| channels.contains(c))
            .or_else(|| htd.as_ref().and_then(|h| h.wave_number(text)))
            .filter(|c| channels.contains(c)),
    };
    let Some(chosen) = chosen else {
        bail!(
            "--channel {}: the plate's files hold channels {listing}",
            channel.unwrap_or_default()
        );
    };
    let described = ExportImage {
        calibration: Calibration::default(),
        channel_label: label(chosen),
    };
    let mut kept = Vec::new();
    for (file, c) in named {
        match c {
            Some(c) if c == chosen => {
                exports.insert(file.clone(), described.clone());
                kept.push(file);
            }
            None if exports.contains_key(&file) => kept.push(file),
            _ => {}
        }
    }
    log::info!(
        "--naming: channel {}, {} of {total} file(s)",
        described.channel_label,
        kept.len()
    );
    Ok(kept)
}

fn check_output_folder(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| {
        format!(
            "cannot create output folder {}: choose a writable --out",
            out.display()
        )
    })?;
    let probe = io::temp_path_for(&out.join("brightseg-write-test"));
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "output folder {} is not writable: choose another --out",
            out.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    // A batch that was killed (power cut, scheduler time limit) leaves at most the temporary
    // files it was writing; the finished outputs are complete, the rest is redone.
    io::remove_stale_partials(out)?;
    Ok(())
}

/// Runs the batch (`brightseg find-nuclei`).
pub fn run(args: &FindNucleiArgs) -> Result<Outcome> {
    run_population(args, Population::Nuclei)
}

/// What every image of a batch is processed with.
struct Job<'a> {
    model: &'a Model,
    params: &'a NucleiParams,
    args: &'a FindNucleiArgs,
    population: Population,
    /// The artifact model whose objects exclude nuclei (find-nuclei --exclude-artifacts).
    artifacts: Option<&'a Model>,
    /// What export indexes said about the images that came from one.
    exports: &'a HashMap<PathBuf, ExportImage>,
    /// The end of a "may not suit" warning, worked out (a search for the generalist model) the
    /// first time a plane is flagged, then kept for the run.
    poor_fit_hint: &'a std::sync::OnceLock<String>,
}

fn run_population(args: &FindNucleiArgs, population: Population) -> Result<Outcome> {
    let params = NucleiParams {
        threshold: args.threshold,
        min_size_um2: args.min_size,
        split: !args.no_split,
        split_depth_px: args.split_depth,
        refine: args.refine,
        accept_any_pixel_size: args.accept_pixel_size,
    };
    params.validate()?;
    if let Some(ps) = args.pixel_size {
        if !ps.is_finite() || ps <= 0.0 {
            bail!("pixel size {ps} µm is invalid: give a positive number such as 0.65");
        }
    }
    if args.jobs == Some(0) {
        bail!("--jobs 0 is invalid: give at least 1 thread");
    }
    let Inputs {
        files: all_inputs,
        exports,
    } = expand_inputs(
        &args.inputs,
        args.channel.as_deref(),
        args.naming
            .as_deref()
            .map(Naming::new)
            .transpose()?
            .as_ref(),
    )?;
    if all_inputs.is_empty() {
        bail!("no images to process: give image files or folders holding TIFF, PNG or JPEG files");
    }
    let mut seen = std::collections::HashMap::new();
    for input in &all_inputs {
        let labels = Outputs::for_input(&args.out, input).labels;
        if let Some(other) = seen.insert(labels, input.clone()) {
            bail!(
                "{} and {} would write the same output files: rename one or run them with \
                 different --out folders",
                other.display(),
                input.display()
            );
        }
    }
    let inputs: Vec<PathBuf> = match args.shard {
        Some(shard) => all_inputs
            .iter()
            .filter(|p| shard.contains(p))
            .cloned()
            .collect(),
        None => all_inputs.clone(),
    };
    if let Some(shard) = args.shard {
        log::info!(
            "shard {shard}: {} of {} images",
            inputs.len(),
            all_inputs.len()
        );
    }
    check_output_folder(&args.out)?;
    let model_path = crate::models::resolve(&args.model)?;
    let mut model = Model::load_with(&model_path, &args.engine.options(args.jobs.unwrap_or(0)))?;
    let budget = args.memory_budget.unwrap_or_default();
    model.set_memory_budget(budget);
    if let Some(size) = args.tile_size {
        model.set_tile_size(size)?;
    }
    log::info!("memory budget {budget}");
    let artifact_model = match &args.exclude_artifacts {
        Some(name) => {
            let path = crate::models::resolve(name)?;
            let mut m = Model::load_with(&path, &args.engine.options(args.jobs.unwrap_or(0)))?;
            m.set_memory_budget(budget);
            log::info!(
                "excluding nuclei that overlap artifacts of {}",
                m.card().name
            );
            Some(m)
        }
        None => None,
    };
    log::info!(
        "model {} on {}",
        model.card().name,
        model.backend_description()
    );
    let model_split_depth_px = model.card().defaults.split_depth_px;
    let record = BatchRecord {
        brightseg_version: env!("CARGO_PKG_VERSION").to_owned(),
        settings: Settings {
            model: model.card().name.clone(),
            threshold: args.threshold,
            min_size_um2: args.min_size,
            channel: args.channel.clone(),
            pixel_size_um: args.pixel_size,
            split: !args.no_split,
            // The depth the outputs are made with: asking for the model's own is no change.
            split_depth_px: Some(args.split_depth.unwrap_or(model_split_depth_px)),
            refine: args.refine.map(|r| r.to_string()),
            exclude_artifacts: artifact_model.as_ref().map(|m| m.card().name.clone()),
        },
        shard: args.shard.map(|s| s.to_string()),
        all_inputs,
        inputs: inputs.clone(),
    };
    record.check_compatible(&args.out, args.overwrite, model_split_depth_px)?;
    record.write(&args.out)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(inputs.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images · {elapsed} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut failed = 0usize;
    let mut nuclei = 0usize;
    let poor_fit_hint = std::sync::OnceLock::new();
    for input in &inputs {
        let name = crate::image_name(input);
        let outputs = Outputs::for_input(&args.out, input);
        bar.set_message(name.clone());
        if !args.overwrite && outputs.complete(args) {
            match read_rows_of(&outputs.summary, population) {
                Ok(previous) => {
                    log::info!("{name}: outputs exist, skipped");
                    rows.extend(previous);
                    bar.inc(1);
                    continue;
                }
                Err(e) => log::warn!("{name}: redoing it ({e:#})"),
            }
        }
        let job = Job {
            model: &model,
            params: &params,
            args,
            population,
            artifacts: artifact_model.as_ref(),
            exports: &exports,
            poor_fit_hint: &poor_fit_hint,
        };
        let result = pool.install(|| process_image(input, &outputs, &job, &bar));
        match result {
            Ok((image_rows, n)) => {
                nuclei += n;
                rows.extend(image_rows);
            }
            Err(e) => {
                failed += 1;
                let message = with_flag_hint(&e);
                bar.suspend(|| eprintln!("error: {}: {message}", input.display()));
                let mut row = vec![name, String::new(), String::new(), String::new()];
                row.push("error".to_owned());
                row.push(message);
                row.resize(summary_header_of(population).len(), String::new());
                rows.push(row);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary_path = args.out.join(SUMMARY_FILE);
    write_csv(&summary_path, &summary_header_of(population), &rows)?;
    if !args.quiet {
        eprintln!(
            "{} image(s), {nuclei} {} found in this run, {failed} failed, on {} → {}",
            inputs.len(),
            population.noun(),
            model.backend_description(),
            summary_path.display()
        );
    }
    if args.report_peak_memory {
        if let Some(kb) = crate::bench::peak_rss_kb() {
            eprintln!("peak_rss_kb={kb}");
        }
    }
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::AllDone
    })
}

/// The error's message; for an image over the memory budget, followed by the flags that do
/// what the message advises (worker threads and tiles only help while finding nuclei, not
/// while reading the file).
fn with_flag_hint(e: &anyhow::Error) -> String {
    let over_budget = e.chain().any(|cause| {
        cause
            .downcast_ref::<brightseg::Error>()
            .is_some_and(|b| b.kind() == brightseg::ErrorKind::ResourceLimit)
    });
    let message = format!("{e:#}");
    if !over_budget {
        message
    } else if message.contains("fewer worker threads or smaller tiles") {
        format!("{message} (--jobs, --tile-size, --memory-budget)")
    } else if message.contains("fewer worker threads") {
        format!("{message} (--jobs, --memory-budget)")
    } else if message.contains("smaller tiles") {
        format!("{message} (--tile-size, --memory-budget)")
    } else {
        format!("{message} (--memory-budget)")
    }
}

pub(crate) fn summary_header() -> Vec<String> {
    summary_header_of(Population::Nuclei)
}

fn summary_header_of(population: Population) -> Vec<String> {
    let mut header: Vec<String> = SUMMARY_LEAD_COLUMNS
        .iter()
        .chain(PopulationStats::COLUMNS.iter())
        .chain(SUMMARY_TAIL_COLUMNS.iter())
        .map(|s| (*s).to_owned())
        .collect();
    if population == Population::Artifacts {
        header.push(COVERED_COLUMN.to_owned());
    }
    header
}

pub(crate) fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v}")
    }
}

/// Processes one image: every (t, z) plane of the chosen channel. Returns its summary rows and
/// the number of nuclei.
/// What one plane gave, once its label and probability rows went to their files.
struct PlaneOutcome {
    t: usize,
    z: usize,
    found: Findings,
    covered_percent: f64,
    /// Nuclei dropped for overlapping artifacts (with --exclude-artifacts).
    excluded: Option<usize>,
    /// Objects cut at band edges (band-by-band planes only).
    cut: usize,
}

/// Band height for a plane, or `None` to process it whole.
fn band_rows(job: &Job<'_>, plane: &Plane, calibration: Calibration) -> Result<Option<usize>> {
    let size = (plane.width(), plane.height());
    if job.artifacts.is_some() {
        // Excluding artifacts needs the whole plane.
        return Ok(None);
    }
    match job.args.band_rows {
        Some(0) => Ok(None),
        // Refining the mask by the image needs the whole plane.
        Some(rows) => Ok(banded::supports(job.model, calibration, job.params)?.then_some(rows)),
        None => Ok(banded::default_band_rows(
            job.model,
            size,
            calibration,
            job.params,
        )?),
    }
}

fn process_image(
    input: &Path,
    outputs: &Outputs,
    job: &Job<'_>,
    bar: &ProgressBar,
) -> Result<(Vec<Vec<String>>, usize)> {
    let (model, params, args) = (job.model, job.params, job.args);
    let name = crate::image_name(input);
    let image = crate::series::read_input(input, model.memory_budget())?;
    let export = job.exports.get(input);
    // An export's files hold one channel each: --channel chose the files.
    let channel = match export {
        Some(_) => image.resolve_channel(None)?,
        None => image.resolve_channel(args.channel.as_deref())?,
    };
    let calibration = match (args.pixel_size, export) {
        (Some(ps), _) => Calibration::square(ps),
        (None, Some(e)) if e.calibration.pixel_area_um2().is_some() => e.calibration,
        (None, _) => image.calibration,
    };
    if calibration.pixel_area_um2().is_none() {
        bar.suspend(|| {
            log::warn!("{name}: no pixel size in the file; assuming 1 µm (set --pixel-size)")
        });
    }
    let planes: Vec<(usize, usize)> = (0..image.frames())
        .flat_map(|t| (0..image.slices()).map(move |z| (t, z)))
        .collect();
    let (w, h) = (image.width(), image.height());
    // Label and probability rows go to temporary files next to the outputs, plane by plane,
    // so no more than one plane's maps (or one band's) is held in memory.
    let out_dir = outputs.labels.parent().unwrap_or_else(|| Path::new("."));
    let mut label_rows = RawPlanes::new_in(out_dir)?;
    let mut probability_rows = if args.probability {
        Some(RawPlanes::new_in(out_dir)?)
    } else {
        None
    };
    // An OME-Zarr image gets its labels written back into the store (labels/brightseg), for
    // napari and MoBIE; a store that cannot take them (read-only) keeps the TIFF outputs only.
    let zarr_labels = crate::series::zarr_image(input).and_then(|(root, group)| {
        brightseg::ome_zarr::LabelsWriter::create(&root, &group)
            .map_err(|e| {
                bar.suspend(|| log::warn!("{name}: labels not written into the store: {e}"))
            })
            .ok()
    });
    let mut outcomes: Vec<PlaneOutcome> = Vec::new();
    // Artifacts take their model's defaults and are never split.
    let artifact_params = NucleiParams {
        split: false,
        accept_any_pixel_size: params.accept_any_pixel_size,
        ..NucleiParams::default()
    };
    for &(t, z) in &planes {
        let plane = image.plane(channel, z, t);
        let label = plane_label(&name, t, z, planes.len());
        let report = |p: Progress| {
            if p.stage == Stage::Inference {
                bar.set_message(format!("{name}: tile {}/{}", p.done, p.total));
            }
        };
        if let Some(rows) = band_rows(job, plane, calibration)? {
            bar.suspend(|| {
                log::info!("{label}: {w} × {h} pixels, objects found in bands of {rows} rows")
            });
            // The overlay is drawn and compressed as the bands arrive.
            let mut overlay = if args.overlay {
                let png = PngRows::create(&outputs.overlay(t, z, planes.len()), w, h)?;
                Some((OverlayRows::new(plane), png))
            } else {
                None
            };
            let found = find_nuclei_in_bands(
                model,
                plane,
                calibration,
                params,
                rows,
                &report,
                &mut |band| {
                    label_rows.push_labels(band.labels)?;
                    if let Some(writer) = &zarr_labels {
                        writer.write_rows(t, z, band.first_row, band.labels)?;
                    }
                    if let Some(p) = probability_rows.as_mut() {
                        p.push_floats(band.probability)?;
                    }
                    if let Some((drawing, png)) = overlay.as_mut() {
                        png.write_rows(&drawing.push(band.labels))?;
                    }
                    Ok(())
                },
            )
            .with_context(|| label.clone())?;
            if let Some((drawing, mut png)) = overlay {
                png.write_rows(&drawing.finish())?;
                png.finish()?;
            }
            outcomes.push(PlaneOutcome {
                t,
                z,
                covered_percent: 100.0 * found.covered_pixels as f64 / (w * h) as f64,
                found: found.findings,
                excluded: None,
                cut: found.cut_objects,
            });
            continue;
        }
        let mut r = find_nuclei(model, plane, calibration, params, &report)
            .with_context(|| label.clone())?;
        let mut excluded = None;
        if let Some(artifact_model) = job.artifacts {
            let found = find_nuclei(
                artifact_model,
                plane,
                calibration,
                &artifact_params,
                &|_| {},
            )
            .with_context(|| format!("{label}: artifacts"))?;
            let mask: Vec<bool> = found.labels.data.iter().map(|&l| l != 0).collect();
            excluded = Some(r.exclude_overlapping(&mask, plane));
        }
        label_rows.push_labels(&r.labels.data)?;
        if let Some(writer) = &zarr_labels {
            writer.write_rows(t, z, 0, &r.labels.data)?;
        }
        if let Some(p) = probability_rows.as_mut() {
            p.push_floats(&r.probability)?;
        }
        if args.overlay {
            let rgb = overlay_rgb(plane, &r.labels);
            io::write_png_rgb(&outputs.overlay(t, z, planes.len()), w, h, &rgb)?;
        }
        outcomes.push(PlaneOutcome {
            t,
            z,
            covered_percent: r.covered_percent(),
            found: r.found,
            excluded,
            cut: 0,
        });
    }
    let cal = if calibration.pixel_area_um2().is_some() {
        Calibration {
            pixel_width_um: Some(outcomes[0].found.pixel_width_um),
            pixel_height_um: Some(outcomes[0].found.pixel_height_um),
        }
    } else {
        Calibration::default()
    };
    let max_label = outcomes
        .iter()
        .map(|o| o.found.objects.len())
        .max()
        .unwrap_or(0);
    let max_label = u32::try_from(max_label).context("too many objects for 32-bit labels")?;
    label_rows.write_tiff(
        &outputs.labels,
        w,
        h,
        image.frames(),
        cal,
        RawKind::Labels { max_label },
    )?;
    if let Some(p) = probability_rows {
        p.write_tiff(
            &outputs.probability,
            w,
            h,
            image.frames(),
            cal,
            RawKind::Float,
        )?;
    }
    let object_header: Vec<String> = ["Image", "T", "Z"]
        .iter()
        .chain(ObjectMeasurement::COLUMNS.iter())
        .map(|s| (*s).to_owned())
        .collect();
    let object_rows: Vec<Vec<String>> = outcomes
        .iter()
        .flat_map(|o| {
            let name = &name;
            o.found.objects.iter().map(move |m| {
                let mut row = vec![name.clone(), (o.t + 1).to_string(), (o.z + 1).to_string()];
                row.extend(m.values().iter().map(|v| number(*v)));
                row
            })
        })
        .collect();
    write_csv(&outputs.objects, &object_header, &object_rows)?;
    let channel_label = match export {
        Some(e) => e.channel_label.clone(),
        None => image.channel_name(channel).map_or_else(
            || (channel + 1).to_string(),
            |n| format!("{} ({n})", channel + 1),
        ),
    };
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let mut messages = Vec::new();
            if !o.found.calibrated {
                messages.push(UNCALIBRATED_MESSAGE.to_owned());
            }
            if let Some(n) = o.excluded {
                messages.push(format!("{n} nuclei overlapping artifacts excluded"));
            }
            if o.cut > 0 {
                messages.push(format!(
                    "{} objects taller than {BAND_MARGIN} rows were cut at band edges",
                    o.cut
                ));
            }
            if o.found.poor_fit {
                messages.push(POOR_FIT_MESSAGE.to_owned());
                log::warn!(
                    "{}: {:.0} % of the pixels the model gave a chance are uncertain ({:.0} % on \
                     images it suits): it may not suit these images; fine-tune it on one field of \
                     them with a nuclear stain, e.g. `brightseg train nuclei FIELD.tif \
                     --fluorescence-images STAIN.tif --from {} --out models/my-model`{}",
                    plane_label(&name, o.t, o.z, image.frames() * image.slices()),
                    o.found.certainty.uncertain_percent(),
                    model.card().uncertain_percent.unwrap_or(f64::NAN),
                    job.args.model,
                    job.poor_fit_hint.get_or_init(|| match job.population {
                        Population::Nuclei => {
                            crate::models::generalist_hint(&job.args.model, &model.card().name)
                        }
                        Population::Artifacts => String::new(),
                    })
                );
            }
            let mut row = vec![
                name.clone(),
                channel_label.clone(),
                (o.t + 1).to_string(),
                (o.z + 1).to_string(),
                "ok".to_owned(),
                messages.join("; "),
            ];
            row.extend(o.found.stats.values().iter().map(|v| number(*v)));
            row.push(number(f64::from(o.found.threshold)));
            row.push(number(o.found.min_size_um2));
            row.push(number(o.found.pixel_width_um));
            row.push(model.card().name.clone());
            row.push(o.found.backend.clone());
            row.push(number(o.found.certainty.uncertain_percent()));
            if job.population == Population::Artifacts {
                row.push(number(o.covered_percent));
            }
            row
        })
        .collect();
    // Written last: its presence marks the image as complete.
    write_csv(&outputs.summary, &summary_header_of(job.population), &rows)?;
    let count = outcomes.iter().map(|o| o.found.stats.count).sum();
    Ok((rows, count))
}

fn plane_label(name: &str, t: usize, z: usize, planes: usize) -> String {
    if planes == 1 {
        name.to_owned()
    } else {
        format!("{name} (t={}, z={})", t + 1, z + 1)
    }
}

pub(crate) fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(row)?;
    }
    let bytes = w.into_inner().context("cannot format CSV")?;
    io::write_bytes_atomically(path, &bytes)?;
    Ok(())
}

pub(crate) fn read_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    read_rows_of(path, Population::Nuclei)
}

fn read_rows_of(path: &Path, population: Population) -> Result<Vec<Vec<String>>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = r.headers()?.iter().map(str::to_owned).collect();
    if header != summary_header_of(population) {
        bail!(
            "{} has other columns than this version writes",
            path.display()
        );
    }
    r.records()
        .map(|rec| Ok(rec?.iter().map(str::to_owned).collect()))
        .collect()
}
