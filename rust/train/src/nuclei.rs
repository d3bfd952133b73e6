//! "Train a nuclei model from paired fluorescence" as one function: check registration, derive
//! targets from the stain (or take given labels), hold out a validation strip of every field,
//! train, choose the threshold on validation data, and write a model folder that Find Nuclei
//! DNN runs.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::module::Module;
use serde::{Deserialize, Serialize};

use brightseg::image::pixel_sizes_differ;
use brightseg::objects::Labels;
use brightseg::{Error, Result};

use crate::data::fields::Field;
use crate::data::samples::{Augmentation, PatchDraw};
use crate::data::{normalize, FloatPlane, Sample};
use crate::export::{write_trained_model, ModelInfo, REPORT, WEIGHTS};
use crate::fit::{CheckpointDir, EpochRecord, FitOptions, Progress, StopReason};
use crate::nets::{Architecture, UNet};
use crate::targets::filters::gaussian;
use crate::targets::incomplete::IncompleteLabels;
use crate::targets::register::{measure_shift, translate};
use crate::targets::{nucleus_targets, TargetParams};
use crate::tasks::segmentation::{choose_scoring, train, ChosenScoring, Objective, TrainConfig};

/// Everything a nuclei training run needs besides the fields.
#[derive(Debug, Clone)]
pub struct NucleiTraining {
    /// Model name (also the folder name when `out` is a parent).
    pub name: String,
    /// The model folder to write.
    pub out: PathBuf,
    /// Target derivation from the fluorescence channel.
    pub targets: TargetParams,
    /// Label images that leave nuclei out: how to learn from them (`None`: every nucleus is
    /// labelled, unlabelled pixels are background).
    pub incomplete_labels: Option<IncompleteLabels>,
    /// Move the fluorescence onto the brightfield by the measured shift when it is clear.
    pub register: bool,
    /// Share of every field's width (its right-hand strip) held out for validation.
    pub val_fraction: f64,
    /// Which of the given images (or tiles of them) to train on (learning curves).
    pub selection: Selection,
    /// Trainer settings.
    pub config: TrainConfig,
    /// Fine-tune from this model folder (one written by brightseg-train).
    pub start_from: Option<PathBuf>,
    /// Stop after this long, keeping the best model.
    pub time_budget: Option<Duration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Lines for the description's training_data.
    pub training_data: Vec<String>,
    /// Licence of the weights (SPDX).
    pub license: String,
}

/// Which of the given images a run trains on, for learning curves: all of them by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Cut every training image into whole tiles of this width × height (pixels; a partial
    /// tile at the right or bottom edge is dropped), each then counting as one image. Targets
    /// and normalisation come from the whole image first, as when the model segments it.
    pub tile: Option<(usize, usize)>,
    /// Shuffle the images (or tiles) with this seed before taking the first `max_images`.
    pub pick_seed: Option<u64>,
    /// Train on the first N images (or tiles) only.
    pub max_images: Option<usize>,
}

impl Selection {
    /// The first `max_images` of `items`, after shuffling them when a pick seed is set.
    pub fn pick<T>(&self, items: Vec<T>) -> Vec<T> {
        let mut items = match self.pick_seed {
            Some(seed) => crate::data::fields::shuffled(items, seed),
            None => items,
        };
        items.truncate(self.max_images.unwrap_or(usize::MAX));
        items
    }

    /// How many images (or tiles) a run on `fields` trains on; `val_fraction` is the strip
    /// of each image held out for validation (None: validation images are given).
    pub fn count(&self, fields: &[Field], val_fraction: Option<f64>) -> usize {
        let available = match self.tile {
            None => fields.len(),
            Some((tw, th)) => fields
                .iter()
                .map(|f| {
                    let (w, h) = (f.brightfield.width, f.brightfield.height);
                    let w = val_fraction.map_or(w, |v| training_width(w, v));
                    whole_tiles(w, h, tw, th).len()
                })
                .sum(),
        };
        available.min(self.max_images.unwrap_or(usize::MAX))
    }
}

/// Top-left corners of the whole `tw × th` tiles of a `w × h` plane, row by row.
fn whole_tiles(w: usize, h: usize, tw: usize, th: usize) -> Vec<(usize, usize)> {
    if tw == 0 || th == 0 {
        return Vec::new();
    }
    (0..h / th)
        .flat_map(|row| (0..w / tw).map(move |col| (col * tw, row * th)))
        .collect()
}

/// Width of the training part of a `w` pixels wide image whose right `val_fraction` is held
/// out for validation (at least one column each).
fn training_width(w: usize, val_fraction: f64) -> usize {
    let val_w = ((w as f64 * val_fraction).round() as usize).clamp(1, w.max(2) - 1);
    w.saturating_sub(val_w)
}

/// Registration measured for one field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationCheck {
    /// Field name.
    pub field: String,
    /// Pixels right the fluorescence moves onto the brightfield.
    pub dx: isize,
    /// Pixels down.
    pub dy: isize,
    /// Correlation of the channels' features at that shift (see [`crate::targets::register::Shift`]).
    pub correlation: f64,
    /// Correlation without a shift.
    pub correlation_at_zero: f64,
    /// Whether the shift is clear enough to correct ([`crate::targets::register::Shift::should_apply`]).
    #[serde(default)]
    pub clear: bool,
    /// Whether the shift was applied.
    pub applied: bool,
}

