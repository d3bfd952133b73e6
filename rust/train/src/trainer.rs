//! Training loop: weighted BCE + Dice loss, Adam with a cosine learning-rate schedule, random
//! augmented patches, validation (object F1 at IoU 0.5) after every epoch, early stopping,
//! checkpoints after every epoch from which a killed run resumes exactly, and a cancel that
//! keeps the best model.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use brightseg::metrics::match_objects;
use brightseg::model::DEFAULT_SPLIT_DEPTH_PX;
use brightseg::objects::{find_objects, ObjectParams};
use brightseg::{Error, Result};

use crate::data::{random_patch, Augmentation, Sample};
use crate::unet::{Architecture, UNet};

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Network shape.
    pub architecture: Architecture,
    /// Edge of the square training patches, pixels (a multiple of the size multiple).
    pub patch: usize,
    /// Patches per step.
    pub batch: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Most epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation F1.
    pub patience: usize,
    /// Peak learning rate (Adam); decays along a cosine to 1/20 of it by `max_epochs`.
    pub learning_rate: f64,
    /// Seed of the weights and of every random choice: same seed, same data, same threads →
    /// same model.
    pub seed: u64,
    /// Augmentation of training patches.
    #[serde(skip, default)]
    pub augmentation: Augmentation,
    /// Pixel size of the data in µm (for the minimum object size in validation).
    pub pixel_um: f64,
    /// Objects below this area (µm²) are dropped when scoring.
    pub min_area_um2: f64,
    /// Split touching objects (watershed) when scoring: nuclei yes, artifacts no.
    #[serde(default = "split_by_default")]
    pub split_objects: bool,
}

fn split_by_default() -> bool {
    true
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            architecture: Architecture::STANDARD,
            patch: 128,
            batch: 8,
            steps_per_epoch: 40,
            max_epochs: 60,
            patience: 12,
            learning_rate: 2e-3,
            seed: 1,
            augmentation: Augmentation::default(),
            pixel_um: 1.0,
            min_area_um2: 10.0,
            split_objects: true,
        }
    }
}

impl TrainConfig {
    /// Checks the ranges before any work is done.
    pub fn validate(&self) -> Result<()> {
        self.architecture.validate()?;
        let m = self.architecture.size_multiple();
        if self.patch < m || !self.patch.is_multiple_of(m) || self.patch > 1024 {
            return Err(Error::invalid(format!(
                "patch size {} must be a multiple of {m} between {m} and 1024 for a U-Net of \
                 depth {}",
                self.patch, self.architecture.depth
            )));
        }
        let counts = [
            ("batch", self.batch),
            ("steps per epoch", self.steps_per_epoch),
            ("epochs", self.max_epochs),
            ("patience", self.patience),
        ];
        for (name, v) in counts {
            if v == 0 {
                return Err(Error::invalid(format!("{name} must be at least 1")));
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(Error::invalid(format!(
                "learning rate {} must be between 0 and 1 (1e-3 is usual)",
                self.learning_rate
            )));
        }
        if !(self.pixel_um.is_finite() && self.pixel_um > 0.0) {
            return Err(Error::invalid("pixel size must be a positive number of µm"));
        }
        Ok(())
    }

    /// Learning rate in `epoch` (from 0).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let floor = self.learning_rate / 20.0;
        let t = (epoch as f64 / self.max_epochs.max(1) as f64).min(1.0);
        floor + (self.learning_rate - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss (same loss on whole validation images).
    pub val_loss: f64,
    /// Validation object F1 at IoU 0.5, threshold 0.5.
    pub val_f1: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// Progress reports from [`train`]; the callback returns `false` to cancel.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// The targets of `done` of `total` images are ready (before training starts).
    Preparing {
        /// Images done, from 1.
        done: usize,
        /// All images, training and validation.
        total: usize,
    },
    /// A step finished.
    Step {
        /// Epoch, from 1.
        epoch: usize,
        /// Step within the epoch, from 1.
        step: usize,
        /// Loss of this step's batch.
        loss: f64,
    },
    /// An epoch finished and was validated.
    Epoch {
        /// The record.
        record: &'a EpochRecord,
        /// Best validation F1 so far.
        best_f1: f64,
    },
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All epochs ran.
    Finished,
    /// Validation F1 did not improve for `patience` epochs.
    EarlyStopped,
    /// The time budget ran out.
    TimeBudget,
    /// The caller cancelled.
    Cancelled,
}

/// The result of a training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The network of the best validation epoch (on a plain, non-autodiff device).
    pub model: UNet,
    /// Every epoch, including those of earlier runs this one resumed.
    pub history: Vec<EpochRecord>,
    /// Epoch of the best validation F1 (0: none finished, or none beat the starting model).
    pub best_epoch: usize,
    /// Best validation F1.
    pub best_f1: f64,
    /// Why it stopped.
    pub stop: StopReason,
    /// Epoch this run resumed after (0: started fresh).
    pub resumed_after: usize,
}

/// Saved between epochs so a killed run continues where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    config: TrainConfig,
    data_fingerprint: u64,
    history: Vec<EpochRecord>,
    best_epoch: usize,
    best_f1: f64,
    #[serde(default = "infinity")]
    best_val_loss: f64,
    epochs_without_gain: usize,
}

