//! Arguments of the training subcommands (`targets`, `train nuclei`, `evaluate`). They are
//! always compiled, so the fuzzer parses them as the binary does; running them needs the
//! `train` feature (on by default).

use std::path::PathBuf;

use clap::Args;

/// Which channels and which part of the images to use (shared by the training commands).
#[derive(Args, Debug, Clone, Default)]
pub struct SelectionArgs {
    /// Frames (time points, from 0) to use: a number or a range such as 0-6 [default: all].
    #[arg(long, value_name = "RANGE")]
    pub frames: Option<String>,
    /// Region to use, in pixels: x,y,width,height [default: the whole image].
    #[arg(long, value_name = "X,Y,W,H")]
    pub region: Option<String>,
    /// Pixel size in µm, overriding the files' calibration.
    #[arg(long = "pixel-size", value_name = "UM")]
    pub pixel_size: Option<f64>,
}

/// How targets are derived from the nuclear stain.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Automatic threshold: otsu, li or triangle.
    #[arg(long = "threshold-method", default_value = "otsu")]
    pub threshold_method: String,
    /// Background subtraction radius in µm (top-hat; 0: off).
    #[arg(long = "background-radius", default_value_t = 25.0, value_name = "UM")]
    pub background_radius: f64,
    /// Gaussian smoothing before thresholding, σ in µm.
    #[arg(long, default_value_t = 1.0, value_name = "UM")]
    pub smoothing: f64,
    /// Smallest target nucleus in µm² (smaller ones are marked uncertain).
    #[arg(long = "target-min-size", default_value_t = 10.0, value_name = "UM2")]
    pub target_min_size: f64,
    /// Width of the uncertain band around each nucleus outline, µm (weight 0 in the loss).
    #[arg(long, default_value_t = 1.0, value_name = "UM")]
    pub uncertain: f64,
    /// Move the stain onto the brightfield by the shift phase correlation finds (when clear).
    #[arg(long)]
    pub register: bool,
}

/// Arguments of `targets`.
#[derive(Args, Debug, Clone)]
pub struct TargetsArgs {
    /// Images holding the nuclear stain (and, for the registration check, the brightfield).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Stain channel (number from 1, or name).
    #[arg(long, short = 'f')]
    pub fluorescence: String,
    /// Brightfield channel, to check that the two channels are registered.
    #[arg(long, short = 'b')]
    pub brightfield: Option<String>,
    /// A label channel of the same images to score the targets against (e.g. nuclei).
    #[arg(long = "truth-channel")]
    pub truth_channel: Option<String>,
    /// Label images to score the targets against, one per input image.
    #[arg(long, num_args = 1..)]
    pub truth: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output folder for NAME.targets.tif (labels), NAME.weights.tif and NAME.targets.png.
    #[arg(long, short, default_value = "brightseg-targets")]
    pub out: PathBuf,
}

