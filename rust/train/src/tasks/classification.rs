//! The artifact classifier as a task of the fit loop: a small CNN ([`Classifier`]) learns
//! "artifact" or "clean" for a whole tile from image-level labels only (binary cross-entropy,
//! [`crate::loss::classification`]), on batches of half artifact and half clean tiles with
//! random flips and rotations, and is scored by validation accuracy. Its folder (weights and a
//! card) is what ScoreCAM explains.

use std::path::Path;

use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

use crate::data::FloatPlane;
use crate::fit::{
    fit, EpochRecord, Fingerprint, FitConfig, FitOptions, FitOutcome, Progress, Schedule, Task,
    Validation,
};
use crate::nets::Classifier;

/// A tile with its image-level label: all the weak-label trainer ever sees.
#[derive(Debug, Clone)]
pub struct LabelledImage {
    /// For reports.
    pub name: String,
    /// Normalised image (see [`crate::data::normalize`]).
    pub image: FloatPlane,
    /// True when the tile shows an artifact.
    pub artifact: bool,
}

/// How the classifier trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Channels of the first layer.
    pub width: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Tiles per step (half artifact, half clean).
    pub batch: usize,
    /// Adam learning rate (constant).
    pub learning_rate: f64,
    /// Epochs without better validation accuracy before stopping.
    pub patience: usize,
    /// Seed of the weights and the sampling.
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            width: 8,
            epochs: 40,
            steps: 10,
            batch: 16,
            learning_rate: 2e-3,
            patience: 12,
            seed: 1,
        }
    }
}

impl ClassifierConfig {
    /// The fit loop's part of these settings (a constant learning rate).
    pub fn fit_config(&self) -> FitConfig {
        FitConfig {
            steps_per_epoch: self.steps,
            max_epochs: self.epochs,
            patience: self.patience,
            learning_rate: self.learning_rate,
            schedule: Schedule::Constant,
            seed: self.seed,
            keep: crate::fit::Keep::Best,
        }
    }
}

/// A trained classifier and how it got there (its score is the validation accuracy).
pub type ClassifierOutcome = FitOutcome<Classifier>;

fn check_tiles(images: &[LabelledImage], what: &str) -> Result<usize> {
    let first = images
        .first()
        .ok_or_else(|| Error::invalid(format!("no {what} tiles")))?;
    let size = first.image.width;
    for t in images {
        if t.image.width != size || t.image.height != size || !size.is_multiple_of(8) || size < 16 {
            return Err(Error::invalid(format!(
                "{}: {} × {} px; the classifier takes square tiles of one size, a multiple of 8 \
                 (like the first, {size} × {size})",
                t.name, t.image.width, t.image.height
            )));
        }
    }
    Ok(size)
}

/// A random flip / 90° rotation of a square tile.
fn augment(data: &[f32], size: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (flip, turns) = (rng.random::<bool>(), rng.random_range(0..4));
    (0..size * size)
        .map(|i| {
            let (mut x, mut y) = (i % size, i / size);
            for _ in 0..turns {
                (x, y) = (y, size - 1 - x);
            }
            if flip {
                x = size - 1 - x;
            }
            data[y * size + x]
        })
        .collect()
}

/// Planes of one size stacked into a `[n, 1, H, W]` tensor on `device`.
fn stack<'p>(
    planes: impl ExactSizeIterator<Item = &'p [f32]>,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<4> {
    let n = planes.len();
    let data: Vec<f32> = planes.flat_map(|p| p.iter().copied()).collect();
    Tensor::<4>::from_data(TensorData::new(data, [n, 1, h, w]), device)
}

/// Image-level targets (1: artifact) as a `[n, 1]` tensor.
fn targets(labels: impl ExactSizeIterator<Item = bool>, device: &Device) -> Tensor<2> {
    let n = labels.len();
    let data: Vec<f32> = labels.map(|a| if a { 1.0 } else { 0.0 }).collect();
    Tensor::<2>::from_data(TensorData::new(data, [n, 1]), device)
}