/// What a training run did, saved as `training.json` in the model folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Model name.
    pub name: String,
    /// Network shape.
    pub architecture: Architecture,
    /// Parameters.
    pub parameters: usize,
    /// Training fields (names).
    pub train_fields: Vec<String>,
    /// Validation strips (names).
    pub val_fields: Vec<String>,
    /// Where targets came from.
    pub targets_from: String,
    /// Registration checks.
    pub registration: Vec<RegistrationCheck>,
    /// Epoch history.
    pub history: Vec<EpochRecord>,
    /// Best epoch.
    pub best_epoch: usize,
    /// Validation object F1 at 0.5.
    pub val_f1: f64,
    /// Threshold chosen on validation data.
    pub threshold: f32,
    /// Split depth (pixels) chosen on validation data with the threshold.
    #[serde(default = "default_split_depth")]
    pub split_depth_px: f32,
    /// Validation object F1 at that threshold and split depth.
    pub val_f1_at_threshold: f64,
    /// Why training stopped.
    pub stop: StopReason,
    /// Epoch the run resumed after (0: fresh).
    pub resumed_after: usize,
    /// Seed.
    pub seed: u64,
    /// Fine-tuned from.
    pub started_from: Option<String>,
    /// Pixel size of the images (µm) when they were resampled to the starting model's.
    #[serde(default)]
    pub resampled_from_um: Option<f64>,
    /// The engine that trained it (`flex`, `libtorch`, `libtorch-cuda`); absent in reports
    /// written before engines could be chosen, which were all `flex`.
    #[serde(default)]
    pub engine: Option<String>,
    /// What the network learnt: nucleus masks, or the stain (a pretext model, whose `val_f1`
    /// fields hold the validation correlation with the stain instead).
    #[serde(default, skip_serializing_if = "Objective::is_objects")]
    pub objective: Objective,
    /// How training patches were augmented (reports written before it was recorded used the
    /// default).
    #[serde(default)]
    pub augmentation: Augmentation,
    /// How training patches were spread over the images and datasets (reports written before
    /// it was recorded drew by area).
    #[serde(default)]
    pub patch_draw: PatchDraw,
}

/// The architecture of a model folder written by brightseg-train.
pub fn architecture_of(folder: &Path) -> Result<Architecture> {
    let path = folder.join(REPORT);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::model(format!(
            "{} is not a model trained by brightseg (no {REPORT}: {e}); fine-tuning starts from \
             such a folder",
            folder.display()
        ))
    })?;
    let report: TrainingReport = serde_json::from_str(&text).map_err(|e| {
        Error::model(format!(
            "{} was not written by `brightseg train nuclei` ({REPORT}: {e}); fine-tuning starts \
             from a nuclei model folder written by it",
            folder.display()
        ))
    })?;
    Ok(report.architecture)
}

/// Loads the network of a model folder written by brightseg-train.
pub fn load_network(folder: &Path) -> Result<UNet> {
    let arch = architecture_of(folder)?;
    let path = folder.join(WEIGHTS);
    let device = crate::compute::device();
    crate::nets::seeded(&device, 0, || UNet::new(arch, &device))
        .try_load_file(&path)
        .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))
}

/// Training and validation samples made from fields.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// Training samples.
    pub train: Vec<Sample>,
    /// Validation samples.
    pub val: Vec<Sample>,
    /// Registration measured per field (empty when targets came from labels).
    pub registration: Vec<RegistrationCheck>,
    /// "labels" or "fluorescence (otsu)".
    pub targets_from: String,
    /// Pixel size, µm.
    pub pixel_um: f64,
}

/// Turns fields into samples: targets from labels when the fields have them, else from the
/// fluorescence. Validation: the `validation` fields when given, else the right `val_fraction`
/// of each training field's width. With `request.selection` set, the targets are derived on
/// whole fields before the training parts are cut into tiles and picked.
pub fn prepare(
    fields: &[Field],
    validation: Option<&[Field]>,
    request: &NucleiTraining,
) -> Result<PreparedData> {
    prepare_reporting(fields, validation, request, &mut |_, _| true)
}

