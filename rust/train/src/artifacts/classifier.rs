//! The weak-label classifier: a small CNN that says "artifact" or "clean" for a whole tile, trained
//! from image-level labels only. Its last convolution (at 1/8 resolution) is the layer ScoreCAM
//! explains.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

use crate::filters::FloatPlane;

/// Convolutions of the classifier (the last is the CAM layer).
const LAYERS: usize = 4;

/// A CNN mapping `[batch, 1, H, W]` (H, W multiples of 8) to one artifact logit per image:
/// four 3×3 convolutions + ReLU with 2×2 max pooling after the first three, global average
/// pooling, one linear layer.
#[derive(Module, Debug)]
pub struct Classifier {
    /// The convolutions, input side first; the last one is the CAM layer.
    pub convs: Vec<Conv2d>,
    /// Linear layer from the pooled CAM-layer channels to the logit.
    pub head: Linear,
    pool: MaxPool2d,
}

impl crate::unet::DrawWeights for Classifier {
    fn draw_weights(&self, device: &Device) {
        // The smallest input every pooling step accepts: a forward pass draws every weight.
        let side = 1 << (LAYERS - 1);
        let _ = self.forward(Tensor::<4>::zeros([1, 1, side, side], device));
    }
}

impl Classifier {
    /// A freshly initialised classifier with `width` channels in its first layer (doubling to
    /// 4 × `width` at the CAM layer).
    pub fn new(width: usize, device: &Device) -> Self {
        let channels = [width, 2 * width, 4 * width, 4 * width];
        let convs = (0..LAYERS)
            .map(|i| {
                let cin = if i == 0 { 1 } else { channels[i - 1] };
                Conv2dConfig::new([cin, channels[i]], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Classifier {
            convs,
            head: LinearConfig::new(channels[LAYERS - 1], 1).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// Channels of the first layer.
    pub fn width(&self) -> usize {
        self.convs[0].weight.dims()[0]
    }

    /// Activations of the CAM layer, `[batch, 4 × width, H/8, W/8]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = relu(conv.forward(x));
            if i + 1 < LAYERS {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// Logits `[batch, 1]` from CAM-layer activations.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        let [b, c, _, _] = features.dims();
        let pooled = features.mean_dim(3).mean_dim(2).reshape([b, c]);
        self.head.forward(pooled)
    }

    /// Logits `[batch, 1]`: positive means "artifact".
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classify(self.features(x))
    }
}

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
    /// Adam learning rate.
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

/// One finished epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierEpoch {
    /// From 1.
    pub epoch: usize,
    /// Mean training loss (binary cross-entropy).
    pub train_loss: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Share of validation tiles classified right at 0.5.
    pub val_accuracy: f64,
}

/// A trained classifier and how it got there.
#[derive(Debug)]
pub struct ClassifierOutcome {
    /// The network of the best validation epoch.
    pub model: Classifier,
    /// Every epoch.
    pub history: Vec<ClassifierEpoch>,
    /// Epoch of the kept network.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub val_accuracy: f64,
}

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

fn batch_tensor(tiles: &[&[f32]], size: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = tiles.iter().flat_map(|t| t.iter().copied()).collect();
    Tensor::<4>::from_data(TensorData::new(data, [tiles.len(), 1, size, size]), device)
}

/// Binary cross-entropy on logits, mean over the batch.
fn bce(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (logits.clone().clamp_min(0.0) - logits.clone() * target + logits.abs().neg().exp().log1p())
        .mean()
}

/// Artifact probabilities of `images` (any number; run `batch` at a time).
pub fn probabilities(model: &Classifier, images: &[&FloatPlane], batch: usize) -> Vec<f32> {
    let device = &Device::flex();
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch.max(1)) {
        let size = chunk[0].width;
        let height = chunk[0].height;
        let data: Vec<f32> = chunk.iter().flat_map(|p| p.data.iter().copied()).collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [chunk.len(), 1, height, size]),
            device,
        );
        let p = sigmoid(model.forward(x)).into_data();
        out.extend(p.as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default());
    }
    out
}

