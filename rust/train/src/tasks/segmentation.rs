//! Segmentation as a task of the fit loop: a U-Net learns a probability per pixel from random
//! augmented patches (weighted BCE + Dice, [`crate::loss::segmentation`]) and is scored after
//! every epoch by object F1 at IoU 0.5 on whole validation images. Nuclei and artifacts both
//! train this way; they differ in their data and in [`ObjectScoring`].

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use brightseg::image::area_in_pixels;
use brightseg::metrics::match_objects;
use brightseg::model::DEFAULT_SPLIT_DEPTH_PX;
use brightseg::objects::{find_objects, ObjectParams};
use brightseg::{Error, Result};

use crate::data::samples::{random_patch, Augmentation, Patch, PatchDraw, Sample};
use crate::data::FloatPlane;
use crate::fit::{fit, Fingerprint, FitConfig, FitOptions, FitOutcome, Progress, Task, Validation};
use crate::nets::{Architecture, UNet};

/// How validation turns a probability map into objects before scoring them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectScoring {
    /// Pixel size of the data in µm (for the minimum object size).
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

impl Default for ObjectScoring {
    fn default() -> Self {
        ObjectScoring {
            pixel_um: 1.0,
            min_area_um2: 10.0,
            split_objects: true,
        }
    }
}

impl ObjectScoring {
    /// The object step's parameters at `threshold` and `split_depth_px`.
    pub fn params(&self, threshold: f32, split_depth_px: f32) -> ObjectParams {
        ObjectParams {
            threshold,
            min_area_px: area_in_pixels(self.min_area_um2, self.pixel_um, self.pixel_um),
            split: self.split_objects,
            split_depth_px,
            fill_holes: true,
        }
    }
}

/// What a U-Net learns from its samples' targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Object masks (nuclei, artifacts): weighted BCE + soft Dice
    /// ([`crate::loss::segmentation`]), scored by object F1.
    #[default]
    Objects,
    /// The smoothed, normalised nuclear stain, a pretext task that needs no labels (in-silico
    /// labelling): BCE on soft targets ([`crate::loss::stain`]), scored by the correlation of
    /// the prediction with the stain.
    Stain,
}

impl Objective {
    /// Whether this is the default, [`Objective::Objects`] (left out of saved settings, so
    /// checkpoints written before objectives existed still resume).
    pub fn is_objects(&self) -> bool {
        *self == Objective::Objects
    }
}

/// Settings of a segmentation training run: the fit loop's, the network's and the data's, and
/// how validation scores. Serialised flat (as checkpoints have always recorded it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs, steps, learning rate, patience, seed.
    #[serde(flatten)]
    pub fit: FitConfig,
    /// Network shape.
    pub architecture: Architecture,
    /// Edge of the square training patches, pixels (a multiple of the size multiple).
    pub patch: usize,
    /// Patches per step.
    pub batch: usize,
    /// Augmentation of training patches.
    #[serde(default)]
    pub augmentation: Augmentation,
    /// How patches are spread over the images and datasets (and validation over datasets).
    #[serde(default)]
    pub patch_draw: PatchDraw,
    /// How validation finds and scores objects.
    #[serde(flatten)]
    pub scoring: ObjectScoring,
    /// What the network learns.
    #[serde(default, skip_serializing_if = "Objective::is_objects")]
    pub objective: Objective,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            fit: FitConfig::default(),
            architecture: Architecture::STANDARD,
            patch: 128,
            batch: 8,
            augmentation: Augmentation::default(),
            patch_draw: PatchDraw::default(),
            scoring: ObjectScoring::default(),
            objective: Objective::Objects,
        }
    }
}

impl TrainConfig {
    /// Checks the ranges before any work is done.
    pub fn validate(&self) -> Result<()> {
        self.fit.validate()?;
        self.architecture.validate()?;
        let m = self.architecture.size_multiple();
        if self.patch < m || !self.patch.is_multiple_of(m) || self.patch > 1024 {
            return Err(Error::invalid(format!(
                "patch size {} must be a multiple of {m} between {m} and 1024 for a U-Net of \
                 depth {}",
                self.patch, self.architecture.depth
            )));
        }
        if self.batch == 0 {
            return Err(Error::invalid("batch must be at least 1"));
        }
        self.augmentation.validate()?;
        if !(self.scoring.pixel_um.is_finite() && self.scoring.pixel_um > 0.0) {
            return Err(Error::invalid("pixel size must be a positive number of µm"));
        }
        Ok(())
    }
}