fn infinity() -> f64 {
    f64::INFINITY
}

const STATE: &str = "state.json";
const LAST: &str = "last.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const BEST: &str = "best.bpk";

/// Where a training run keeps its checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointDir(pub PathBuf);

impl CheckpointDir {
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The best model saved so far, if any.
    pub fn best_model(&self) -> Option<PathBuf> {
        let p = self.file(BEST);
        p.is_file().then_some(p)
    }
}

/// A cheap fingerprint of the training data, so a checkpoint is resumed only on the same data.
fn fingerprint(train: &[Sample], val: &[Sample]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| {
        h ^= v;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for s in train.iter().chain(val) {
        eat(s.image.width as u64);
        eat(s.image.height as u64);
        for (i, v) in s.image.data.iter().enumerate().step_by(97) {
            eat(u64::from(v.to_bits()) ^ i as u64);
            eat(u64::from(s.target[i].to_bits()) ^ u64::from(s.weight[i].to_bits()) << 1);
        }
    }
    h
}

/// Weighted binary cross-entropy (on logits, numerically stable) plus soft Dice over the
/// weighted pixels.
pub fn loss(logits: Tensor<4>, target: Tensor<4>, weight: Tensor<4>) -> Tensor<1> {
    let bce = logits.clone().clamp_min(0.0) - logits.clone() * target.clone()
        + logits.clone().abs().neg().exp().log1p();
    let weight_sum = weight.clone().sum().clamp_min(1.0);
    let bce = (bce * weight.clone()).sum().div(weight_sum);
    let p = sigmoid(logits);
    let intersection = (p.clone() * target.clone() * weight.clone()).sum();
    let total = ((p + target) * weight).sum();
    let dice = intersection
        .mul_scalar(2.0)
        .add_scalar(1.0)
        .div(total.add_scalar(1.0))
        .neg()
        .add_scalar(1.0);
    bce + dice
}

fn batch_tensors(
    patches: &[crate::data::Patch],
    size: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    let n = patches.len();
    let stack = |f: fn(&crate::data::Patch) -> &Vec<f32>| {
        let data: Vec<f32> = patches.iter().flat_map(|p| f(p).iter().copied()).collect();
        Tensor::<4>::from_data(TensorData::new(data, [n, 1, size, size]), device)
    };
    (
        stack(|p| &p.image),
        stack(|p| &p.target),
        stack(|p| &p.weight),
    )
}

/// Probability map of a whole image (any size: padded to the size multiple by repeating the
/// edge, then cropped back).
pub fn predict(model: &UNet, image: &crate::filters::FloatPlane) -> Vec<f32> {
    let device = &Device::flex();
    let m = model.architecture().size_multiple();
    let (w, h) = (image.width, image.height);
    let (pw, ph) = (w.div_ceil(m) * m, h.div_ceil(m) * m);
    let mut padded = Vec::with_capacity(pw * ph);
    for y in 0..ph {
        for x in 0..pw {
            padded.push(image.data[y.min(h - 1) * w + x.min(w - 1)]);
        }
    }
    let input = Tensor::<4>::from_data(TensorData::new(padded, [1, 1, ph, pw]), device);
    let prob = sigmoid(model.forward(input)).into_data();
    let values = prob
        .as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        out.extend_from_slice(&values[y * pw..y * pw + w]);
    }
    out
}