/// Artifact logits `[n, 1]` of `images` (one size), run where the classifier lives.
fn logits(model: &Classifier, images: &[&FloatPlane]) -> Tensor<2> {
    let device = crate::compute::device_of(model);
    let (h, w) = (images[0].height, images[0].width);
    model.forward(stack(
        images.iter().map(|p| p.data.as_slice()),
        h,
        w,
        &device,
    ))
}

/// Artifact probabilities of `images` (any number; run `batch` at a time).
pub fn probabilities(model: &Classifier, images: &[&FloatPlane], batch: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch.max(1)) {
        let p = sigmoid(logits(model, chunk)).into_data();
        out.extend(p.as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default());
    }
    out
}

/// Tiles validated at once.
const VALIDATION_BATCH: usize = 32;

/// The classifier learning image-level labels: the fit loop's classification task.
pub struct Classification<'a> {
    config: &'a ClassifierConfig,
    positives: Vec<&'a LabelledImage>,
    negatives: Vec<&'a LabelledImage>,
    train: &'a [LabelledImage],
    val: &'a [LabelledImage],
    size: usize,
}

impl<'a> Classification<'a> {
    /// The task of training on `train` and validating on `val` with `config` (all checked).
    pub fn new(
        config: &'a ClassifierConfig,
        train: &'a [LabelledImage],
        val: &'a [LabelledImage],
    ) -> Result<Self> {
        let size = check_tiles(train, "training")?;
        if check_tiles(val, "validation")? != size {
            return Err(Error::invalid(
                "validation tiles must have the size of the training tiles",
            ));
        }
        let positives: Vec<&LabelledImage> = train.iter().filter(|t| t.artifact).collect();
        let negatives: Vec<&LabelledImage> = train.iter().filter(|t| !t.artifact).collect();
        if positives.is_empty() || negatives.is_empty() {
            return Err(Error::invalid(format!(
                "the training tiles need both labels: {} artifact and {} clean",
                positives.len(),
                negatives.len()
            )));
        }
        if config.epochs == 0 || config.steps == 0 || config.batch < 2 || config.width == 0 {
            return Err(Error::invalid(
                "epochs, steps and width must be at least 1, the batch at least 2",
            ));
        }
        Ok(Classification {
            config,
            positives,
            negatives,
            train,
            val,
            size,
        })
    }
}

impl Task for Classification<'_> {
    type Net = Classifier;
    type Batch = (Tensor<4>, Tensor<2>);

    fn name(&self) -> &str {
        "artifact classifier"
    }

    fn network(&self, device: &Device) -> Classifier {
        Classifier::new(self.config.width, device)
    }

    fn batch(&self, rng: &mut ChaCha8Rng, device: &Device) -> Self::Batch {
        let mut tiles = Vec::with_capacity(self.config.batch);
        let mut labels = Vec::with_capacity(self.config.batch);
        for k in 0..self.config.batch {
            let pool = if k % 2 == 0 {
                &self.positives
            } else {
                &self.negatives
            };
            let t = pool[rng.random_range(0..pool.len())];
            tiles.push(augment(&t.image.data, self.size, rng));
            labels.push(t.artifact);
        }
        (
            stack(
                tiles.iter().map(Vec::as_slice),
                self.size,
                self.size,
                device,
            ),
            targets(labels.into_iter(), device),
        )
    }

    fn loss(&self, net: &Classifier, (tiles, labels): Self::Batch) -> Tensor<1> {
        crate::loss::classification(net.forward(tiles), labels)
    }

    fn validate(&self, net: &Classifier) -> Validation {
        let (mut loss_sum, mut right) = (0.0, 0);
        for chunk in self.val.chunks(VALIDATION_BATCH) {
            let images: Vec<&FloatPlane> = chunk.iter().map(|t| &t.image).collect();
            let logits = logits(net, &images);
            let truth = targets(chunk.iter().map(|t| t.artifact), &logits.device());
            let loss = crate::loss::classification(logits.clone(), truth);
            loss_sum += crate::loss::value(loss) * chunk.len() as f64;
            let p = sigmoid(logits).into_data();
            let p = p.as_slice::<f32>().unwrap_or_default();
            right += chunk
                .iter()
                .zip(p)
                .filter(|(t, &p)| (p >= 0.5) == t.artifact)
                .count();
        }
        let n = self.val.len().max(1) as f64;
        Validation {
            loss: loss_sum / n,
            score: right as f64 / n,
        }
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.config).unwrap_or_default()
    }

    fn data_fingerprint(&self) -> u64 {
        let mut f = Fingerprint::default();
        for t in self.train.iter().chain(self.val) {
            f.add(u64::from(t.artifact));
            f.add_sampled(&t.image.data);
        }
        f.value()
    }
}