/// The result of a segmentation training run.
pub type TrainOutcome = FitOutcome<UNet>;

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
        FitConfig::default().learning_rate
    }
}

/// A U-Net learning per-pixel targets from samples: the fit loop's segmentation task.
pub struct Segmentation<'a> {
    config: &'a TrainConfig,
    train: &'a [Sample],
    val: &'a [Sample],
}

impl<'a> Segmentation<'a> {
    /// The task of training on `train` and validating on `val` with `config` (checked).
    pub fn new(config: &'a TrainConfig, train: &'a [Sample], val: &'a [Sample]) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(Error::invalid("no training images: give at least one"));
        }
        if val.is_empty() {
            return Err(Error::invalid(
                "no validation images: hold some out (a strip of each image is held out by \
                 default)",
            ));
        }
        Ok(Segmentation { config, train, val })
    }
}

/// Patches stacked into `[n, 1, size, size]` tensors: images, targets, weights.
pub struct PatchBatch {
    image: Tensor<4>,
    target: Tensor<4>,
    weight: Tensor<4>,
}

impl PatchBatch {
    fn new(patches: &[Patch], size: usize, device: &Device) -> Self {
        let n = patches.len();
        let stack = |f: fn(&Patch) -> &Vec<f32>| {
            let data: Vec<f32> = patches.iter().flat_map(|p| f(p).iter().copied()).collect();
            Tensor::<4>::from_data(TensorData::new(data, [n, 1, size, size]), device)
        };
        PatchBatch {
            image: stack(|p| &p.image),
            target: stack(|p| &p.target),
            weight: stack(|p| &p.weight),
        }
    }
}

impl Task for Segmentation<'_> {
    type Net = UNet;
    type Batch = PatchBatch;

    fn name(&self) -> &str {
        "U-Net"
    }

    fn network(&self, device: &Device) -> UNet {
        UNet::new(self.config.architecture, device)
    }

    fn batch(&self, rng: &mut ChaCha8Rng, device: &Device) -> PatchBatch {
        let size = self.config.patch;
        let patches: Vec<Patch> = (0..self.config.batch)
            .map(|_| {
                random_patch(
                    self.train,
                    size,
                    &self.config.augmentation,
                    self.config.patch_draw,
                    rng,
                )
            })
            .collect();
        PatchBatch::new(&patches, size, device)
    }

    fn loss(&self, net: &UNet, batch: PatchBatch) -> Tensor<1> {
        let loss = match self.config.objective {
            Objective::Objects => crate::loss::segmentation,
            Objective::Stain => crate::loss::stain,
        };
        loss(net.forward(batch.image), batch.target, batch.weight)
    }

    fn validate(&self, net: &UNet) -> Validation {
        let scoring = self.config.scoring.params(0.5, DEFAULT_SPLIT_DEPTH_PX);
        let (mut losses, mut scores) = (Vec::new(), Vec::new());
        for s in self.val {
            let logits = logits_of(net, &s.image);
            let device = logits.device();
            let (w, h) = (s.image.width, s.image.height);
            let plane = |v: &[f32]| {
                Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, h, w]), &device)
            };
            let (target, weight) = (plane(&s.target), plane(&s.weight));
            let (loss, score) = match self.config.objective {
                Objective::Objects => (
                    crate::loss::segmentation(logits.clone(), target, weight),
                    object_f1(&probabilities(logits), s, &scoring),
                ),
                Objective::Stain => (
                    crate::loss::stain(logits.clone(), target, weight),
                    correlation(&probabilities(logits), &s.target, &s.weight),
                ),
            };
            losses.push(crate::loss::value(loss));
            scores.push(score);
        }
        // Each validation image counts equally, or each dataset does (PatchDraw::PerDataset).
        let draw = self.config.patch_draw;
        Validation {
            loss: draw.validation_mean(self.val, losses),
            score: draw.validation_mean(self.val, scores),
        }
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.config).unwrap_or_default()
    }

    fn data_fingerprint(&self) -> u64 {
        let mut f = Fingerprint::default();
        for s in self.train.iter().chain(self.val) {
            f.add(s.image.width as u64);
            f.add(s.image.height as u64);
            f.add_sampled(&s.image.data);
            f.add_sampled(&s.target);
            f.add_sampled(&s.weight);
        }
        f.value()
    }
}