/// Arguments of `train nuclei`.
#[derive(Args, Debug, Clone)]
pub struct TrainNucleiArgs {
    /// Images with a brightfield channel and a nuclear stain channel (TIFF, OME-TIFF), or
    /// brightfield images whose stain is in --fluorescence-images.
    #[arg(required_unless_present = "sources")]
    pub inputs: Vec<PathBuf>,
    /// Train on several datasets at once: a YAML file listing each one's images, channels,
    /// targets and pixel size (see docs/training.md); every field is resampled to one pixel
    /// size. Instead of input images and their channel, target and selection options.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["inputs", "brightfield", "fluorescence", "fluorescence_images",
            "masks", "mask_channel", "background_masks", "frames", "region", "pixel_size", "val_frames", "val_region"]
    )]
    pub sources: Option<PathBuf>,
    /// Brightfield (transmitted light) channel: number from 1, or name [default: the only
    /// channel of single-channel images].
    #[arg(long, short = 'b')]
    pub brightfield: Option<String>,
    /// Nuclear stain channel (Hoechst, DAPI): number from 1, or name (of the
    /// --fluorescence-images when given; there the only channel by default).
    #[arg(long, short = 'f')]
    pub fluorescence: Option<String>,
    /// Stain images, one per input image in the same order (same size and frames), when each
    /// channel is a file of its own, as Harmony and other screening systems export them.
    #[arg(long = "fluorescence-images", num_args = 1.., value_name = "FILES")]
    pub fluorescence_images: Vec<PathBuf>,
    /// Label images (one per input image) to learn from instead of the stain.
    #[arg(long, num_args = 1..)]
    pub masks: Vec<PathBuf>,
    /// A label channel of the input images to learn from instead of the stain.
    #[arg(long = "mask-channel")]
    pub mask_channel: Option<String>,
    /// The labels leave nuclei out (a few outlines, a half-annotated set): unlabelled pixels
    /// count as background only a little (--unlabelled-weight), and validation counts a
    /// predicted nucleus as false only where labels are known.
    #[arg(long = "labels-incomplete")]
    pub labels_incomplete: bool,
    /// With --labels-incomplete: loss weight of unlabelled pixels as background, in (0, 1]
    /// (1 is the naive loss that takes every unlabelled nucleus for background).
    #[arg(
        long = "unlabelled-weight",
        default_value_t = 0.1,
        requires = "labels_incomplete"
    )]
    pub unlabelled_weight: f32,
    /// With --labels-incomplete: pixels this close outside a labelled nucleus are left out of
    /// the loss, for loose outlines (0: none; in dense images a band merges touching nuclei).
    #[arg(
        long = "label-band",
        value_name = "PX",
        default_value_t = 0.0,
        requires = "labels_incomplete"
    )]
    pub label_band: f32,
    /// With --labels-incomplete: masks of sure background (non-zero pixels: cell-free areas,
    /// scribbles between nuclei), one per input image in the same order; there the loss
    /// counts background fully, and validation counts predictions on it as false positives.
    #[arg(
        long = "background-masks",
        num_args = 1..,
        value_name = "FILES",
        requires = "labels_incomplete"
    )]
    pub background_masks: Vec<PathBuf>,
    /// Model folder to write (its name is the model's name).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Network: standard (depth 4, width 16), tiny (depth 4, width 4) or fast (the tiny one
    /// at half resolution behind a stride-2 stem: a third of the running time).
    #[arg(long, default_value = "standard")]
    pub architecture: String,
    /// Override the network depth (levels, 2 to 6).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Override the network width (channels at the U-Net's top level).
    #[arg(long)]
    pub width: Option<usize>,
    /// Most epochs.
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Steps per epoch.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// Patches per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Patch edge in pixels.
    #[arg(long, default_value_t = 128)]
    pub patch: usize,
    /// Scale jitter: training patches are cut at 1 ± this times their size and resampled
    /// (0.5: nuclei from two thirds to twice their size).
    #[arg(long = "augment-scale", value_name = "F", default_value_t = 0.15)]
    pub augment_scale: f32,
    /// Defocus: half the training patches are blurred by a Gaussian of σ up to this many
    /// pixels (0: none).
    #[arg(long = "augment-blur", value_name = "PX", default_value_t = 0.0)]
    pub augment_blur: f32,
    /// Camera noise: half the training patches get Gaussian noise of σ up to this, in
    /// normalised intensity (0 to 1 spans the image's 1st to 99.8th percentile; 0: none).
    #[arg(long = "augment-noise", value_name = "SIGMA", default_value_t = 0.0)]
    pub augment_noise: f32,
    /// Polarity: half the training patches are inverted, so nuclei are seen dark and bright
    /// (for a model meant for several transmitted-light modalities).
    #[arg(long = "augment-invert")]
    pub augment_invert: bool,
    /// With --sources: give every dataset the same share of training patches and the same
    /// weight in the validation score, instead of drawing in proportion to image area (where
    /// the largest dataset gets most patches and decides which epoch is kept).
    #[arg(long = "balance-datasets")]
    pub balance_datasets: bool,
    /// Peak learning rate (Adam, cosine decay) [default: 0.002; 0.0005 with --from].
    #[arg(long = "learning-rate")]
    pub learning_rate: Option<f64>,
    /// Stop after this many epochs without a better validation F1.
    #[arg(long, default_value_t = 12)]
    pub patience: usize,
    /// Which network to keep: best (the epoch with the best validation F1, stopping early by
    /// --patience), last (run every epoch and keep the last: for a validation strip too
    /// small to choose an epoch by, such as a single field's) or lowest-loss (the epoch with
    /// the lowest validation loss, which counts every pixel, stopping early by --patience).
    #[arg(long, default_value = "best")]
    pub keep: String,
    /// Random seed (same seed, data and threads: same model).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of each image's width (right-hand strip) held out for validation.
    #[arg(long = "val-fraction", default_value_t = 0.25)]
    pub val_fraction: f64,
    /// Use only the first N images (after --frames, --region, --tile and --pick-seed), for
    /// learning curves.
    #[arg(long = "max-images", value_name = "N")]
    pub max_images: Option<usize>,
    /// Cut every image into tiles of this size (pixels, e.g. 96x105), each counting as one image;
    /// targets and normalisation come from the whole image first.
    #[arg(long, value_name = "WxH")]
    pub tile: Option<String>,
    /// Shuffle the images with this seed before --max-images takes the first N.
    #[arg(long = "pick-seed", value_name = "SEED")]
    pub pick_seed: Option<u64>,
    /// Validate on these frames of the same files instead of a strip of each training image.
    #[arg(long = "val-frames", value_name = "RANGE")]
    pub val_frames: Option<String>,
    /// Validate on this region (x,y,width,height) of the same files instead of a strip of each
    /// training image.
    #[arg(long = "val-region", value_name = "X,Y,W,H")]
    pub val_region: Option<String>,
    /// Fine-tune from this model folder (one written by brightseg train). The starting model
    /// competes with every epoch on the validation data and is kept when none beats it.
    #[arg(long = "from", value_name = "FOLDER")]
    pub from: Option<PathBuf>,
    /// Training engine: flex (pure Rust, always built), libtorch (LibTorch on the CPU) or
    /// libtorch-cuda (on a CUDA GPU); the LibTorch ones need a build with the `libtorch` feature.
    #[arg(long, default_value = "flex")]
    pub engine: String,
    /// Stop after this long, keeping the best model: e.g. 90s, 20m, 2h. Counted from the end of
    /// deriving the targets and checked between epochs (the epoch under way finishes).
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
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `evaluate`.
#[derive(Args, Debug, Clone)]
pub struct EvaluateArgs {
    /// Images to segment.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model name (see `brightseg models`) or model folder.
    #[arg(long, short)]
    pub model: String,
    /// Channel to segment: number from 1, or name.
    #[arg(long, short)]
    pub channel: Option<String>,
    /// Label images with the true nuclei, one per input image.
    #[arg(long, num_args = 1..)]
    pub truth: Vec<PathBuf>,
    /// A label channel of the input images with the true nuclei.
    #[arg(long = "truth-channel")]
    pub truth_channel: Option<String>,
    /// Derive the truth from this nuclear stain channel (as `brightseg targets` does); of the
    /// --truth-from-fluorescence-images when given.
    #[arg(long = "truth-from-fluorescence", value_name = "CHANNEL")]
    pub truth_from_fluorescence: Option<String>,
    /// Derive the truth from these stain images, one per input image in the same order (same
    /// size and frames), when each channel is a file of its own.
    #[arg(long = "truth-from-fluorescence-images", num_args = 1.., value_name = "FILES")]
    pub truth_from_fluorescence_images: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Probability threshold [default: the model's].
    #[arg(long, short)]
    pub threshold: Option<f32>,
    /// Minimum nucleus area in µm² [default: the model's].
    #[arg(long = "min-size")]
    pub min_size: Option<f64>,
    /// Do not split touching objects (for artifacts; nuclei are split as in find-nuclei).
    #[arg(long = "no-split")]
    pub no_split: bool,
    /// Depth (pixels of the distance transform) a peak needs to become its own nucleus, as in
    /// find-nuclei [default: the model's].
    #[arg(long = "split-depth")]
    pub split_depth: Option<f32>,
    /// How the image refines the thresholded mask: none, dark or departure (default: what the
    /// model's description says).
    #[arg(long, value_name = "HOW")]
    pub refine: Option<brightseg::refine::Refinement>,
    /// Also write the scores as CSV here (one row per image and a total row).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long, short)]
    pub jobs: Option<usize>,
}