/// [`prepare`], calling `progress(done, total)` after each image's targets; it returns false to
/// cancel (an error of kind Cancelled).
pub fn prepare_reporting(
    fields: &[Field],
    validation: Option<&[Field]>,
    request: &NucleiTraining,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<PreparedData> {
    if fields.is_empty() {
        return Err(Error::invalid("no training images"));
    }
    let validation = validation.filter(|v| !v.is_empty());
    if validation.is_none() && !(0.05..=0.5).contains(&request.val_fraction) {
        return Err(Error::invalid(format!(
            "validation fraction {} must be between 0.05 and 0.5",
            request.val_fraction
        )));
    }
    let pixel_um = fields[0].pixel_um.ok_or_else(|| {
        Error::invalid(format!(
            "{} has no pixel size: give it with --pixel-size (µm)",
            fields[0].name
        ))
    })?;
    let selection = &request.selection;
    // Whole images are picked before their targets are derived; tiles after, since a tile's
    // targets come from its whole image.
    let fields: Vec<&Field> = match selection.tile {
        None => selection.pick(fields.iter().collect()),
        Some(_) => fields.iter().collect(),
    };
    if fields.is_empty() {
        return Err(Error::invalid("--max-images 0 leaves no training images"));
    }
    let mut derive = TargetDerivation {
        pixel_um,
        first: &fields[0].name,
        request,
        registration: Vec::new(),
        from_labels: 0,
    };
    let total = fields.len() + validation.map_or(0, <[Field]>::len);
    let mut done = 0;
    let mut sample = |f: &Field| -> Result<Sample> {
        let s = Sample {
            dataset: f.dataset,
            ..derive.sample(f)?
        };
        done += 1;
        if !progress(done, total) {
            return Err(Error::cancelled(format!(
                "training was cancelled before the first epoch finished, while deriving the \
                 targets of image {done} of {total}: no model was written to {}",
                request.out.display()
            )));
        }
        Ok(s)
    };
    let samples = fields
        .iter()
        .map(|f| sample(f))
        .collect::<Result<Vec<_>>>()?;
    let (parts, val) = match validation {
        Some(v) => {
            let val = v.iter().map(&mut sample).collect::<Result<_>>()?;
            (samples, val)
        }
        None => samples
            .iter()
            .map(|s| {
                let (w, h) = (s.image.width, s.image.height);
                let split = training_width(w, request.val_fraction);
                (
                    s.crop(0, 0, split, h, format!("{} train", s.name)),
                    s.crop(split, 0, w - split, h, format!("{} validation", s.name)),
                )
            })
            .unzip(),
    };
    let train = match selection.tile {
        None => parts,
        Some((tw, th)) => {
            let tiles: Vec<Sample> = parts
                .iter()
                .flat_map(|s| {
                    whole_tiles(s.image.width, s.image.height, tw, th)
                        .into_iter()
                        .enumerate()
                        .map(move |(k, (x, y))| {
                            s.crop(x, y, tw, th, format!("{} tile {k}", s.name))
                        })
                })
                .collect();
            if tiles.is_empty() {
                let s = &parts[0];
                return Err(Error::invalid(format!(
                    "tiles of {tw}×{th} px are larger than the training images ({}×{} px): \
                     no tile fits; choose smaller tiles",
                    s.image.width, s.image.height
                )));
            }
            selection.pick(tiles)
        }
    };
    if let Some(s) = train
        .iter()
        .chain(&val)
        .find(|s| s.image.width < MIN_SIDE || s.image.height < MIN_SIDE)
    {
        return Err(Error::invalid(format!(
            "{} is {}×{} pixels: too small to train or validate on ({MIN_SIDE} × {MIN_SIDE} at \
             least); give larger images or regions, or another validation fraction",
            s.name, s.image.width, s.image.height
        )));
    }
    Ok(PreparedData {
        train,
        val,
        targets_from: targets_from(derive.from_labels, total, request),
        registration: derive.registration,
        pixel_um,
    })
}

/// Smallest width and height of a training or validation image, in pixels.
pub const MIN_SIDE: usize = 16;

/// Derives one field's sample: the normalised brightfield with targets from its labels or
/// from its stain (registered when asked), recording what it did.
struct TargetDerivation<'a> {
    pixel_um: f64,
    first: &'a str,
    request: &'a NucleiTraining,
    registration: Vec<RegistrationCheck>,
    from_labels: usize,
}

impl TargetDerivation<'_> {
    fn sample(&mut self, f: &Field) -> Result<Sample> {
        let px = f.pixel_um.unwrap_or(self.pixel_um);
        if pixel_sizes_differ(px, self.pixel_um) {
            return Err(Error::invalid(format!(
                "{} has {px} µm pixels, {} has {}: train on images of one pixel size",
                f.name, self.first, self.pixel_um
            )));
        }
        let image = normalize(&f.brightfield);
        if self.request.config.objective == Objective::Stain {
            let Some(fl) = &f.fluorescence else {
                return Err(Error::invalid(format!(
                    "{}: the stain pretext task learns to predict the nuclear stain: give its \
                     channel (--fluorescence) or files (--fluorescence-images)",
                    f.name
                )));
            };
            let fl = self.registered(f, fl);
            return stain_sample(f.name.clone(), image, &fl, px);
        }
        match (&f.truth, &f.fluorescence) {
            (Some(labels), _) => {
                self.from_labels += 1;
                match &self.request.incomplete_labels {
                    None => Sample::new(f.name.clone(), image, labels.clone(), None),
                    Some(incomplete) => {
                        let (weights, known) = incomplete.weights(labels, f.background.as_deref());
                        let mut sample =
                            Sample::new(f.name.clone(), image, labels.clone(), Some(weights))?;
                        sample.known = Some(known);
                        Ok(sample)
                    }
                }
            }
            (None, Some(fl)) => {
                let fl = self.registered(f, fl);
                let t = nucleus_targets(&fl, px, &self.request.targets)?;
                Sample::new(f.name.clone(), image, t.labels, Some(t.weights))
            }
            (None, None) => Err(Error::invalid(format!(
                "{}: no targets: give the stain channel (--fluorescence) or label images \
                 (--masks)",
                f.name
            ))),
        }
    }
}

