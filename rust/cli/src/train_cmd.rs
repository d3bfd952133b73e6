//! `brightseg targets`, `brightseg train nuclei` and `brightseg evaluate`: flags and glue over
//! brightseg-train and the inference core.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::image::{pixel_sizes_differ, Calibration, PixelData, Plane};
use brightseg::io::{write_png_rgb, write_tiff, OutputPlane};
use brightseg::measure::Certainty;
use brightseg::metrics::{match_objects, Coverage, ObjectMatch, PixelScores};
use brightseg::objects::Labels;
use brightseg::pipeline::Model;
use brightseg::pipeline::{find_nuclei, NucleiParams};
use brightseg::render::overlay_rgb;
use brightseg_train::data::fields::{load_fields, Field, FieldSpec, Frames, Region};
use brightseg_train::data::samples::{Augmentation, PatchDraw};
use brightseg_train::data::sources::{readable_um, SourcesFile};
use brightseg_train::fit::{FitConfig, Progress};
use brightseg_train::nets::Architecture;
use brightseg_train::nuclei::{train_nuclei, NucleiTraining, Selection};
use brightseg_train::targets::incomplete::IncompleteLabels;
use brightseg_train::targets::register::{measure_shift, translate};
use brightseg_train::targets::{nucleus_targets, TargetParams};
use brightseg_train::tasks::segmentation::{default_learning_rate, Objective, TrainConfig};

use crate::train_args::{EvaluateArgs, SelectionArgs, TargetArgs, TargetsArgs, TrainNucleiArgs};