/// Trains on `train` and keeps the epoch with the best accuracy on `val` (ties: lower
/// validation loss), through the fit loop: checkpoints in `options.checkpoints` (a killed run
/// resumes), a time budget, and a cancel when `progress` returns false (keeping the best so
/// far).
pub fn train_classifier(
    train: &[LabelledImage],
    val: &[LabelledImage],
    config: &ClassifierConfig,
    options: &FitOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<ClassifierOutcome> {
    let task = Classification::new(config, train, val)?;
    fit(&task, &config.fit_config(), options, progress)
}

/// What is saved beside the classifier's weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierCard {
    /// Channels of the first layer.
    pub width: usize,
    /// Tile edge it was trained on.
    pub tile: usize,
    /// Validation accuracy of the kept epoch.
    pub val_accuracy: f64,
    /// Epoch kept.
    pub best_epoch: usize,
    /// Training settings.
    pub config: ClassifierConfig,
    /// Every epoch (score: validation accuracy).
    pub history: Vec<EpochRecord>,
}

impl ClassifierCard {
    /// The card saved beside the classifier of `outcome`, trained with `config` on `tile`-pixel
    /// tiles.
    pub fn new(outcome: &ClassifierOutcome, config: &ClassifierConfig, tile: usize) -> Self {
        ClassifierCard {
            width: config.width,
            tile,
            val_accuracy: outcome.best_score,
            best_epoch: outcome.best_epoch,
            config: config.clone(),
            history: outcome.history.clone(),
        }
    }
}

/// File names in a classifier folder.
pub const CLASSIFIER_WEIGHTS: &str = "classifier.bpk";
/// The card beside the weights.
pub const CLASSIFIER_CARD: &str = "classifier.json";

/// Writes the classifier and its card into `folder`.
pub fn save_classifier(model: &Classifier, card: &ClassifierCard, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io("create", folder, e))?;
    let weights = folder.join(CLASSIFIER_WEIGHTS);
    model.clone().save_file(&weights).map_err(|e| {
        Error::new(
            brightseg::ErrorKind::Io,
            format!("cannot write {}: {e}", weights.display()),
        )
    })?;
    let json = serde_json::to_string_pretty(card)
        .map_err(|e| Error::invalid(format!("cannot encode the classifier card: {e}")))?;
    brightseg::io::write_bytes_atomically(&folder.join(CLASSIFIER_CARD), json.as_bytes())
}