/// Object F1 at IoU 0.5 of `prob` turned into objects with `params`, against the sample's
/// instances. An image with no objects and none predicted scores 1.
pub fn object_f1(prob: &[f32], sample: &Sample, params: &ObjectParams) -> f64 {
    let (w, h) = (sample.image.width, sample.image.height);
    let predicted = find_objects(prob, w, h, params);
    if predicted.count == 0 && sample.truth.count == 0 {
        return 1.0;
    }
    match_objects(&predicted, &sample.truth, 0.5).f1
}

fn validate(model: &UNet, val: &[Sample], config: &TrainConfig) -> (f64, f64) {
    let scoring = ObjectParams {
        threshold: 0.5,
        min_area_px: config.min_area_um2 / (config.pixel_um * config.pixel_um),
        split: config.split_objects,
        split_depth_px: DEFAULT_SPLIT_DEPTH_PX,
        fill_holes: true,
    };
    let (mut loss_sum, mut f1_sum) = (0.0, 0.0);
    for s in val {
        let prob = predict(model, &s.image);
        // The same loss, on probabilities (clamped) rather than logits.
        let (mut num, mut den, mut inter, mut total) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for ((&p, &t), &wt) in prob.iter().zip(&s.target).zip(&s.weight) {
            let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
            let (t, wt) = (f64::from(t), f64::from(wt));
            num -= wt * (t * p.ln() + (1.0 - t) * (1.0 - p).ln());
            den += wt;
            inter += wt * p * t;
            total += wt * (p + t);
        }
        loss_sum += num / den.max(1.0) + 1.0 - (2.0 * inter + 1.0) / (total + 1.0);
        f1_sum += object_f1(&prob, s, &scoring);
    }
    let n = val.len().max(1) as f64;
    (loss_sum / n, f1_sum / n)
}

/// Peak learning rate for fine-tuning when none is given: a quarter of the default from scratch.
/// On the learning curve (docs/training.md) 2e-3 moved the starting model away from what it
/// knew (1 labelled tile: test F1 0.29) where 5e-4 kept more of it (0.38).
pub const FINE_TUNING_LEARNING_RATE: f64 = 5e-4;

/// The peak learning rate when none is given: [`FINE_TUNING_LEARNING_RATE`] when fine-tuning,
/// else the default from scratch.
pub fn default_learning_rate(fine_tuning: bool) -> f64 {
    if fine_tuning {
        FINE_TUNING_LEARNING_RATE
    } else {
        TrainConfig::default().learning_rate
    }
}

/// Options of [`train`] that are not part of the reproducible configuration.
pub struct RunOptions<'a> {
    /// Where checkpoints live; a matching checkpoint there is resumed.
    pub checkpoints: CheckpointDir,
    /// Start from these weights (fine-tuning) instead of random ones; ignored when resuming.
    pub start_from: Option<&'a Path>,
    /// Stop (keeping the best model) once this much time has passed.
    pub time_budget: Option<Duration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
}