impl TargetDerivation<'_> {
    /// The stain `fl` of field `f`, moved onto its brightfield when asked and the measured
    /// shift is clear; the check is recorded either way.
    fn registered(&mut self, f: &Field, fl: &FloatPlane) -> FloatPlane {
        let shift = measure_shift(&f.brightfield, fl);
        let clear = shift.should_apply();
        let apply = self.request.register && clear;
        self.registration.push(RegistrationCheck {
            field: f.name.clone(),
            dx: shift.dx,
            dy: shift.dy,
            correlation: shift.correlation,
            correlation_at_zero: shift.correlation_at_zero,
            clear,
            applied: apply,
        });
        if apply {
            translate(fl, shift.dx, shift.dy)
        } else {
            fl.clone()
        }
    }
}

/// Gaussian σ of the stain pretext task's target, µm: a tenth of a nucleus, enough to soften
/// the stain's pixel noise and a small misregistration while keeping every nucleus apart.
pub const STAIN_SMOOTHING_UM: f64 = 1.0;

/// A sample of the stain pretext task: the normalised brightfield `image` with the stain,
/// smoothed by [`STAIN_SMOOTHING_UM`] and mapped to [0, 1] by the input percentiles (clipped),
/// as its target, weight 1 everywhere and no objects.
fn stain_sample(name: String, image: FloatPlane, stain: &FloatPlane, px: f64) -> Result<Sample> {
    let scaled = normalize(&gaussian(stain, STAIN_SMOOTHING_UM / px));
    let (width, height) = (image.width, image.height);
    let none = Labels {
        width,
        height,
        data: vec![0; width * height],
        count: 0,
    };
    let mut sample = Sample::new(name, image, none, None)?;
    sample.target = scaled.data.iter().map(|v| v.clamp(0.0, 1.0)).collect();
    Ok(sample)
}

fn targets_from(from_labels: usize, total: usize, request: &NucleiTraining) -> String {
    if request.config.objective == Objective::Stain {
        return "the smoothed nuclear stain (pretext task)".to_owned();
    }
    let stain = format!("fluorescence ({})", request.targets.method);
    let labels = match &request.incomplete_labels {
        None => "labels".to_owned(),
        Some(p) => format!(
            "incomplete labels (unlabelled pixels weighted {})",
            p.unlabelled_weight
        ),
    };
    match from_labels {
        0 => stain,
        n if n == total => labels,
        _ => format!("{stain} and {labels}"),
    }
}

/// The fields resampled to `pixel_um` when given, else as they are.
fn at_pixel_size(fields: &[Field], pixel_um: Option<f64>) -> Cow<'_, [Field]> {
    match pixel_um {
        Some(px) => fields.iter().map(|f| f.resampled_to(px)).collect(),
        None => Cow::Borrowed(fields),
    }
}