pub(crate) fn field_spec(selection: &SelectionArgs) -> Result<FieldSpec> {
    let frames = selection
        .frames
        .as_deref()
        .map(str::parse::<Frames>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let region = selection
        .region
        .as_deref()
        .map(str::parse::<Region>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if let Some(p) = selection.pixel_size {
        if !(p.is_finite() && p > 0.0) {
            bail!("--pixel-size {p} must be a positive number of µm");
        }
    }
    Ok(FieldSpec {
        frames,
        region,
        pixel_um: selection.pixel_size,
        ..FieldSpec::default()
    })
}

/// How incomplete labels are learnt from (`--labels-incomplete`), or `None`.
fn incomplete_labels(args: &TrainNucleiArgs) -> Result<Option<IncompleteLabels>> {
    if !args.labels_incomplete {
        return Ok(None);
    }
    if args.masks.is_empty() && args.mask_channel.is_none() && args.sources.is_none() {
        bail!(
            "--labels-incomplete says the labels leave nuclei out, but no labels were given: \
             add --masks or --mask-channel"
        );
    }
    let params = IncompleteLabels {
        unlabelled_weight: args.unlabelled_weight,
        band_px: args.label_band,
    };
    params.validate()?;
    Ok(Some(params))
}

fn target_params(args: &TargetArgs) -> Result<TargetParams> {
    let params = TargetParams {
        background_radius_um: args.background_radius,
        smoothing_um: args.smoothing,
        method: args.threshold_method.parse().map_err(anyhow::Error::msg)?,
        min_area_um2: args.target_min_size,
        split_depth_px: 2.0,
        uncertain_um: args.uncertain,
    };
    params.validate()?;
    Ok(params)
}

fn pixel_um_of(field: &Field) -> f64 {
    field.pixel_um.unwrap_or_else(|| {
        log::warn!(
            "{}: no pixel size; assuming 1 µm (give --pixel-size)",
            field.name
        );
        1.0
    })
}

/// A file-name-safe stem for a field: "image_t3".
pub(crate) fn stem(field: &Field) -> String {
    let file = field
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = file.strip_suffix(".ome").unwrap_or(&file).to_owned();
    format!("{file}_t{}", field.frame)
}

/// The model name an `--out` folder gives.
pub(crate) fn model_name(out: &Path) -> Result<String> {
    out.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .context("--out must name a model folder")
}

/// `brightseg targets`.
pub fn targets(args: &TargetsArgs) -> Result<()> {
    let mut spec = field_spec(&args.selection)?;
    spec.fluorescence = Some(args.fluorescence.clone());
    spec.brightfield = Some(
        args.brightfield
            .clone()
            .unwrap_or_else(|| args.fluorescence.clone()),
    );
    spec.truth_channel = args.truth_channel.clone();
    spec.truth_files = args.truth.clone();
    let params = target_params(&args.target)?;
    let fields = load_fields(&args.inputs, &spec)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    println!(
        "{:<40} {:>7} {:>10} {:>10} {:>18} {:>8}",
        "image", "nuclei", "threshold", "uncertain", "shift (corr.)", "F1"
    );
    let mut f1s = Vec::new();
    for field in &fields {
        let px = pixel_um_of(field);
        let Some(fl) = &field.fluorescence else {
            continue;
        };
        let mut fl = fl.clone();
        let mut shift_text = "-".to_owned();
        if args.brightfield.is_some() {
            let s = measure_shift(&field.brightfield, &fl);
            shift_text = format!("{},{} (r {:.2})", s.dx, s.dy, s.correlation);
            if !s.is_reliable() {
                shift_text.push('?');
            }
            if args.target.register && s.should_apply() {
                fl = translate(&fl, s.dx, s.dy);
                shift_text.push_str(" applied");
            }
        }
        let t = nucleus_targets(&fl, px, &params)?;
        let name = stem(field);
        let calibration = Calibration::square(px);
        let (w, h) = (fl.width, fl.height);
        write_tiff(
            &args.out.join(format!("{name}.targets.tif")),
            w,
            h,
            &[OutputPlane::Labels(&t.labels.data)],
            1,
            calibration,
        )?;
        write_tiff(
            &args.out.join(format!("{name}.weights.tif")),
            w,
            h,
            &[OutputPlane::Float(&t.weights)],
            1,
            calibration,
        )?;
        let plane = Plane::new(w, h, PixelData::F32(fl.data.clone()))?;
        write_png_rgb(
            &args.out.join(format!("{name}.targets.png")),
            w,
            h,
            &overlay_rgb(&plane, &t.labels),
        )?;
        let f1 = field
            .truth
            .as_ref()
            .map(|truth| match_objects(&t.labels, truth, Coverage::Complete, 0.5).f1);
        if let Some(f) = f1 {
            f1s.push(f);
        }
        println!(
            "{:<40} {:>7} {:>10.1} {:>9.1}% {:>18} {:>8}",
            field.name,
            t.labels.count,
            t.threshold,
            100.0 * t.uncertain_fraction(),
            shift_text,
            f1.map_or("-".to_owned(), |f| format!("{f:.3}"))
        );
    }
    if !f1s.is_empty() {
        let (mean, sd) = mean_sd(&f1s);
        println!(
            "object F1 at IoU 0.5 against the truth: {mean:.3} ± {sd:.3} over {} image(s)",
            f1s.len()
        );
    }
    println!("targets written to {}", args.out.display());
    Ok(())
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The `--time-budget` of a training command, when given.
pub fn time_budget(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(parse_duration).transpose()
}

/// Parses "90s", "20m", "2h", "1h30m" or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        anyhow::anyhow!(
            "time budget '{text}' should be a positive time such as 90s, 20m, 2h or 1h30m"
        )
    };
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0)
            .then(|| Duration::from_secs_f64(secs))
            .ok_or_else(bad);
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let v: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += v * match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(bad()),
        };
    }
    if !(number.is_empty() && total > 0.0 && total < 1e9) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Chooses the training engine `name` for this process (with `jobs` threads for LibTorch's own
/// pool) and says which runs.
pub fn select_engine(name: &str, jobs: Option<usize>) -> Result<()> {
    let engine = brightseg_train::compute::Engine::parse(name)?;
    brightseg_train::compute::select_engine(engine, jobs.unwrap_or(0))?;
    log::info!("training engine: {engine}");
    Ok(())
}

/// `brightseg train nuclei`.
pub fn train_nuclei_cmd(args: &TrainNucleiArgs, verbose: bool) -> Result<()> {
    train_unet(args, Objective::Objects, verbose)
}

/// `brightseg train pretext`: `train nuclei`'s run with the stain itself as the target.
pub fn train_pretext_cmd(args: &TrainNucleiArgs, verbose: bool) -> Result<()> {
    let labels = [
        (!args.masks.is_empty(), "--masks"),
        (args.mask_channel.is_some(), "--mask-channel"),
        (args.labels_incomplete, "--labels-incomplete"),
        (!args.background_masks.is_empty(), "--background-masks"),
    ];
    if let Some((_, option)) = labels.iter().find(|(given, _)| *given) {
        bail!(
            "{option}: the pretext task learns the stain itself and takes no labels; give the \
             stain with --fluorescence or --fluorescence-images"
        );
    }
    if args.sources.is_none() && args.fluorescence.is_none() && args.fluorescence_images.is_empty()
    {
        bail!(
            "the pretext task learns to predict the nuclear stain: give its channel with \
             --fluorescence or its files with --fluorescence-images"
        );
    }
    train_unet(args, Objective::Stain, verbose)
}

/// Trains a U-Net on `objective` with `train nuclei`'s arguments.
fn train_unet(args: &TrainNucleiArgs, objective: Objective, verbose: bool) -> Result<()> {
    if args.balance_datasets && args.sources.is_none() {
        bail!(
            "--balance-datasets shares the training patches among the datasets of a sources \
             file: give one with --sources, or leave the option out"
        );
    }
    let stain = objective == Objective::Stain;
    select_engine(&args.engine, args.jobs)?;
    let mut spec = field_spec(&args.selection)?;
    spec.brightfield = args.brightfield.clone();
    spec.fluorescence = args.fluorescence.clone();
    spec.fluorescence_files = args.fluorescence_images.clone();
    spec.truth_channel = args.mask_channel.clone();
    spec.truth_files = args.masks.clone();
    spec.background_files = args.background_masks.clone();
    if args.sources.is_none()
        && spec.fluorescence.is_none()
        && spec.fluorescence_files.is_empty()
        && spec.truth_channel.is_none()
        && spec.truth_files.is_empty()
    {
        bail!(
            "no targets: give the nuclear stain channel (--fluorescence) or files \
             (--fluorescence-images), or labels (--masks or --mask-channel)"
        );
    }
    let mut arch = Architecture::named(&args.architecture)?;
    if let Some(d) = args.depth {
        arch.depth = d;
    }
    if let Some(w) = args.width {
        arch.width = w;
    }
    let config = TrainConfig {
        architecture: arch,
        patch: args.patch,
        batch: args.batch,
        fit: FitConfig {
            steps_per_epoch: args.steps,
            max_epochs: args.epochs,
            patience: args.patience,
            learning_rate: args
                .learning_rate
                .unwrap_or_else(|| default_learning_rate(args.from.is_some())),
            seed: args.seed,
            keep: args.keep.parse()?,
            ..FitConfig::default()
        },
        objective,
        augmentation: Augmentation {
            scale: args.augment_scale,
            blur: args.augment_blur,
            noise: args.augment_noise,
            invert: args.augment_invert,
            ..Augmentation::default()
        },
        patch_draw: if args.balance_datasets {
            PatchDraw::PerDataset
        } else {
            PatchDraw::ByArea
        },
        ..TrainConfig::default()
    };
    config.validate()?;
    let time_budget = time_budget(args.time_budget.as_deref())?;
    let name = model_name(&args.out)?;
    let (fields, sources_data) = match &args.sources {
        Some(file) => {
            let (fields, lines) = fields_from_sources(file)?;
            (fields, Some(lines))
        }
        None => (load_fields(&args.inputs, &spec)?, None),
    };
    let tile = args
        .tile
        .as_deref()
        .map(|tile| {
            tile.split_once(['x', 'X'])
                .and_then(|(w, h)| {
                    Some((
                        w.trim().parse::<usize>().ok()?,
                        h.trim().parse::<usize>().ok()?,
                    ))
                })
                .filter(|&(w, h)| w > 0 && h > 0)
                .with_context(|| {
                    format!("--tile '{tile}' should be WIDTHxHEIGHT in pixels, e.g. 96x105")
                })
        })
        .transpose()?;
    let selection = Selection {
        tile,
        pick_seed: args.pick_seed,
        max_images: args.max_images,
    };
    let validation = if args.val_frames.is_some() || args.val_region.is_some() {
        let val_spec = field_spec(&SelectionArgs {
            frames: args.val_frames.clone().or(args.selection.frames.clone()),
            region: args.val_region.clone().or(args.selection.region.clone()),
            pixel_size: args.selection.pixel_size,
        })?;
        let val_spec = FieldSpec {
            brightfield: spec.brightfield.clone(),
            fluorescence: spec.fluorescence.clone(),
            fluorescence_files: spec.fluorescence_files.clone(),
            truth_channel: spec.truth_channel.clone(),
            truth_files: spec.truth_files.clone(),
            background_files: spec.background_files.clone(),
            ..val_spec
        };
        Some(load_fields(&args.inputs, &val_spec)?)
    } else {
        None
    };
    // --training-data lines as given; else a line per source, or per input image.
    let training_data = if !args.training_data.is_empty() {
        args.training_data.clone()
    } else if let Some(lines) = sources_data {
        lines
    } else {
        args.inputs
            .iter()
            .map(|p| {
                let mut line = p.display().to_string();
                if let Some(f) = &args.selection.frames {
                    line.push_str(&format!(", frames {f}"));
                }
                if let Some(r) = &args.selection.region {
                    line.push_str(&format!(", region {r}"));
                }
                line
            })
            .collect()
    };
    let request = NucleiTraining {
        name,
        out: args.out.clone(),
        targets: target_params(&args.target)?,
        incomplete_labels: incomplete_labels(args)?,
        register: args.target.register,
        val_fraction: args.val_fraction,
        selection,
        config: config.clone(),
        start_from: args.from.clone(),
        time_budget,
        threads: args.jobs.unwrap_or(0),
        training_data,
        license: args.license.clone(),
    };
    let used = selection.count(&fields, validation.is_none().then_some(args.val_fraction));
    if used == 0 {
        bail!(
            "no training images left: --tile {} is larger than the images, or --max-images is 0",
            args.tile.as_deref().unwrap_or("(none)")
        );
    }
    let held_out = match &validation {
        Some(v) => format!("{} separate image(s) for validation", v.len()),
        None => format!(
            "the right {:.0} % of each is held out for validation",
            100.0 * args.val_fraction
        ),
    };
    // Fine-tuning keeps the starting model's network, whatever --architecture says; a folder
    // that is no such model is refused here, before any image is prepared.
    let (verb, arch) = match &args.from {
        Some(folder) => (
            "fine-tuning",
            brightseg_train::nuclei::architecture_of(folder)?,
        ),
        None => ("training", arch),
    };
    eprintln!(
        "{verb} a U-Net ({arch}, {} parameters) on {used} image(s); {held_out}",
        arch.parameter_count(),
    );
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((config.fit.max_epochs * config.fit.steps_per_epoch) as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {prefix} · {elapsed}/{duration} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut best = f64::NAN;
    let score = if stain { "correlation" } else { "F1" };
    let mut progress = |p: Progress<'_>| {
        match p {
            Progress::Preparing { done, total } => {
                bar.set_message(format!("targets of image {done}/{total}"));
                if verbose || args.quiet || bar.is_hidden() {
                    if done == 1 {
                        eprintln!("deriving the targets of {total} image(s)…");
                    }
                } else {
                    bar.tick();
                }
            }
            Progress::Step { epoch, step, loss } => {
                bar.set_position(((epoch - 1) * config.fit.steps_per_epoch + step) as u64);
                bar.set_prefix(epoch.to_string());
                bar.set_message(format!(
                    "loss {loss:.3} · best validation {score} {best:.3}"
                ));
            }
            Progress::Epoch { record, best_score } => {
                best = best_score;
                let line = format!(
                    "epoch {:>3}: train loss {:.4}, validation loss {:.4}, {score} {:.3} (best \
                     {:.3}), lr {:.2e}, {:.0} s",
                    record.epoch,
                    record.train_loss,
                    record.val_loss,
                    record.val_score,
                    best_score,
                    record.learning_rate,
                    record.seconds
                );
                if verbose || args.quiet || bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }
        true
    };
    let report = train_nuclei(&fields, validation.as_deref(), &request, &mut progress)?;
    bar.finish_and_clear();
    for r in &report.registration {
        if r.clear {
            eprintln!(
                "{}: the stain is shifted by ({}, {}) px from the brightfield{}",
                r.field,
                r.dx,
                r.dy,
                if r.applied {
                    " (corrected)"
                } else {
                    ": rerun with --register to correct it"
                }
            );
        }
    }
    let result = if stain {
        format!(
            "validation correlation with the stain {:.3}; fine-tune it with `brightseg train \
             nuclei --from {}`",
            report.val_f1,
            args.out.display()
        )
    } else {
        format!(
            "validation object F1 {:.3} at threshold {:.2}, split depth {} px",
            report.val_f1_at_threshold, report.threshold, report.split_depth_px
        )
    };
    println!(
        "{}model {} written to {} by {}: {} epochs ({:?}), best epoch {}, {result}",
        if stain { "pretext " } else { "" },
        report.name,
        args.out.display(),
        report.engine.as_deref().unwrap_or("flex"),
        report.history.len(),
        report.stop,
        report.best_epoch,
    );
    if report.resumed_after > 0 {
        println!("(resumed after epoch {})", report.resumed_after);
    }
    if let (Some(images), Some(start)) = (report.resampled_from_um, &report.started_from) {
        println!(
            "the images ({images} µm per pixel) were resampled to the pixel size of {start}, \
             which the new model keeps"
        );
    }
    if let (0, Some(start)) = (report.best_epoch, &report.started_from) {
        println!(
            "no epoch did better on the validation data than the starting model {start}: the \
             new model keeps its weights"
        );
    }
    Ok(())
}

/// The fields of a sources file, all at its pixel size, and a training-data line per source.
fn fields_from_sources(file: &Path) -> Result<(Vec<Field>, Vec<String>)> {
    let sources = SourcesFile::read(file)?;
    let base = file.parent().unwrap_or(Path::new("."));
    let loaded = sources.load(base, &mut |name, done, total| {
        eprintln!("read source {done}/{total}: {name}");
    })?;
    for s in &loaded.summary {
        eprintln!(
            "  {}: {} field(s) at {} µm per pixel{}",
            s.name,
            s.fields,
            readable_um(s.pixel_um),
            if pixel_sizes_differ(s.pixel_um, loaded.pixel_um) {
                format!(", resampled to {}", readable_um(loaded.pixel_um))
            } else {
                String::new()
            }
        );
    }
    let lines = loaded
        .summary
        .into_iter()
        .map(|s| s.training_data)
        .collect();
    Ok((loaded.fields, lines))
}

/// Scores of one evaluated image.
struct Scores {
    name: String,
    pixels: PixelScores,
    tp: usize,
    fp: usize,
    fn_: usize,
    predicted: usize,
    truth: usize,
    /// How sure the model was (the fit signal of find-nuclei's summary).
    certainty: Certainty,
}

/// Pixel IoU (Jaccard) from pixel F1 (Dice): J = D / (2 − D).
fn pixel_iou(f1: f64) -> f64 {
    if f1 > 0.0 {
        f1 / (2.0 - f1)
    } else {
        0.0
    }
}

/// `brightseg evaluate`.
pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let mut spec = field_spec(&args.selection)?;
    spec.brightfield = args.channel.clone();
    spec.brightfield_option = "--channel";
    spec.truth_channel = args.truth_channel.clone();
    spec.truth_files = args.truth.clone();
    spec.fluorescence = args.truth_from_fluorescence.clone();
    spec.fluorescence_files = args.truth_from_fluorescence_images.clone();
    spec.fluorescence_option = "--truth-from-fluorescence";
    let from_stain =
        args.truth_from_fluorescence.is_some() || !args.truth_from_fluorescence_images.is_empty();
    let sources = usize::from(args.truth_channel.is_some())
        + usize::from(!args.truth.is_empty())
        + usize::from(from_stain);
    if sources != 1 {
        bail!(
            "give the truth once: --truth FILES, --truth-channel NAME or \
             --truth-from-fluorescence CHANNEL (--truth-from-fluorescence-images FILES)"
        );
    }
    let params = target_params(&args.target)?;
    let model_path = crate::models::resolve(&args.model)?;
    let model = Model::load_with(
        &model_path,
        &BackendOptions {
            choice: BackendChoice::Tract,
            threads: args.jobs.unwrap_or(0),
            ort_library: None,
        },
    )?;
    let fields = load_fields(&args.inputs, &spec)?;
    let nuclei = NucleiParams {
        threshold: args.threshold,
        min_size_um2: args.min_size,
        split: !args.no_split,
        split_depth_px: args.split_depth,
        refine: args.refine,
        ..NucleiParams::default()
    };
    let mut all = Vec::new();
    for field in &fields {
        let px = pixel_um_of(field);
        let truth: Labels = match (&field.truth, &field.fluorescence) {
            (Some(t), _) => t.clone(),
            (None, Some(fl)) => nucleus_targets(fl, px, &params)?.labels,
            (None, None) => bail!("{}: no truth", field.name),
        };
        let (w, h) = (field.brightfield.width, field.brightfield.height);
        let plane = Plane::new(w, h, PixelData::F32(field.brightfield.data.clone()))?;
        let result = find_nuclei(&model, &plane, Calibration::square(px), &nuclei, &|_| {})?;
        let pixels = PixelScores::count(
            result.labels.data.iter().map(|&l| l != 0),
            truth.data.iter().map(|&l| l != 0),
        );
        let m = match_objects(&result.labels, &truth, Coverage::Complete, 0.5);
        all.push(Scores {
            name: field.name.clone(),
            pixels,
            tp: m.true_positives,
            fp: m.false_positives,
            fn_: m.false_negatives,
            predicted: result.labels.count,
            truth: truth.count,
            certainty: result.found.certainty,
        });
    }
    let header = "image,pixel_f1,balanced_accuracy,object_precision,object_recall,object_f1,predicted,true,count_error_percent,pixel_iou,uncertain_percent";
    let mut rows = vec![header.to_owned()];
    println!(
        "{:<44} {:>8} {:>6} {:>8} {:>9} {:>7} {:>6} {:>6} {:>6} {:>8} {:>11}",
        "image",
        "pixel F1",
        "IoU",
        "bal.acc",
        "precision",
        "recall",
        "F1",
        "found",
        "true",
        "count ±%",
        "uncertain %"
    );
    let mut total = Scores {
        name: "total".into(),
        pixels: PixelScores::default(),
        tp: 0,
        fp: 0,
        fn_: 0,
        predicted: 0,
        truth: 0,
        certainty: Certainty::default(),
    };
    for s in &all {
        total.pixels = total.pixels.add(&s.pixels);
        total.tp += s.tp;
        total.fp += s.fp;
        total.fn_ += s.fn_;
        total.predicted += s.predicted;
        total.truth += s.truth;
        total.certainty.add(s.certainty);
    }
    for s in all.iter().chain(std::iter::once(&total)) {
        let m = ObjectMatch::from_counts(s.tp, s.fp, s.fn_);
        let (p, r, f) = (m.precision, m.recall, m.f1);
        let count_error = if s.truth > 0 {
            100.0 * (s.predicted as f64 - s.truth as f64) / s.truth as f64
        } else {
            0.0
        };
        println!(
            "{:<44} {:>8.3} {:>6.3} {:>8.3} {:>9.3} {:>7.3} {:>6.3} {:>6} {:>6} {:>+8.1} {:>11.1}",
            s.name,
            s.pixels.f1(),
            pixel_iou(s.pixels.f1()),
            s.pixels.balanced_accuracy(),
            p,
            r,
            f,
            s.predicted,
            s.truth,
            count_error,
            s.certainty.uncertain_percent()
        );
        rows.push(format!(
            "\"{}\",{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{:.3},{:.6},{:.3}",
            s.name.replace('"', "\"\""),
            s.pixels.f1(),
            s.pixels.balanced_accuracy(),
            p,
            r,
            f,
            s.predicted,
            s.truth,
            count_error,
            pixel_iou(s.pixels.f1()),
            s.certainty.uncertain_percent()
        ));
    }
    if let Some(csv) = &args.csv {
        write_text(csv, &(rows.join("\n") + "\n"))?;
    }
    Ok(())
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    brightseg::io::write_bytes_atomically(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m").ok(), Some(Duration::from_secs(1200)));
        assert_eq!(
            parse_duration("1h30m").ok(),
            Some(Duration::from_secs(5400))
        );
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("5m3").is_err());
    }
}