/// Trains a U-Net on `train`, validating on `val` after each epoch. `progress` is called after
/// every step and epoch; returning `false` cancels (the best model so far is kept).
pub fn train(
    config: &TrainConfig,
    train: &[Sample],
    val: &[Sample],
    options: &RunOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<TrainOutcome> {
    config.validate()?;
    if train.is_empty() {
        return Err(Error::invalid("no training images: give at least one"));
    }
    if val.is_empty() {
        return Err(Error::invalid(
            "no validation images: hold some out (a strip of each image is held out by default)",
        ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::invalid(format!("cannot start {} threads: {e}", options.threads)))?;
    pool.install(|| run(config, train, val, options, progress))
}

fn save_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        brightseg::ErrorKind::Io,
        format!("cannot write {what} {}: {e}", path.display()),
    )
}

fn run(
    config: &TrainConfig,
    train: &[Sample],
    val: &[Sample],
    options: &RunOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<TrainOutcome> {
    let started = Instant::now();
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let dir = &options.checkpoints;
    fs::create_dir_all(&dir.0).map_err(|e| Error::io("create", &dir.0, e))?;
    let data_fingerprint = fingerprint(train, val);

    let mut model = crate::unet::seeded(&device, config.seed, || {
        UNet::new(config.architecture, &device)
    });
    let mut optimizer = AdamConfig::new().init();
    let mut state = Checkpoint {
        config: config.clone(),
        data_fingerprint,
        history: Vec::new(),
        best_epoch: 0,
        best_f1: f64::NEG_INFINITY,
        best_val_loss: f64::INFINITY,
        epochs_without_gain: 0,
    };
    let resumable = fs::read_to_string(dir.file(STATE))
        .ok()
        .and_then(|text| serde_json::from_str::<Checkpoint>(&text).ok())
        .filter(|c| c.config == *config && c.data_fingerprint == data_fingerprint)
        .filter(|_| dir.file(LAST).is_file() && dir.file(OPTIMIZER).is_file());
    if let Some(saved) = resumable {
        model = model
            .try_load_file(dir.file(LAST))
            .map_err(|e| Error::model(format!("cannot resume from {}: {e}", dir.0.display())))?;
        optimizer = optimizer
            .load(dir.file(OPTIMIZER))
            .map_err(|e| Error::model(format!("cannot resume from {}: {e}", dir.0.display())))?;
        log::info!(
            "resuming after epoch {} (best F1 {:.3} at epoch {})",
            saved.history.len(),
            saved.best_f1,
            saved.best_epoch
        );
        state = saved;
    } else if let Some(start) = options.start_from {
        model = model.try_load_file(start).map_err(|e| {
            Error::model(format!(
                "cannot start from {}: {e}: it must be a checkpoint of a U-Net with the same \
                 depth and width",
                start.display()
            ))
        })?;
        // The starting model is epoch 0 of the model selection: when fine-tuning on a few
        // images makes it worse on the validation data, the starting model is kept.
        let starting = model.valid();
        let (val_loss, val_f1) = validate(&starting, val, config);
        log::info!("starting model: validation loss {val_loss:.4}, F1 {val_f1:.3}");
        state.best_f1 = val_f1;
        state.best_val_loss = val_loss;
        save_atomically(dir.file(BEST), |p| starting.save_file(p))?;
    }
    let resumed_after = state.history.len();
    let mut stop = StopReason::Finished;
    let size = config.patch;
    for epoch in state.history.len() + 1..=config.max_epochs {
        if state.epochs_without_gain >= config.patience {
            stop = StopReason::EarlyStopped;
            break;
        }
        if options
            .time_budget
            .is_some_and(|budget| started.elapsed() >= budget)
        {
            stop = StopReason::TimeBudget;
            break;
        }
        let epoch_start = Instant::now();
        let lr = config.learning_rate_at(epoch - 1);
        // One generator per epoch, so a resumed run draws what the uninterrupted one would.
        let mut rng = ChaCha8Rng::seed_from_u64(
            config.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut loss_sum = 0.0;
        for step in 1..=config.steps_per_epoch {
            let patches: Vec<_> = (0..config.batch)
                .map(|_| random_patch(train, size, &config.augmentation, &mut rng))
                .collect();
            let (x, y, w) = batch_tensors(&patches, size, &device);
            let l = loss(model.forward(x), y, w);
            let value = f64::from(l.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(Error::backend(format!(
                    "training diverged (loss {value}) in epoch {epoch}: lower the learning rate"
                )));
            }
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optimizer.step(lr, model, grads);
            loss_sum += value;
            if !progress(Progress::Step {
                epoch,
                step,
                loss: value,
            }) {
                stop = StopReason::Cancelled;
                break;
            }
        }
        if stop == StopReason::Cancelled {
            break;
        }
        let (val_loss, val_f1) = validate(&model.valid(), val, config);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / config.steps_per_epoch as f64,
            val_loss,
            val_f1,
            learning_rate: lr,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        // Better: a higher F1, or the same F1 (early on, often 0) with a lower validation loss.
        let improved = val_f1 > state.best_f1 + 1e-9
            || ((val_f1 - state.best_f1).abs() <= 1e-9 && val_loss < state.best_val_loss);
        if improved {
            state.best_val_loss = val_loss;
            state.best_f1 = val_f1;
            state.best_epoch = epoch;
            state.epochs_without_gain = 0;
            save_atomically(dir.file(BEST), |p| model.valid().save_file(p))?;
        } else {
            state.epochs_without_gain += 1;
        }
        state.history.push(record.clone());
        save_atomically(dir.file(LAST), |p| model.valid().save_file(p))?;
        save_atomically(dir.file(OPTIMIZER), |p| optimizer.save(p))?;
        let json = serde_json::to_string_pretty(&state)
            .map_err(|e| save_err("training state", &dir.file(STATE), e))?;
        brightseg::io::write_bytes_atomically(&dir.file(STATE), json.as_bytes())?;
        if !progress(Progress::Epoch {
            record: &record,
            best_f1: state.best_f1,
        }) {
            stop = StopReason::Cancelled;
            break;
        }
    }
    if stop == StopReason::Finished && state.epochs_without_gain >= config.patience {
        stop = StopReason::EarlyStopped;
    }
    let best = match dir.best_model() {
        Some(path) => crate::unet::seeded(&plain, 0, || UNet::new(config.architecture, &plain))
            .try_load_file(&path)
            .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))?,
        None => model.valid(),
    };
    Ok(TrainOutcome {
        model: best,
        history: state.history,
        best_epoch: state.best_epoch,
        best_f1: state.best_f1.max(0.0),
        stop,
        resumed_after,
    })
}

/// Writes through `write` to a temporary name beside `path`, then renames it into place, so a
/// kill never leaves a half-written checkpoint.
fn save_atomically<E: std::fmt::Display>(
    path: PathBuf,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> Result<()> {
    let tmp = path.with_extension("partial.bpk");
    write(&tmp).map_err(|e| save_err("checkpoint", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io("replace", &path, e))
}

/// Split depths (pixels) [`choose_scoring`] tries when objects are split: from the default,
/// which suits small round nuclei, to depths that keep large uneven nuclei whole (on mnfinder's
/// DAPI images, with nuclei of about 550 pixels, 0.5 split one nucleus in 15 in two).
pub const SPLIT_DEPTHS_PX: [f32; 4] = [DEFAULT_SPLIT_DEPTH_PX, 1.0, 2.0, 3.0];

/// What [`choose_scoring`] chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChosenScoring {
    /// Probability threshold.
    pub threshold: f32,
    /// Split depth in pixels ([`DEFAULT_SPLIT_DEPTH_PX`] when objects are not split).
    pub split_depth_px: f32,
    /// Mean validation object F1 at IoU 0.5 with them.
    pub f1: f64,
}

/// Chooses the probability threshold (0.30 to 0.70 in steps of 0.05) and, when objects are
/// split, the split depth (one of [`SPLIT_DEPTHS_PX`]) that maximise mean validation object F1.
/// Ties go to the smaller depth, then to the threshold nearest 0.5.
pub fn choose_scoring(model: &UNet, val: &[Sample], config: &TrainConfig) -> ChosenScoring {
    let probs: Vec<Vec<f32>> = val.iter().map(|s| predict(model, &s.image)).collect();
    choose_scoring_for(&probs, val, config)
}

/// [`choose_scoring`] on probability maps already predicted, one per validation sample.
fn choose_scoring_for(probs: &[Vec<f32>], val: &[Sample], config: &TrainConfig) -> ChosenScoring {
    let min_area_px = config.min_area_um2 / (config.pixel_um * config.pixel_um);
    let depths: &[f32] = if config.split_objects {
        &SPLIT_DEPTHS_PX
    } else {
        &SPLIT_DEPTHS_PX[..1]
    };
    let mut best = ChosenScoring {
        threshold: 0.5,
        split_depth_px: DEFAULT_SPLIT_DEPTH_PX,
        f1: f64::NEG_INFINITY,
    };
    for &split_depth_px in depths {
        for k in 0..=8 {
            let scoring = ObjectParams {
                threshold: 0.30 + 0.05 * k as f32,
                min_area_px,
                split: config.split_objects,
                split_depth_px,
                fill_holes: true,
            };
            let f1 = val
                .iter()
                .zip(probs)
                .map(|(s, p)| object_f1(p, s, &scoring))
                .sum::<f64>()
                / val.len().max(1) as f64;
            let closer = split_depth_px == best.split_depth_px
                && (scoring.threshold - 0.5).abs() < (best.threshold - 0.5).abs();
            if f1 > best.f1 + 1e-12 || ((f1 - best.f1).abs() <= 1e-12 && closer) {
                best = ChosenScoring {
                    threshold: scoring.threshold,
                    split_depth_px,
                    f1,
                };
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::FloatPlane;
    use brightseg::objects::Labels;

    /// A 48×48 image of three bright discs (the "nuclei") on a dim, textured background.
    fn synthetic(seed: u32) -> Sample {
        let (w, h) = (48, 48);
        let centres = [(12.0, 12.0), (34.0, 16.0), (22.0, 36.0)];
        let mut s = seed;
        let mut labels = vec![0u32; w * h];
        let image: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 8) as f32 / (1 << 24) as f32 * 0.2;
                for (k, (cx, cy)) in centres.iter().enumerate() {
                    if (x - cx).powi(2) + (y - cy).powi(2) <= 25.0 {
                        labels[i] = k as u32 + 1;
                        return 0.8 + noise;
                    }
                }
                0.2 + noise
            })
            .collect();
        let truth = Labels {
            width: w,
            height: h,
            data: labels,
            count: 3,
        };
        Sample::new("synthetic", FloatPlane::new(w, h, image), truth, None).expect("sample")
    }

    /// Two discs of radius 8 with centres `gap` pixels apart, as one nucleus or two, and a
    /// probability map that is sure of their union.
    fn two_discs(gap: f64, one_nucleus: bool) -> (Sample, Vec<f32>) {
        let (w, h) = (56, 32);
        let mut labels = vec![0u32; w * h];
        for (i, l) in labels.iter_mut().enumerate() {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let left = (x - 16.0).powi(2) + (y - 16.0).powi(2) <= 64.0;
            let right = (x - 16.0 - gap).powi(2) + (y - 16.0).powi(2) <= 64.0;
            *l = match (left, right) {
                (true, _) => 1,
                (false, true) if one_nucleus => 1,
                (false, true) => 2,
                _ => 0,
            };
        }
        let prob = labels
            .iter()
            .map(|&l| if l > 0 { 0.9 } else { 0.1 })
            .collect();
        let truth = Labels {
            width: w,
            height: h,
            count: if one_nucleus { 1 } else { 2 },
            data: labels,
        };
        let image = FloatPlane::new(w, h, vec![0.0; w * h]);
        let sample = Sample::new("discs", image, truth, None).expect("sample");
        (sample, prob)
    }

    #[test]
    fn the_split_depth_is_chosen_on_validation_data() {
        let config = tiny_config(1);
        // A peanut-shaped nucleus (waist 2.7 px shallower than its lobes): depths up to 2 cut
        // it in two, 3 keeps it whole.
        let (peanut, peanut_prob) = two_discs(12.0, true);
        let chosen = choose_scoring_for(
            std::slice::from_ref(&peanut_prob),
            std::slice::from_ref(&peanut),
            &config,
        );
        assert_eq!(chosen.split_depth_px, 3.0);
        assert!((chosen.f1 - 1.0).abs() < 1e-9, "{chosen:?}");
        let split_at_default = ObjectParams {
            threshold: 0.5,
            min_area_px: 5.0,
            split: true,
            split_depth_px: DEFAULT_SPLIT_DEPTH_PX,
            fill_holes: true,
        };
        // Cut in two: the larger part still matches, the other is a false positive.
        let at_default = object_f1(&peanut_prob, &peanut, &split_at_default);
        assert!((at_default - 2.0 / 3.0).abs() < 1e-9, "{at_default}");
        // Two nuclei that touch at a narrow waist: every depth splits them, so the tie goes to
        // the default.
        let (pair, prob) = two_discs(15.0, false);
        let chosen = choose_scoring_for(&[prob], &[pair], &config);
        assert_eq!(
            (chosen.split_depth_px, chosen.threshold),
            (DEFAULT_SPLIT_DEPTH_PX, 0.5)
        );
        assert!((chosen.f1 - 1.0).abs() < 1e-9, "{chosen:?}");
        // Objects that are never split (artifacts) keep the default depth.
        let unsplit = TrainConfig {
            split_objects: false,
            ..config
        };
        let chosen = choose_scoring_for(&[peanut_prob], &[peanut], &unsplit);
        assert_eq!(chosen.split_depth_px, DEFAULT_SPLIT_DEPTH_PX);
        assert!((chosen.f1 - 1.0).abs() < 1e-9, "{chosen:?}");
    }

    fn tiny_config(epochs: usize) -> TrainConfig {
        TrainConfig {
            architecture: Architecture {
                depth: 2,
                width: 4,
                stem: 1,
            },
            patch: 32,
            batch: 2,
            steps_per_epoch: 3,
            max_epochs: epochs,
            patience: 10,
            learning_rate: 5e-3,
            seed: 7,
            pixel_um: 1.0,
            min_area_um2: 5.0,
            ..TrainConfig::default()
        }
    }

    fn weights(model: &UNet) -> Vec<f32> {
        let mut out = Vec::new();
        for block in model.down.iter().chain(&model.decode) {
            for conv in [&block.first, &block.second] {
                let d = conv.weight.val().into_data();
                out.extend_from_slice(d.as_slice::<f32>().expect("f32"));
            }
        }
        out
    }

    /// Checkpoints in `dir`, starting from `start_from`, no time budget, 2 threads.
    fn options<'a>(dir: &Path, start_from: Option<&'a Path>) -> RunOptions<'a> {
        RunOptions {
            checkpoints: CheckpointDir(dir.to_path_buf()),
            start_from,
            time_budget: None,
            threads: 2,
        }
    }

    fn run_in(dir: &Path, config: &TrainConfig, cancel_after_epoch: Option<usize>) -> TrainOutcome {
        let options = options(dir, None);
        let train_set = [synthetic(1)];
        let val_set = [synthetic(2)];
        let mut progress = |p: Progress<'_>| match p {
            Progress::Epoch { record, .. } => Some(record.epoch) != cancel_after_epoch,
            Progress::Step { .. } | Progress::Preparing { .. } => true,
        };
        train(config, &train_set, &val_set, &options, &mut progress).expect("train")
    }

    #[test]
    fn same_seed_same_model_and_a_resumed_run_equals_an_uninterrupted_one() {
        let config = tiny_config(3);
        let a = tempfile::tempdir().expect("tmp");
        let straight = run_in(a.path(), &config, None);
        assert_eq!(straight.history.len(), 3);
        assert!(straight.history.iter().all(|r| r.train_loss.is_finite()));

        let b = tempfile::tempdir().expect("tmp");
        let first = run_in(b.path(), &config, Some(1));
        assert_eq!(first.stop, StopReason::Cancelled);
        assert_eq!(first.history.len(), 1);
        let resumed = run_in(b.path(), &config, None);
        assert_eq!(resumed.resumed_after, 1);
        assert_eq!(resumed.history.len(), 3);
        for (x, y) in straight.history.iter().zip(&resumed.history) {
            assert_eq!(x.train_loss, y.train_loss, "epoch {}", x.epoch);
        }
        assert_eq!(weights(&straight.model), weights(&resumed.model));
    }

    #[test]
    fn fine_tuning_keeps_the_starting_model_when_no_epoch_beats_it() {
        let config = TrainConfig {
            steps_per_epoch: 10,
            ..tiny_config(3)
        };
        let a = tempfile::tempdir().expect("tmp");
        let start = run_in(a.path(), &config, None);
        let start_file = CheckpointDir(a.path().to_path_buf())
            .best_model()
            .expect("a best checkpoint");
        // Targets turned inside out: every epoch of fine-tuning scores worse on validation.
        let mut wrong = synthetic(1);
        for t in &mut wrong.target {
            *t = 1.0 - *t;
        }
        let b = tempfile::tempdir().expect("tmp");
        let options = options(b.path(), Some(&start_file));
        let tuned =
            train(&config, &[wrong], &[synthetic(2)], &options, &mut |_| true).expect("fine-tune");
        assert_eq!(tuned.history.len(), 3);
        assert_eq!(tuned.best_epoch, 0, "{:?}", tuned.history);
        assert_eq!(weights(&tuned.model), weights(&start.model));
    }

    #[test]
    fn loss_falls_while_training() {
        let config = TrainConfig {
            steps_per_epoch: 10,
            ..tiny_config(4)
        };
        let dir = tempfile::tempdir().expect("tmp");
        let out = run_in(dir.path(), &config, None);
        let first = out.history[0].train_loss;
        let last = out.history[out.history.len() - 1].train_loss;
        assert!(last < first, "loss {first} -> {last}");
    }

    #[test]
    fn learning_rate_follows_a_cosine_from_peak_to_a_twentieth() {
        let c = TrainConfig {
            max_epochs: 10,
            learning_rate: 1e-3,
            ..TrainConfig::default()
        };
        assert!((c.learning_rate_at(0) - 1e-3).abs() < 1e-12);
        assert!((c.learning_rate_at(10) - 5e-5).abs() < 1e-12);
        assert!(c.learning_rate_at(5) < c.learning_rate_at(4));
    }

    #[test]
    fn bad_settings_are_refused_before_work() {
        for bad in [
            TrainConfig {
                patch: 30,
                ..TrainConfig::default()
            },
            TrainConfig {
                batch: 0,
                ..TrainConfig::default()
            },
            TrainConfig {
                learning_rate: 2.0,
                ..TrainConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