/// Pearson correlation of `prediction` with `target` over the pixels of non-zero `weight` (0
/// when either is constant there): the stain objective's validation score.
pub fn correlation(prediction: &[f32], target: &[f32], weight: &[f32]) -> f64 {
    let pairs = || {
        prediction
            .iter()
            .zip(target)
            .zip(weight)
            .filter(|(_, &w)| w > 0.0)
            .map(|((&p, &t), _)| (f64::from(p), f64::from(t)))
    };
    let n = pairs().count() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mp, mt) = pairs().fold((0.0, 0.0), |(a, b), (p, t)| (a + p / n, b + t / n));
    let (mut cov, mut vp, mut vt) = (0.0, 0.0, 0.0);
    for (p, t) in pairs() {
        cov += (p - mp) * (t - mt);
        vp += (p - mp) * (p - mp);
        vt += (t - mt) * (t - mt);
    }
    if vp <= 0.0 || vt <= 0.0 {
        return 0.0;
    }
    cov / (vp * vt).sqrt()
}

/// Logits `[1, 1, H, W]` of a whole image (any size: padded to the size multiple by repeating
/// the edge, run where the network lives, then cropped back).
fn logits_of(model: &UNet, image: &FloatPlane) -> Tensor<4> {
    let device = &crate::compute::device_of(model);
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
    model.forward(input).slice([0..1, 0..1, 0..h, 0..w])
}

/// The values of `logits` through the sigmoid, row-major.
fn probabilities(logits: Tensor<4>) -> Vec<f32> {
    let data = sigmoid(logits).into_data();
    data.as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default()
}

/// Probability map of a whole image (any size: padded to the size multiple by repeating the
/// edge, then cropped back).
pub fn predict(model: &UNet, image: &FloatPlane) -> Vec<f32> {
    probabilities(logits_of(model, image))
}

/// Object F1 at IoU 0.5 of `prob` turned into objects with `params`, against the sample's
/// instances, scored where its labels are known (see [`Coverage`]). An image with no objects
/// and none predicted (where known) scores 1.
pub fn object_f1(prob: &[f32], sample: &Sample, params: &ObjectParams) -> f64 {
    let (w, h) = (sample.image.width, sample.image.height);
    let predicted = find_objects(prob, w, h, params);
    let m = match_objects(&predicted, &sample.truth, sample.coverage(), 0.5);
    if m.true_positives + m.false_positives + m.false_negatives == 0 {
        1.0
    } else {
        m.f1
    }
}

