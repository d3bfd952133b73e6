//! Arguments of the artifact subcommands (`synth-artifacts`, `train classifier`, `cam`). Always
//! compiled, like the other training arguments; running them needs the `train` feature.

use std::path::PathBuf;

use brightseg::refine::Refinement;
use clap::Args;

use crate::train_args::SelectionArgs;

/// Arguments of `synth-artifacts`.
#[derive(Args, Debug, Clone)]
pub struct SynthArtifactsArgs {
    /// Transmitted-light images to cut into tiles (TIFF, OME-TIFF).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The brightfield channel (number from 1, or name).
    #[arg(long, short = 'c')]
    pub channel: Option<String>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Tile edge in pixels (a multiple of 8).
    #[arg(long, default_value_t = 96)]
    pub tile: usize,
    /// Share of tiles that get artifacts.
    #[arg(long, default_value_t = 0.5)]
    pub fraction: f64,
    /// Most artifacts on one tile.
    #[arg(long = "max-per-tile", default_value_t = 3)]
    pub max_per_tile: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder: images/, truth/ (synthetic masks, for evaluation only), labels.csv.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Arguments of `train classifier`.
#[derive(Args, Debug, Clone)]
pub struct TrainClassifierArgs {
    /// CSV of image-level labels: file,label (label artifact/clean or 1/0; files relative to
    /// the CSV), as `synth-artifacts` writes.
    #[arg(long)]
    pub labels: PathBuf,
    /// Share of each class held out for validation (drawn with --seed).
    #[arg(long = "val-fraction", default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Channels of the first layer.
    #[arg(long, default_value_t = 8)]
    pub width: usize,
    /// Most epochs.
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// Steps per epoch.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Tiles per step (half of each class).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long = "learning-rate", default_value_t = 2e-3)]
    pub learning_rate: f64,
    /// Epochs without better validation accuracy before stopping.
    #[arg(long, default_value_t = 12)]
    pub patience: usize,
    /// Seed of the weights, the split and the sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Training engine: flex (pure Rust, always built), libtorch (LibTorch on the CPU) or
    /// libtorch-cuda (on a CUDA GPU); the LibTorch ones need a build with the `libtorch` feature.
    #[arg(long, default_value = "flex")]
    pub engine: String,
    /// Stop after this long (e.g. 20m), keeping the best epoch; checked between epochs (the
    /// epoch under way finishes).
    #[arg(long = "time-budget", value_name = "DURATION")]
    pub time_budget: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Output folder (classifier.bpk, classifier.json, validation.csv; checkpoints in
    /// .checkpoints/, from which a killed run, started again, resumes).
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Arguments of `cam`.
#[derive(Args, Debug, Clone)]
pub struct CamArgs {
    /// The classifier folder (`train classifier --out`).
    #[arg(long)]
    pub classifier: PathBuf,
    /// CSV of image-level labels (file,label): maps are made for the artifact images; clean
    /// images get empty pseudo-masks.
    #[arg(long)]
    pub labels: PathBuf,
    /// Folder of true masks named like the images (synthetic sets only): scores the raw maps
    /// and the pseudo-masks against them.
    #[arg(long = "truth-dir")]
    pub truth_dir: Option<PathBuf>,
    /// What masked-out pixels become in ScoreCAM: zero (the original method), mean (the tile's
    /// mean) or blur (a blurred copy of the tile).
    #[arg(long, default_value = "mean")]
    pub masking: String,
    /// Masked inputs per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// How the image refines the thresholded maps before mutual information picks one: dark
    /// (keep pixels darker than their local background), departure (darker or brighter) or
    /// none (the plain thresholded map).
    #[arg(long, default_value = "dark")]
    pub refine: Refinement,
    /// Output folder: NAME.cam.tif, NAME.cam.png, NAME.pseudo.tif, pseudo.csv.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Arguments of `train artifacts`.
#[derive(Args, Debug, Clone)]
pub struct TrainArtifactsArgs {
    /// CSV of image-level labels (file,label), as `synth-artifacts` writes: the only
    /// supervision.
    #[arg(long)]
    pub labels: PathBuf,
    /// A classifier folder from `train classifier` (default: train one into OUT/classifier).
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    /// ScoreCAM masking: zero, mean or blur.
    #[arg(long, default_value = "mean")]
    pub masking: String,
    /// How the image refines the thresholded maps before mutual information picks the
    /// pseudo-mask: dark (pixels darker than their local background), departure (darker or
    /// brighter) or none.
    #[arg(long, default_value = "dark")]
    pub refine: Refinement,
    /// Train on the ScoreCAM maps themselves instead of the MI-selected pseudo-masks.
    #[arg(long = "soft-targets")]
    pub soft_targets: bool,
    /// U-Net preset: tiny, standard or fast (see `train nuclei --help`).
    #[arg(long, default_value = "tiny")]
    pub architecture: String,
    /// U-Net epochs, at most.
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// U-Net steps per epoch.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Patch edge in pixels (a multiple of 8).
    #[arg(long, default_value_t = 96)]
    pub patch: usize,
    /// U-Net epochs without better validation F1 before stopping.
    #[arg(long, default_value_t = 12)]
    pub patience: usize,
    /// Classifier epochs, at most.
    #[arg(long = "classifier-epochs", default_value_t = 40)]
    pub classifier_epochs: usize,
    /// Seed of the split, the classifier and the U-Net.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of each class held out for validation.
    #[arg(long = "val-fraction", default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Smallest artifact in µm² (the model's default minimum size).
    #[arg(long = "min-size", default_value_t = 5.0)]
    pub min_size: f64,
    /// Pixel size in µm when the images carry none.
    #[arg(long = "pixel-size")]
    pub pixel_size: Option<f64>,
    /// Training engine: flex (pure Rust, always built), libtorch (LibTorch on the CPU) or
    /// libtorch-cuda (on a CUDA GPU); the LibTorch ones need a build with the `libtorch` feature.
    #[arg(long, default_value = "flex")]
    pub engine: String,
    /// Stop the U-Net after this long (e.g. 20m), keeping the best epoch; counted from the end
    /// of making its pseudo-masks and checked between epochs (the epoch under way finishes).
    #[arg(long = "time-budget", value_name = "DURATION")]
    pub time_budget: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// A line for the model description's training_data (repeatable).
    #[arg(long = "training-data", value_name = "TEXT")]
    pub training_data: Vec<String>,
    /// Licence of the trained weights (SPDX identifier).
    #[arg(long, default_value = "CC-BY-4.0")]
    pub license: String,
    /// The model folder to write.
    #[arg(long, short)]
    pub out: PathBuf,
}