/// Trains on `fields` (validating on `validation`, or on a strip of each field) and writes the
/// model folder. `progress` as in [`train`].
pub fn train_nuclei(
    fields: &[Field],
    validation: Option<&[Field]>,
    request: &NucleiTraining,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<TrainingReport> {
    // A model fine-tuned keeps its network and the pixel size it learned at: the images go to
    // it. Both are read before the (slow) preparation, so a wrong folder fails at once.
    let start = match &request.start_from {
        Some(folder) => Some((
            folder,
            architecture_of(folder)?,
            brightseg::model::ModelCard::load(folder)?.pixel_size_um,
        )),
        None => None,
    };
    let start_pixel_um = start.and_then(|(_, _, pixel_um)| pixel_um);
    let images_pixel_um = fields.first().and_then(|f| f.pixel_um);
    // (the images' pixel size, the starting model's) when they differ.
    let resampling = match (images_pixel_um, start_pixel_um) {
        (Some(images), Some(model)) if pixel_sizes_differ(images, model) => Some((images, model)),
        _ => None,
    };
    if let Some((images, model)) = resampling {
        log::info!(
            "the images ({images} µm per pixel) are resampled to the starting model's {model} µm \
             per pixel"
        );
    }
    let to_model = resampling.map(|(_, model)| model);
    let fields = at_pixel_size(fields, to_model);
    let validation = validation.map(|v| at_pixel_size(v, to_model));
    let data = prepare_reporting(
        &fields,
        validation.as_deref(),
        request,
        &mut |done, total| progress(Progress::Preparing { done, total }),
    )?;
    let mut config = request.config.clone();
    config.scoring.pixel_um = data.pixel_um;
    let start_weights = start.map(|(folder, arch, _)| {
        if arch != config.architecture {
            log::info!("fine-tuning: using the starting model's architecture ({arch})");
            config.architecture = arch;
        }
        folder.join(WEIGHTS)
    });
    let checkpoints = CheckpointDir(request.out.join(".checkpoints"));
    let options = FitOptions {
        checkpoints: checkpoints.clone(),
        start_from: start_weights.as_deref(),
        time_budget: request.time_budget,
        threads: request.threads,
    };
    let outcome = train(&config, &data.train, &data.val, &options, progress)?;
    if outcome.history.is_empty() {
        // Nothing was validated, so there is no model worth writing (the checkpoints stay, and
        // a rerun resumes from them).
        return Err(match outcome.stop {
            StopReason::TimeBudget => Error::invalid(format!(
                "the time budget ran out before the first epoch finished: no model was \
                 written to {}; give more time or fewer steps per epoch",
                request.out.display()
            )),
            _ => Error::cancelled(format!(
                "training was cancelled before the first epoch finished: no model was written \
                 to {}",
                request.out.display()
            )),
        });
    }
    let said = ModelStatement::of(
        &outcome.model,
        outcome.best_score,
        &data.val,
        &data.targets_from,
        &config,
    );
    let chosen = said.chosen;
    let (threshold, f1_at_threshold) = (chosen.threshold, chosen.f1);
    let arch = config.architecture;
    let report = TrainingReport {
        name: request.name.clone(),
        architecture: arch,
        parameters: arch.parameter_count(),
        train_fields: data.train.iter().map(|s| s.name.clone()).collect(),
        val_fields: data.val.iter().map(|s| s.name.clone()).collect(),
        targets_from: data.targets_from.clone(),
        registration: data.registration.clone(),
        history: outcome.history.clone(),
        best_epoch: outcome.best_epoch,
        val_f1: outcome.best_score,
        threshold,
        split_depth_px: chosen.split_depth_px,
        val_f1_at_threshold: f1_at_threshold,
        stop: outcome.stop,
        resumed_after: outcome.resumed_after,
        seed: config.fit.seed,
        started_from: request.start_from.as_ref().map(|p| p.display().to_string()),
        resampled_from_um: resampling.map(|(images, _)| images),
        engine: Some(crate::compute::engine().name().to_owned()),
        objective: config.objective,
        augmentation: config.augmentation,
        patch_draw: config.patch_draw,
    };
    let info = ModelInfo {
        name: request.name.clone(),
        description: said.description,
        pixel_um: data.pixel_um,
        threshold,
        min_size_um2: config.scoring.min_area_um2,
        split_depth_px: chosen.split_depth_px,
        tile_size: crate::export::tile_size_for(&arch),
        size_multiple: arch.size_multiple(),
        training_data: request.training_data.clone(),
        metrics: said.metrics,
        license: request.license.clone(),
        training: vec![
            ("architecture".into(), arch.to_string()),
            ("epochs".into(), outcome.history.len().to_string()),
            ("best_epoch".into(), outcome.best_epoch.to_string()),
            ("seed".into(), config.fit.seed.to_string()),
            ("targets".into(), data.targets_from.clone()),
            (
                "patch".into(),
                format!("{0}x{0}, batch {1}", config.patch, config.batch),
            ),
        ],
        object: said.object.into(),
        percentiles: crate::data::samples::NORMALIZATION_PERCENTILES,
        refine: brightseg::refine::Refinement::None,
        uncertain_percent: said.uncertain_percent,
    };
    // The zoo's test input: raw brightfield of a validation field when there is one.
    let test_image = validation
        .as_deref()
        .and_then(<[Field]>::first)
        .or(fields.first())
        .map(|f| &f.brightfield)
        .ok_or_else(|| Error::invalid("no field to take the model's test input from"))?;
    write_trained_model(
        &outcome.model,
        &info,
        &request.out,
        &report,
        &said.summary,
        test_image,
    )?;
    Ok(report)
}

/// What a finished run says of its model, which depends on what the network learnt: nucleus
/// masks get a threshold and split depth chosen on the validation data, object F1 metrics and
/// the fit level of their validation; the stain pretext's output is no nucleus probability, so
/// nothing is chosen and its score is the correlation with the stain.
struct ModelStatement {
    /// Threshold and split depth for Find Nuclei (defaults for the stain).
    chosen: ChosenScoring,
    /// The card's one-paragraph description.
    description: String,
    /// The card's measured metrics.
    metrics: Vec<(String, f64)>,
    /// What the output marks ("nucleus" or "stain").
    object: &'static str,
    /// Uncertain pixels on the validation data, %, for the fit signal (none for the stain).
    uncertain_percent: Option<f64>,
    /// The model README's summary line.
    summary: String,
}

impl ModelStatement {
    fn of(
        model: &UNet,
        best_score: f64,
        val: &[Sample],
        targets_from: &str,
        config: &TrainConfig,
    ) -> Self {
        let arch = config.architecture;
        match config.objective {
            Objective::Stain => ModelStatement {
                chosen: ChosenScoring {
                    threshold: 0.5,
                    split_depth_px: brightseg::model::DEFAULT_SPLIT_DEPTH_PX,
                    f1: best_score,
                },
                description: format!(
                    "U-Net ({arch}, {} parameters) predicting the smoothed nuclear stain from \
                     transmitted-light images (in-silico labelling), pre-trained by \
                     brightseg-train as a starting point for `brightseg train nuclei --from`; \
                     its output is a stain image, not a nucleus probability.",
                    arch.parameter_count()
                ),
                metrics: vec![("validation_stain_correlation".into(), best_score)],
                object: "stain",
                uncertain_percent: None,
                summary: format!(
                    "Pre-trained with `brightseg train pretext` to predict the nuclear stain. \
                     Validation correlation with the smoothed stain: {best_score:.3}. Fine-tune \
                     it with `brightseg train nuclei --from`."
                ),
            },
            Objective::Objects => {
                let chosen = choose_scoring(model, val, config);
                ModelStatement {
                    chosen,
                    description: format!(
                        "U-Net ({arch}, {} parameters) finding nuclei in transmitted-light \
                         images, trained by brightseg-train on targets from {targets_from}.",
                        arch.parameter_count()
                    ),
                    metrics: vec![
                        ("validation_object_f1_iou50".into(), chosen.f1),
                        ("validation_object_f1_iou50_at_0_5".into(), best_score),
                    ],
                    object: "nucleus",
                    uncertain_percent: validation_uncertain_percent(model, val),
                    summary: format!(
                        "Trained with `brightseg train nuclei`. Validation object F1 (IoU 0.5): \
                         {:.3} at threshold {:.2}, split depth {} px.",
                        chosen.f1, chosen.threshold, chosen.split_depth_px
                    ),
                }
            }
        }
    }
}

/// The model's own level of uncertain pixels (the fit signal, [`brightseg::measure::Certainty`]):
/// the median over its validation images, which are like its training data. With several
/// datasets, one field (the test input) can be one the model does poorly on, and a level
/// measured there would hide every poor fit; the median is what a typical field of the
/// training data gives. None without validation images with candidate pixels.
fn validation_uncertain_percent(model: &UNet, val: &[Sample]) -> Option<f64> {
    median(
        val.iter()
            .map(|s| {
                brightseg::measure::Certainty::of(&crate::tasks::segmentation::predict(
                    model, &s.image,
                ))
                .uncertain_percent()
            })
            .filter(|l| l.is_finite())
            .collect(),
    )
}

/// The median of `values` (the mean of the middle two for an even count); None when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The split depth of reports written before it was chosen on validation data.
fn default_split_depth() -> f32 {
    brightseg::model::DEFAULT_SPLIT_DEPTH_PX
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FloatPlane;
    use crate::fit::FitConfig;
    use crate::tasks::segmentation::ObjectScoring;
    use brightseg::objects::Labels;

    #[test]
    fn the_models_level_is_the_median_of_its_validation_images() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![90.0, 10.0, 20.0]), Some(20.0));
        assert_eq!(median(vec![90.0, 10.0, 20.0, 30.0]), Some(25.0));
    }

    /// A 64×64 field with two labelled discs.
    fn field() -> Field {
        let (w, h) = (64, 64);
        let mut labels = vec![0u32; w * h];
        let image = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                for (k, (cx, cy)) in [(16.0, 20.0), (44.0, 40.0)].iter().enumerate() {
                    if (x - cx).powi(2) + (y - cy).powi(2) <= 36.0 {
                        labels[i] = k as u32 + 1;
                        return 0.8;
                    }
                }
                0.2 + 0.01 * ((i * 7919) % 13) as f32
            })
            .collect();
        Field {
            name: "discs".into(),
            path: PathBuf::from("discs.tif"),
            frame: 0,
            brightfield: FloatPlane::new(w, h, image),
            fluorescence: None,
            truth: Some(Labels {
                width: w,
                height: h,
                data: labels,
                count: 2,
            }),
            background: None,
            pixel_um: Some(1.0),
            dataset: 0,
        }
    }

    fn request(out: PathBuf) -> NucleiTraining {
        NucleiTraining {
            name: "discs".into(),
            out,
            targets: TargetParams::default(),
            incomplete_labels: None,
            register: false,
            val_fraction: 0.25,
            selection: Selection::default(),
            config: TrainConfig {
                architecture: Architecture {
                    depth: 2,
                    width: 4,
                    stem: 1,
                },
                patch: 32,
                batch: 2,
                fit: FitConfig {
                    steps_per_epoch: 2,
                    max_epochs: 1,
                    ..FitConfig::default()
                },
                scoring: ObjectScoring {
                    min_area_um2: 5.0,
                    ..ObjectScoring::default()
                },
                ..TrainConfig::default()
            },
            start_from: None,
            time_budget: None,
            threads: 1,
            training_data: vec!["synthetic discs".into()],
            license: "MIT".into(),
        }
    }

    /// A 64×64 stain-only field: two bright discs (in the top-left and bottom-right 32×32
    /// quarters) on a dim, grainy background, and a brightfield ramp.
    fn stain_field() -> Field {
        let (w, h) = (64, 64);
        let stain = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let grain = 0.05 * ((i * 7919) % 13) as f32;
                let inside = [(16.0, 20.0), (44.0, 44.0)]
                    .iter()
                    .any(|(cx, cy)| (x - cx).powi(2) + (y - cy).powi(2) <= 36.0);
                if inside {
                    2.0 + grain
                } else {
                    0.1 + grain
                }
            })
            .collect();
        Field {
            name: "stain".into(),
            truth: None,
            fluorescence: Some(FloatPlane::new(w, h, stain)),
            brightfield: FloatPlane::new(w, h, (0..w * h).map(|i| (i % 97) as f32).collect()),
            ..field()
        }
    }

    fn tiled(tile: (usize, usize), pick_seed: Option<u64>, max: Option<usize>) -> Selection {
        Selection {
            tile: Some(tile),
            pick_seed,
            max_images: max,
        }
    }

    /// A tile gets its normalisation and its stain targets from its whole field, as the
    /// network sees it when it segments the whole image: a tile without a nucleus has none,
    /// where Otsu on the tile alone would split its background grain.
    #[test]
    fn tiles_take_targets_and_normalisation_from_their_whole_field() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut req = request(dir.path().join("stain"));
        let whole = prepare(&[stain_field()], Some(&[stain_field()]), &req).expect("whole");
        req.selection = tiled((32, 32), None, None);
        let data = prepare(&[stain_field()], Some(&[stain_field()]), &req).expect("tiles");
        assert_eq!(data.train.len(), 4);
        assert_eq!(data.val.len(), 1, "validation images are not cut");
        assert_eq!(data.registration.len(), 2, "measured on the whole field");
        let whole = &whole.train[0];
        for (k, (x, y)) in [(0, 0), (32, 0), (0, 32), (32, 32)].into_iter().enumerate() {
            let tile = &data.train[k];
            let expected = whole.crop(x, y, 32, 32, String::new());
            assert_eq!(tile.name, format!("stain tile {k}"));
            assert_eq!(tile.image.data, expected.image.data, "tile {k}");
            assert_eq!(tile.target, expected.target, "tile {k}");
            assert_eq!(tile.weight, expected.weight, "tile {k}");
        }
        let nucleus_pixels = |s: &Sample| s.target.iter().filter(|&&t| t > 0.5).count();
        assert!(nucleus_pixels(&data.train[0]) > 80);
        assert!(nucleus_pixels(&data.train[3]) > 80);
        assert_eq!(nucleus_pixels(&data.train[1]), 0);
        assert_eq!(nucleus_pixels(&data.train[2]), 0);
        let alone = nucleus_targets(
            &stain_field()
                .fluorescence
                .expect("stain")
                .crop(32, 0, 32, 32),
            1.0,
            &req.targets,
        )
        .expect("targets");
        assert!(
            alone.labels.count > 0,
            "the check above means something: Otsu on the empty tile alone finds grain"
        );
    }

    /// The stain pretext's targets are the stain itself, smoothed and scaled to [0, 1]: high
    /// at the discs' centres, low on the background, no objects, every pixel weighted; a
    /// field without a stain is refused with what to give. Catches targets left as the
    /// nucleus masks (binary) or a stain not scaled.
    #[test]
    fn the_stain_pretext_learns_the_smoothed_stain_and_needs_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut req = request(dir.path().join("pretext"));
        req.config.objective = Objective::Stain;
        let data = prepare(&[stain_field()], Some(&[stain_field()]), &req).expect("prepared");
        assert_eq!(
            data.targets_from,
            "the smoothed nuclear stain (pretext task)"
        );
        let s = &data.train[0];
        assert!(s.target.iter().all(|t| (0.0..=1.0).contains(t)));
        assert!(s.weight.iter().all(|&w| w == 1.0));
        assert_eq!(s.truth.count, 0);
        let at = |x: usize, y: usize| s.target[y * 64 + x];
        assert!(
            at(16, 20) > 0.9 && at(44, 44) > 0.9,
            "{} {}",
            at(16, 20),
            at(44, 44)
        );
        assert!(
            at(40, 10) < 0.1 && at(5, 60) < 0.1,
            "{} {}",
            at(40, 10),
            at(5, 60)
        );
        let soft = s.target.iter().filter(|&&t| t > 0.05 && t < 0.95).count();
        assert!(soft > 20, "smoothed, not a mask: {soft} soft pixels");
        let refused = prepare(&[field()], None, &req).expect_err("no stain");
        assert!(
            refused
                .to_string()
                .contains("give its channel (--fluorescence)"),
            "{refused}"
        );
    }

    /// Without validation images, the validation strip is cut off every whole image first
    /// and only the rest is tiled; `count` says how many tiles a run will use.
    #[test]
    fn tiles_are_cut_from_the_training_part_and_picked_by_seed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut req = request(dir.path().join("stain"));
        let fields = [stain_field(), stain_field()];
        req.selection = tiled((16, 32), None, None);
        let all = prepare(&fields, None, &req).expect("tiles");
        // 64 px wide, 16 px held out: three 16 px columns, two rows, two fields.
        assert_eq!(all.train.len(), 12);
        assert_eq!(req.selection.count(&fields, Some(req.val_fraction)), 12);
        assert_eq!(all.val.len(), 2);
        assert_eq!(all.val[0].image.width, 16);
        req.selection = tiled((16, 32), Some(7), Some(5));
        assert_eq!(req.selection.count(&fields, Some(req.val_fraction)), 5);
        let names = |d: &PreparedData| d.train.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        let picked = prepare(&fields, None, &req).expect("picked");
        assert_eq!(picked.train.len(), 5);
        assert_eq!(
            names(&picked),
            names(&prepare(&fields, None, &req).expect("again"))
        );
        assert_ne!(names(&picked), names(&all)[..5].to_vec(), "shuffled");
        req.selection = tiled((80, 32), None, None);
        let e = prepare(&fields, None, &req).expect_err("no tile fits");
        assert!(
            e.to_string().contains("larger than the training images"),
            "{e}"
        );
    }

    /// Fine-tuning a 1 µm model on 0.5 µm images trains at 1 µm: the images go to the model's
    /// pixel size, and the new model states it.
    #[test]
    fn fine_tuning_resamples_the_images_to_the_starting_models_pixel_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let start = dir.path().join("start");
        train_nuclei(&[field()], None, &request(start.clone()), &mut |_| true).expect("start");
        let fine = field().resampled_to(0.5);
        assert_eq!(fine.brightfield.width, 128);
        let mut req = request(dir.path().join("fine"));
        req.start_from = Some(start.clone());
        let report =
            train_nuclei(std::slice::from_ref(&fine), None, &req, &mut |_| true).expect("fine");
        assert_eq!(report.resampled_from_um, Some(0.5));
        let card = brightseg::model::ModelCard::load(&req.out).expect("card");
        assert_eq!(card.pixel_size_um, Some(1.0));
        let same_size = train_nuclei(&[field()], None, &req, &mut |_| true);
        assert_eq!(same_size.expect("same size").resampled_from_um, None);
    }

    /// A training or validation part too small to sample from is refused before training,
    /// with a message; it used to panic in the patch sampler.
    #[test]
    fn images_too_small_to_train_on_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let req = request(dir.path().join("small"));
        // The top-left w × h pixels of the discs field.
        let cropped = |w: usize, h: usize| {
            let f = field();
            Field {
                brightfield: f.brightfield.crop(0, 0, w, h),
                truth: f
                    .truth
                    .as_ref()
                    .map(|t| crate::data::plane::crop_labels(t, 0, 0, w, h)),
                ..f
            }
        };
        let narrow = cropped(20, 64);
        let e = prepare(std::slice::from_ref(&narrow), None, &req).expect_err("15 px to train on");
        assert!(e.to_string().contains("discs train is 15×64 pixels"), "{e}");
        prepare(std::slice::from_ref(&narrow), Some(&[field()]), &req).expect("20 px is enough");
        let sliver = cropped(20, 10);
        let e = prepare(&[field()], Some(&[sliver]), &req).expect_err("10 px high validation");
        assert!(e.to_string().contains("discs is 20×10 pixels"), "{e}");
    }

    /// Target derivation reports image by image before the first step, and a cancel there
    /// stops before training with nothing written.
    #[test]
    fn preparing_is_reported_image_by_image_and_can_be_cancelled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let req = request(dir.path().join("discs"));
        let fields = [field(), field()];
        let mut events = Vec::new();
        train_nuclei(&fields, Some(&[field()]), &req, &mut |p| {
            events.push(match p {
                Progress::Preparing { done, total } => format!("targets {done}/{total}"),
                Progress::Step { .. } => "step".into(),
                Progress::Epoch { .. } => "epoch".into(),
            });
            true
        })
        .expect("trained");
        assert_eq!(
            events,
            [
                "targets 1/3",
                "targets 2/3",
                "targets 3/3",
                "step",
                "step",
                "epoch"
            ]
        );
        let out = dir.path().join("cancelled");
        let e = train_nuclei(&fields, None, &request(out.clone()), &mut |p| {
            !matches!(p, Progress::Preparing { done: 2, .. })
        })
        .expect_err("cancelled while preparing");
        assert_eq!(e.kind(), brightseg::ErrorKind::Cancelled, "{e}");
        assert!(e.to_string().contains("targets of image 2 of 2"), "{e}");
        assert!(!out.join("bioimageio.yaml").exists());
    }

    #[test]
    fn cancelling_before_the_first_epoch_writes_no_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("discs");
        let e = train_nuclei(&[field()], None, &request(out.clone()), &mut |_| false)
            .expect_err("cancelled at the first step");
        assert_eq!(e.kind(), brightseg::ErrorKind::Cancelled, "{e}");
        assert!(e.to_string().contains("before the first epoch"), "{e}");
        assert!(!out.join("bioimageio.yaml").exists());
    }

    #[test]
    fn cancelling_after_an_epoch_keeps_the_best_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("discs");
        let mut req = request(out.clone());
        req.config.fit.max_epochs = 5;
        let mut progress =
            |p: Progress<'_>| !matches!(p, Progress::Epoch { record, .. } if record.epoch == 2);
        let report = train_nuclei(&[field()], None, &req, &mut progress).expect("trained");
        assert_eq!(report.stop, StopReason::Cancelled);
        assert_eq!(report.history.len(), 2);
        assert!((1..=2).contains(&report.best_epoch));
        assert!(out.join("bioimageio.yaml").is_file());
        assert!(out.join(WEIGHTS).is_file());
    }
}