/// Trains a U-Net on `train`, validating on `val` after each epoch. `progress` is called after
/// every step and epoch; returning `false` cancels (the best model so far is kept).
pub fn train(
    config: &TrainConfig,
    train: &[Sample],
    val: &[Sample],
    options: &FitOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<TrainOutcome> {
    let task = Segmentation::new(config, train, val)?;
    fit(&task, &config.fit, options, progress)
}

/// Seconds per training step of a U-Net with `config` on `train` patches (see
/// [`crate::fit::time_steps`]): what `brightseg bench` reports for each engine.
pub fn time_training_steps(
    config: &TrainConfig,
    train: &[Sample],
    warmup: usize,
    steps: usize,
    threads: usize,
) -> Result<Vec<crate::fit::StepSeconds>> {
    // Validation is not run: the training samples stand in for it.
    let task = Segmentation::new(config, train, train)?;
    crate::fit::time_steps(&task, config.fit.seed, warmup, steps, threads)
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
    let depths: &[f32] = if config.scoring.split_objects {
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
            let scoring = config
                .scoring
                .params(0.30 + 0.05 * k as f32, split_depth_px);
            let f1 = config.patch_draw.validation_mean(
                val,
                val.iter()
                    .zip(probs)
                    .map(|(s, p)| object_f1(p, s, &scoring)),
            );
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
    use crate::fit::{CheckpointDir, StopReason};
    use crate::targets::incomplete::IncompleteLabels;
    use brightseg::objects::Labels;
    use std::path::Path;

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
            scoring: ObjectScoring {
                split_objects: false,
                ..config.scoring.clone()
            },
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
            fit: FitConfig {
                steps_per_epoch: 3,
                max_epochs: epochs,
                patience: 10,
                learning_rate: 5e-3,
                seed: 7,
                ..FitConfig::default()
            },
            scoring: ObjectScoring {
                pixel_um: 1.0,
                min_area_um2: 5.0,
                split_objects: true,
            },
            ..TrainConfig::default()
        }
    }

    /// `tiny_config(epochs)` with `steps` steps per epoch.
    fn tiny_config_with_steps(epochs: usize, steps: usize) -> TrainConfig {
        let mut config = tiny_config(epochs);
        config.fit.steps_per_epoch = steps;
        config
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
    fn options<'a>(dir: &Path, start_from: Option<&'a Path>) -> FitOptions<'a> {
        FitOptions {
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

    /// `keep last`: every epoch runs whatever the patience, and the run ends with the last
    /// epoch's network: the same run keeping the best has the same history, and the same
    /// weights exactly when its best epoch is the last.
    #[test]
    fn keeping_the_last_epoch_runs_them_all_and_returns_the_last_network() {
        let mut config = tiny_config(4);
        config.fit.patience = 1;
        config.fit.keep = crate::fit::Keep::Last;
        let a = tempfile::tempdir().expect("tmp");
        let last = run_in(a.path(), &config, None);
        assert_eq!(last.history.len(), 4);
        assert_eq!(last.stop, StopReason::Finished);
        assert_eq!(last.best_epoch, 4);
        assert_eq!(last.best_score, last.history[3].val_score.max(0.0));
        // The same run keeping the best: its weights are the best epoch's, and the last
        // epoch's are the ones `keep last` returned.
        let mut best_config = config.clone();
        best_config.fit.keep = crate::fit::Keep::Best;
        best_config.fit.patience = 10;
        let b = tempfile::tempdir().expect("tmp");
        let best = run_in(b.path(), &best_config, None);
        let scores = |o: &TrainOutcome| -> Vec<(f64, f64)> {
            o.history
                .iter()
                .map(|r| (r.train_loss, r.val_score))
                .collect()
        };
        assert_eq!(scores(&best), scores(&last));
        assert_eq!(
            best.best_epoch == 4,
            weights(&best.model) == weights(&last.model),
            "best epoch {}",
            best.best_epoch
        );
        // Cancelled in the middle of epoch 3, it returns epoch 2's network (the checkpoint),
        // as a run cancelled right after epoch 2 does; not the half-trained one.
        // (The returned network reads its weights from the checkpoint folder: keep it.)
        let dirs = [
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        ];
        let run_until = |dir: &Path, cancel: &(dyn Fn(&Progress<'_>) -> bool + Sync)| {
            let mut progress = |p: Progress<'_>| !cancel(&p);
            let (train_set, val_set) = ([synthetic(1)], [synthetic(2)]);
            let options = options(dir, None);
            train(&config, &train_set, &val_set, &options, &mut progress).expect("train")
        };
        let after_2 = run_until(
            dirs[0].path(),
            &|p| matches!(p, Progress::Epoch { record, .. } if record.epoch == 2),
        );
        let in_3 = run_until(dirs[1].path(), &|p| {
            matches!(
                p,
                Progress::Step {
                    epoch: 3,
                    step: 2,
                    ..
                }
            )
        });
        assert_eq!((after_2.best_epoch, in_3.best_epoch), (2, 2));
        assert_eq!(in_3.stop, StopReason::Cancelled);
        assert_eq!(weights(&in_3.model), weights(&after_2.model));
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
        let config = tiny_config_with_steps(3, 10);
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

    /// The trainer learns the synthetic task: the loss falls, and the validation object F1 goes
    /// from 0 (the seeded, untrained network finds none of the three discs) to 1 (all three,
    /// reached at epoch 4 of 8 when this was written: 160 steps, a fraction of a second).
    /// Catches a trainer that returns its initial weights, never steps the optimiser, or
    /// scores validation on the wrong data.
    #[test]
    fn training_learns_the_synthetic_task_from_a_network_that_finds_nothing() {
        let config = tiny_config_with_steps(8, 20);
        let dir = tempfile::tempdir().expect("tmp");
        let out = run_in(dir.path(), &config, None);
        let first = out.history[0].train_loss;
        let last = out.history[out.history.len() - 1].train_loss;
        assert!(last < first, "loss {first} -> {last}");
        let device = crate::compute::device();
        let untrained = crate::nets::seeded(&device, config.fit.seed, || {
            UNet::new(config.architecture, &device)
        });
        let val = synthetic(2);
        let scoring = config.scoring.params(0.5, DEFAULT_SPLIT_DEPTH_PX);
        assert_eq!(
            object_f1(&predict(&untrained, &val.image), &val, &scoring),
            0.0
        );
        assert!(out.best_score >= 0.99, "validation F1 {}", out.best_score);
        let trained = object_f1(&predict(&out.model, &val.image), &val, &scoring);
        assert!(trained >= 0.99, "the returned model scores {trained}");
    }

    /// A 96 × 96 field of 25 discs (radius 5) on a grainy background, with every other disc
    /// left out of the labels; and the left-out discs, for scoring.
    fn half_labelled_discs(seed: u32) -> (Sample, Labels) {
        let (w, h) = (96, 96);
        let mut s = seed;
        let mut all = vec![0u32; w * h];
        let image: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 8) as f32 / (1 << 24) as f32 * 0.2;
                let (cx, cy) = (
                    (x / 19.0).floor() * 19.0 + 9.5,
                    (y / 19.0).floor() * 19.0 + 9.5,
                );
                if (x - cx).powi(2) + (y - cy).powi(2) <= 25.0 && cx < 95.0 && cy < 95.0 {
                    all[i] = (cy as u32 / 19) * 5 + cx as u32 / 19 + 1;
                    return 0.8 + noise;
                }
                0.2 + noise
            })
            .collect();
        let (labelled, unlabelled): (Vec<u32>, Vec<u32>) = all
            .iter()
            .map(|&l| if l % 2 == 1 { (l, 0) } else { (0, l) })
            .unzip();
        let labels = |data: Vec<u32>| brightseg::objects::relabel_and_filter(data, w, h, 0.0);
        let sample = Sample::new(
            "half-labelled discs",
            FloatPlane::new(w, h, image),
            labels(labelled),
            None,
        )
        .expect("sample");
        (sample, labels(unlabelled))
    }

    /// With half the discs left out of the labels, the naive loss teaches the network that
    /// they are background; the incomplete-label loss keeps them nuclei: the left-out discs'
    /// mean probability is clearly higher, and above the 0.5 threshold.
    #[test]
    fn incomplete_labels_keep_the_unlabelled_nuclei_nuclei() {
        let config = tiny_config_with_steps(6, 10);
        let (naive, hidden) = half_labelled_discs(3);
        let (val, _) = half_labelled_discs(4);
        let incomplete = |sample: &Sample| {
            let (weights, known) = IncompleteLabels::default().weights(&sample.truth, None);
            let mut s = sample.clone();
            s.weight = weights;
            s.known = Some(known);
            s
        };
        let mean_on_hidden = |train_set: Sample, val_set: Sample| -> f64 {
            let dir = tempfile::tempdir().expect("tmp");
            let out = train(
                &config,
                &[train_set],
                &[val_set],
                &options(dir.path(), None),
                &mut |_| true,
            )
            .expect("train");
            let p = predict(&out.model, &naive.image);
            let (sum, n) = hidden
                .data
                .iter()
                .zip(&p)
                .filter(|(&l, _)| l != 0)
                .fold((0.0, 0), |(s, n), (_, &p)| (s + f64::from(p), n + 1));
            sum / f64::from(n)
        };
        let naive_p = mean_on_hidden(naive.clone(), val.clone());
        let incomplete_p = mean_on_hidden(incomplete(&naive), incomplete(&val));
        assert!(
            incomplete_p > 0.5 && incomplete_p > naive_p + 0.15,
            "left-out discs: {incomplete_p:.3} with the incomplete-label loss, {naive_p:.3} naive"
        );
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
                fit: FitConfig {
                    learning_rate: 2.0,
                    ..FitConfig::default()
                },
                ..TrainConfig::default()
            },
            TrainConfig {
                scoring: ObjectScoring {
                    pixel_um: 0.0,
                    ..ObjectScoring::default()
                },
                ..TrainConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