/// Reads a classifier folder written by [`save_classifier`].
pub fn load_classifier(folder: &Path) -> Result<(Classifier, ClassifierCard)> {
    let card_path = folder.join(CLASSIFIER_CARD);
    let text = std::fs::read_to_string(&card_path).map_err(|e| Error::io("read", &card_path, e))?;
    let card: ClassifierCard = serde_json::from_str(&text).map_err(|e| {
        Error::model(format!(
            "{} is not a classifier card: {e}",
            card_path.display()
        ))
    })?;
    let device = crate::compute::device();
    let model = crate::nets::seeded(&device, 0, || Classifier::new(card.width, &device))
        .try_load_file(folder.join(CLASSIFIER_WEIGHTS))
        .map_err(|e| {
            Error::model(format!(
                "cannot read the classifier in {}: {e}",
                folder.display()
            ))
        })?;
    Ok((model, card))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{CheckpointDir, StopReason};

    /// A 16×16 tile of textured background, with a dark disc (the "artifact") when `artifact`.
    fn tile(seed: u32, artifact: bool) -> LabelledImage {
        let size = 16;
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let (cx, cy) = (4.0 + (seed % 8) as f32, 4.0 + (seed / 8 % 8) as f32);
        let data = (0..size * size)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 8) as f32 / (1 << 24) as f32 * 0.2;
                let (x, y) = ((i % size) as f32, (i / size) as f32);
                let inside = (x - cx).powi(2) + (y - cy).powi(2) <= 9.0;
                if artifact && inside {
                    0.1 + noise
                } else {
                    0.6 + noise
                }
            })
            .collect();
        LabelledImage {
            name: format!("tile{seed}"),
            image: FloatPlane::new(size, size, data),
            artifact,
        }
    }

    fn tiles(from: u32, n: u32) -> Vec<LabelledImage> {
        (from..from + n).map(|i| tile(i, i % 2 == 0)).collect()
    }

    fn config(epochs: usize) -> ClassifierConfig {
        ClassifierConfig {
            width: 4,
            epochs,
            steps: 6,
            batch: 8,
            learning_rate: 1e-2,
            patience: 20,
            seed: 3,
        }
    }

    fn run(dir: &Path, config: &ClassifierConfig, stop_after: Option<usize>) -> ClassifierOutcome {
        let options = FitOptions {
            checkpoints: CheckpointDir(dir.to_path_buf()),
            start_from: None,
            time_budget: None,
            threads: 2,
        };
        let mut progress = |p: Progress<'_>| match p {
            Progress::Epoch { record, .. } => Some(record.epoch) != stop_after,
            _ => true,
        };
        train_classifier(
            &tiles(0, 24),
            &tiles(100, 16),
            config,
            &options,
            &mut progress,
        )
        .expect("trained")
    }

    #[test]
    fn the_classifier_learns_to_tell_artifact_tiles_from_clean_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let outcome = run(dir.path(), &config(8), None);
        assert!(outcome.best_score >= 0.9, "{:?}", outcome.history);
        // The kept network scores what its epoch recorded, on the validation tiles.
        let val = tiles(100, 16);
        let images: Vec<&FloatPlane> = val.iter().map(|t| &t.image).collect();
        let p = probabilities(&outcome.model, &images, 5);
        let right = val
            .iter()
            .zip(&p)
            .filter(|(t, &p)| (p >= 0.5) == t.artifact);
        assert_eq!(right.count() as f64 / 16.0, outcome.best_score);
    }

    #[test]
    fn a_killed_classifier_run_resumes_where_it_stopped() {
        let config = config(3);
        let a = tempfile::tempdir().expect("tmp");
        let straight = run(a.path(), &config, None);
        let b = tempfile::tempdir().expect("tmp");
        let first = run(b.path(), &config, Some(1));
        assert_eq!(
            (first.stop, first.history.len()),
            (StopReason::Cancelled, 1)
        );
        let resumed = run(b.path(), &config, None);
        assert_eq!(resumed.resumed_after, 1);
        assert_eq!(straight.history.len(), resumed.history.len());
        for (x, y) in straight.history.iter().zip(&resumed.history) {
            assert_eq!(x.train_loss, y.train_loss, "epoch {}", x.epoch);
        }
    }

    #[test]
    fn tiles_of_one_label_or_odd_sizes_are_refused() {
        let config = ClassifierConfig::default();
        let clean: Vec<LabelledImage> = (0..4).map(|i| tile(i, false)).collect();
        let err = Classification::new(&config, &clean, &tiles(100, 4))
            .err()
            .expect("one label only");
        assert!(err.to_string().contains("0 artifact and 4 clean"), "{err}");
        let mut odd = tiles(0, 4);
        odd[1].image = FloatPlane::new(12, 12, vec![0.5; 144]);
        assert!(Classification::new(&config, &odd, &tiles(100, 4)).is_err());
    }
}