fn evaluate(model: &Classifier, val: &[LabelledImage]) -> (f64, f64) {
    let images: Vec<&FloatPlane> = val.iter().map(|t| &t.image).collect();
    let p = probabilities(model, &images, 32);
    let mut loss = 0.0;
    let mut right = 0;
    for (t, &p) in val.iter().zip(&p) {
        let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
        loss -= if t.artifact { p.ln() } else { (1.0 - p).ln() };
        right += usize::from((p >= 0.5) == t.artifact);
    }
    (loss / val.len() as f64, right as f64 / val.len() as f64)
}

/// Trains on `train`, keeps the epoch with the best accuracy on `val` (ties: lower validation
/// loss). `progress` gets every epoch and returns false to stop (keeping the best so far).
pub fn train_classifier(
    train: &[LabelledImage],
    val: &[LabelledImage],
    config: &ClassifierConfig,
    progress: &mut dyn FnMut(&ClassifierEpoch) -> bool,
) -> Result<ClassifierOutcome> {
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
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let mut model = crate::unet::seeded(&device, config.seed, || {
        Classifier::new(config.width, &device)
    });
    let mut optimizer = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut history = Vec::new();
    let (mut best_accuracy, mut best_loss, mut best_epoch) = (-1.0, f64::INFINITY, 0);
    let mut best = model.valid();
    let mut since_best = 0;
    for epoch in 1..=config.epochs {
        let mut loss_sum = 0.0;
        for _ in 0..config.steps {
            let mut tiles = Vec::with_capacity(config.batch);
            let mut labels = Vec::with_capacity(config.batch);
            for k in 0..config.batch {
                let pool = if k % 2 == 0 { &positives } else { &negatives };
                let t = pool[rng.random_range(0..pool.len())];
                tiles.push(augment(&t.image.data, size, &mut rng));
                labels.push(if t.artifact { 1.0f32 } else { 0.0 });
            }
            let refs: Vec<&[f32]> = tiles.iter().map(Vec::as_slice).collect();
            let x = batch_tensor(&refs, size, &device);
            let y = Tensor::<2>::from_data(TensorData::new(labels, [config.batch, 1]), &device);
            let l = bce(model.forward(x), y);
            let value = f64::from(l.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(Error::backend(format!(
                    "classifier training diverged (loss {value}) in epoch {epoch}: lower the \
                     learning rate"
                )));
            }
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            loss_sum += value;
        }
        let current = model.valid();
        let (val_loss, val_accuracy) = evaluate(&current, val);
        let record = ClassifierEpoch {
            epoch,
            train_loss: loss_sum / config.steps as f64,
            val_loss,
            val_accuracy,
        };
        if val_accuracy > best_accuracy + 1e-9
            || ((val_accuracy - best_accuracy).abs() <= 1e-9 && val_loss < best_loss)
        {
            (best_accuracy, best_loss, best_epoch) = (val_accuracy, val_loss, epoch);
            best = current;
            since_best = 0;
        } else {
            since_best += 1;
        }
        history.push(record.clone());
        if !progress(&record) || since_best >= config.patience {
            break;
        }
    }
    Ok(ClassifierOutcome {
        model: best,
        history,
        best_epoch,
        val_accuracy: best_accuracy,
    })
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
    /// Every epoch.
    pub history: Vec<ClassifierEpoch>,
}

impl ClassifierOutcome {
    /// The card saved beside this classifier, trained with `config` on `tile`-pixel tiles.
    pub fn card(&self, config: &ClassifierConfig, tile: usize) -> ClassifierCard {
        ClassifierCard {
            width: config.width,
            tile,
            val_accuracy: self.val_accuracy,
            best_epoch: self.best_epoch,
            config: config.clone(),
            history: self.history.clone(),
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
    let device = Device::flex();
    let model = crate::unet::seeded(&device, 0, || Classifier::new(card.width, &device))
        .try_load_file(folder.join(CLASSIFIER_WEIGHTS))
        .map_err(|e| {
            Error::model(format!(
                "cannot read the classifier in {}: {e}",
                folder.display()
            ))
        })?;
    Ok((model, card))
}
