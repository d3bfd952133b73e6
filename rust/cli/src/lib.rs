//! `brightseg`: find nuclei in microscopy images from the command line. The binary is
//! `src/main.rs`; this library holds its arguments and commands, so that fuzzing and tests can
//! parse command lines exactly as the binary does.
//!
//! Flags and glue only: every image operation is in the `brightseg` library. Exit codes: 0 all
//! images done, 1 some images failed (the rest were processed), 2 nothing could be started
//! (bad arguments, model or output folder).

#![forbid(unsafe_code)]

pub mod artifact_args;
#[cfg(feature = "train")]
mod artifact_cmd;
mod batch;
mod bench;
mod find_nuclei;
mod merge;
mod models;
mod naming;
mod omero;
mod plate_map;
mod resources;
mod series;
mod shard;
pub mod train_args;
#[cfg(feature = "train")]
mod train_cmd;
mod zoo_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use brightseg::refine::Refinement;
use clap::{Args, Parser, Subcommand};

/// Parses a command line (program name first) as the binary does, without running anything.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// Deep-learning nucleus segmentation for microscopy images.
#[derive(Parser, Debug)]
#[command(name = "brightseg", version, about, long_about = None)]
pub struct Cli {
    /// Print debug details (or set RUST_LOG=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Find nuclei in images or folders of images (Harmony's "Find Nuclei DNN").
    FindNuclei(FindNucleiArgs),
    /// Find artifacts (dust, fibres, bubbles, debris) with an artifact U-Net: the same outputs
    /// as find-nuclei for the population "Artifacts" (objects never split), plus the share of
    /// the image covered. Default output folder: brightseg-artifacts.
    #[command(
        mut_arg("out", |a| a.default_value("brightseg-artifacts")),
        mut_arg("min_size", |a| a.help(
            "Minimum artifact area in µm² [default: from the model, e.g. 5 for \
             artifacts-brightfield]"
        )),
        mut_arg("threshold", |a| a.help(
            "Probability threshold in [0, 1] [default: from the model, e.g. 0.6 for \
             artifacts-brightfield]"
        )),
        mut_arg("no_split", |a| a.hide(true)),
        mut_arg("split_depth", |a| a.hide(true)),
        mut_arg("exclude_artifacts", |a| a.hide(true))
    )]
    FindArtifacts(FindNucleiArgs),
    /// List the models brightseg can find, with where they are.
    Models,
    /// Join the output folders of several find-nuclei runs (shards, plates) into one summary,
    /// one objects table and, with --naming, a per-well table.
    Merge(MergeArgs),
    /// Draw a per-well column of a wells.csv (from merge --naming) on each plate's layout, as
    /// PNG and SVG: nucleus count by default, with well labels, a colour bar, failed wells
    /// crossed and wells without images grey.
    PlateMap(PlateMapArgs),
    /// Export a merged screen for another tool (`export omero`: tables for `omero metadata
    /// populate` and the label images' list for omero-rois).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Estimate the memory and threads one find-nuclei job needs (for cluster schedulers).
    Resources(ResourcesArgs),
    /// Measure speed and memory: tract vs ONNX Runtime (ours and Python's) on the same tiles,
    /// end-to-end megapixels per second, peak memory on a huge image, JNI overhead.
    Bench(bench::BenchArgs),
    /// Derive nucleus targets (masks, weights, QC overlay) from a nuclear stain channel, check
    /// its registration with the brightfield, and score them against labels when given.
    Targets(train_args::TargetsArgs),
    /// Train a model (see `brightseg train nuclei --help`).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Score a model on images with known nuclei: pixel F1, balanced accuracy, object
    /// precision/recall/F1 at IoU 0.5, count error.
    Evaluate(train_args::EvaluateArgs),
    /// Build a SYNTHETIC artifact set: real transmitted-light tiles, half with composited dust,
    /// fibres, bubbles and debris; image-level labels for training, true masks for evaluation.
    SynthArtifacts(artifact_args::SynthArtifactsArgs),
    /// ScoreCAM maps of the artifact classifier and pseudo-masks chosen by mutual information.
    Cam(artifact_args::CamArgs),
    /// Check a model folder as a bioimage.io zoo upload would: the description's format, the
    /// files it names, and its test output reproduced from its test input. Exit code 1 when
    /// the zoo would reject it.
    ValidateModel(ValidateModelArgs),
    /// Rewrite the description of a model brightseg trained (also one written by an earlier
    /// version) in the zoo-valid bioimage.io format, with new test tensors and cover from an
    /// image; the network is left as it is.
    UpgradeModel(UpgradeModelArgs),
}

/// Arguments of `validate-model`.
#[derive(Args, Debug, Clone)]
pub struct ValidateModelArgs {
    /// Model folder, its description file, or a model name listed by `brightseg models`.
    pub model: String,
}

/// Arguments of `upgrade-model`.
#[derive(Args, Debug, Clone)]
pub struct UpgradeModelArgs {
    /// Model folder written by brightseg (train nuclei, train artifacts, Train Nuclei DNN).
    pub folder: PathBuf,
    /// Image to cut the test input from (its centre, at most 256 × 256 pixels after resampling
    /// to the model's pixel size): use one like the model's training images.
    #[arg(long = "test-image", value_name = "FILE")]
    pub test_image: PathBuf,
    /// Transmitted-light channel of the test image: number from 1, or name [default: the only
    /// channel].
    #[arg(long)]
    pub channel: Option<String>,
    /// Frame and region of the test image to use, and its pixel size.
    #[command(flatten)]
    pub selection: train_args::SelectionArgs,
}

/// Arguments of `resources`.
#[derive(Args, Debug, Clone)]
pub struct ResourcesArgs {
    /// Model name or folder.
    #[arg(long, short)]
    pub model: String,
    /// Worker threads of the job.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Preferred tile edge in pixels, as given to find-nuclei [default: from the model].
    #[arg(long = "tile-size", value_name = "PIXELS")]
    pub tile_size: Option<usize>,
    /// Width of the largest image, pixels.
    #[arg(long, default_value_t = 2160)]
    pub width: u64,
    /// Height of the largest image, pixels.
    #[arg(long, default_value_t = 2160)]
    pub height: u64,
    /// Pixel size of the images in µm [default: the model's, so nothing is resampled]: images
    /// at another pixel size are resampled to the model's, which costs memory.
    #[arg(long = "pixel-size", value_name = "UM")]
    pub pixel_size: Option<f64>,
    /// Print YAML instead of key=value.
    #[arg(long)]
    pub yaml: bool,
}

/// Arguments of `merge`.
#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Output folders of find-nuclei runs (e.g. one per shard).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged summary.csv, objects.csv and wells.csv.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Plate naming scheme: `operetta` (Harmony exports), `metaxpress`, `cellvoyager`, `ome`
    /// (series of multi-series OME-TIFFs, placed by their OME-XML under any naming), or a
    /// regular expression with named groups plate, well (or row and column) and field, and
    /// optionally channel and time. Adds Plate, Well and Field columns and writes wells.csv
    /// (per well and time point, on the layout of the plate's Harmony index or MetaXpress .HTD
    /// when there is one) and plate-maps/PLATE.png and .svg (nucleus count per well).
    #[arg(long)]
    pub naming: Option<String>,
}

/// What `export` writes.
#[derive(Subcommand, Debug, Clone)]
pub enum ExportCommand {
    /// For OMERO: the per-well and per-image tables as `omero metadata populate` reads them
    /// for a Screen or Plate (omero-wells.csv, omero-images.csv, with a `# header` of column
    /// types), and each image's label image for omero-rois (omero-labels.csv).
    Omero(ExportOmeroArgs),
}

/// Arguments of `export omero`.
#[derive(Args, Debug, Clone)]
pub struct ExportOmeroArgs {
    /// The --out folder of `brightseg merge --naming …`.
    pub merged: PathBuf,
    /// Folder for omero-wells.csv, omero-images.csv and omero-labels.csv [default: the merged
    /// folder].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Arguments of `plate-map`.
#[derive(Args, Debug, Clone)]
pub struct PlateMapArgs {
    /// The wells table (wells.csv written by `brightseg merge --naming`).
    pub wells: PathBuf,
    /// The column drawn, e.g. "Size [µm²] Mean".
    #[arg(long, short, default_value = "Number of Objects")]
    pub column: String,
    /// Wells of the plate (6, 12, 24, 48, 96, 384 or 1536) [default: the smallest of 96, 384
    /// and 1536 that holds every well listed].
    #[arg(long, value_name = "WELLS")]
    pub plate_wells: Option<u32>,
    /// Folder for PLATE.png and PLATE.svg, one pair per plate [default: plate-maps/ beside
    /// the wells table].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Subcommands of `train` (here, beside the commands, so that the nuclei and the artifact
/// training modules do not depend on each other).
#[derive(Subcommand, Debug, Clone)]
pub enum TrainCommand {
    /// Train a nuclei U-Net on brightfield images, with targets from a paired nuclear stain
    /// (or from label images).
    Nuclei(Box<train_args::TrainNucleiArgs>),
    /// Pre-train a U-Net on a pretext task that needs no labels: predict the (smoothed)
    /// nuclear stain from brightfield (in-silico labelling). `train nuclei --from` fine-tunes
    /// the model it writes. Takes the arguments of `train nuclei` that choose images, stain,
    /// network and schedule.
    Pretext(Box<train_args::TrainNucleiArgs>),
    /// Train the artifact classifier (artifact vs clean) from image-level labels only.
    Classifier(artifact_args::TrainClassifierArgs),
    /// Train an artifact U-Net from image-level labels only: classifier, ScoreCAM,
    /// pseudo-masks chosen by mutual information, U-Net.
    Artifacts(Box<artifact_args::TrainArtifactsArgs>),
}

/// Arguments of `find-nuclei`.
#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct FindNucleiArgs {
    /// Images (TIFF, OME-TIFF, PNG, JPEG) or folders holding them; each series of a
    /// multi-series OME-TIFF is an image (`plate.ome.tif#3`: series 3, from 0).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model name (see `brightseg models`) or model folder.
    #[arg(long, short)]
    pub model: String,
    /// Probability threshold in [0, 1] [default: from the model, else 0.5].
    #[arg(long, short)]
    pub threshold: Option<f32>,
    /// Minimum nucleus area in µm² [default: from the model, else 10].
    #[arg(long = "min-size")]
    pub min_size: Option<f64>,
    /// Channel to segment: number from 1, or name (needed for multi-channel images, Harmony
    /// exports, and plates of one file per channel read with --naming).
    #[arg(long, short)]
    pub channel: Option<String>,
    /// File naming of a plate whose files each hold one channel: `metaxpress` (`_w1`),
    /// `cellvoyager` (`C01`), `operetta` (`-ch1`), or a regular expression with a `channel`
    /// group. --channel then picks that channel's files, by number or by the name the plate's
    /// MetaXpress .HTD gives; files the naming does not match are skipped.
    #[arg(long)]
    pub naming: Option<String>,
    /// Pixel size in µm, overriding the file's calibration (needed for PNG/JPEG sizes in µm).
    #[arg(long = "pixel-size")]
    pub pixel_size: Option<f64>,
    /// Run images whose pixel size is more than 8 times larger or smaller than the model's
    /// (refused by default as a probable unit mix-up, e.g. nm or mm given as µm).
    #[arg(long = "accept-pixel-size")]
    pub accept_pixel_size: bool,
    /// Output folder.
    #[arg(long, short, default_value = "brightseg-results")]
    pub out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, short)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Memory the job may use, e.g. 8G or 512M; images that would need more are refused with a
    /// message instead of exhausting the machine [default: 80 % of this machine's memory or of
    /// the job's cgroup limit].
    #[arg(long = "memory-budget", value_name = "SIZE", value_parser = parse_budget)]
    pub memory_budget: Option<brightseg::budget::MemoryBudget>,
    /// Preferred tile edge in pixels (rounded to a size the model accepts); smaller tiles need
    /// less memory per worker thread [default: from the model, else 512].
    #[arg(long = "tile-size", value_name = "PIXELS")]
    pub tile_size: Option<usize>,
    /// Find objects band by band, this many rows at a time, so that only a band's probability
    /// and labels are held in memory (results equal the whole plane's except for objects taller
    /// than 256 rows) [default: bands of 16 megapixels for planes over 64 megapixels or over the
    /// memory budget; 0: never].
    #[arg(long = "band-rows", value_name = "ROWS")]
    pub band_rows: Option<usize>,
    /// Also write the probability image (32-bit TIFF).
    #[arg(long)]
    pub probability: bool,
    /// Also write a QC overlay PNG (outlines over the image).
    #[arg(long)]
    pub overlay: bool,
    /// Do not split touching nuclei.
    #[arg(long = "no-split")]
    pub no_split: bool,
    /// Drop nuclei that overlap artifacts found by this artifact model (name or folder, e.g.
    /// artifacts-brightfield); the summary's Message says how many were dropped.
    #[arg(long = "exclude-artifacts", value_name = "MODEL")]
    pub exclude_artifacts: Option<String>,
    /// Depth (pixels of the distance transform) a peak needs to become its own nucleus
    /// [default: the model's, e.g. 0.5].
    #[arg(long = "split-depth")]
    pub split_depth: Option<f32>,
    /// How the image refines the thresholded mask: none, dark (keep pixels darker than their
    /// local background) or departure (darker or brighter). Default: what the model's
    /// description says (artifacts-brightfield: dark; nuclei models: none).
    #[arg(long, value_name = "HOW")]
    pub refine: Option<Refinement>,
    /// Process images again even when their outputs exist.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Process only share i of n (from 1): a stable split by file name, for cluster array jobs.
    /// Give each shard its own --out, then join them with `brightseg merge`.
    #[arg(long)]
    pub shard: Option<shard::Shard>,
    /// Print the process's peak resident memory at the end (for `brightseg bench`).
    #[arg(long = "report-peak-memory", hide = true)]
    pub report_peak_memory: bool,
}

/// Which inference engine runs the model (shared by find-nuclei and bench).
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Inference engine: auto (CUDA through ONNX Runtime when its GPU build and a GPU are found,
    /// else tract), tract (pure Rust, CPU), ort-cpu or ort-cuda (ONNX Runtime).
    #[arg(long, default_value = "auto")]
    pub backend: brightseg::backend::BackendChoice,
    /// ONNX Runtime library (libonnxruntime.so or its folder) for the ort backends [default:
    /// $BRIGHTSEG_ORT_LIB, else the onnxruntime(-gpu) Python wheel installed here].
    #[arg(long = "ort-lib", value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

impl EngineArgs {
    /// The core's backend options for `threads` worker threads (0: all cores).
    pub fn options(&self, threads: usize) -> brightseg::backend::BackendOptions {
        brightseg::backend::BackendOptions {
            choice: self.backend,
            threads,
            ort_library: self.ort_lib.clone(),
        }
    }
}

/// Parses `--memory-budget` (clap shows the message on a bad value).
fn parse_budget(text: &str) -> Result<brightseg::budget::MemoryBudget, String> {
    brightseg::budget::MemoryBudget::parse(text).map_err(|e| e.to_string())
}

/// The last component of `path` as text (empty when there is none), for tables and messages.
fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name an input image goes by in the outputs (the summary's Image column, the output
/// files, merge's lookup): its file name, after the MetaXpress `TimePoint_N/` and `ZStep_N/`
/// folders holding it, which repeat the same file names (`TimePoint_2/P1_B03_s1_w1.tif`).
fn image_name(path: &std::path::Path) -> String {
    let mut name = file_name(path);
    for folder in path.ancestors().skip(1) {
        let Some(folder) = folder.file_name().and_then(|f| f.to_str()) else {
            break;
        };
        let numbered = |prefix: &str| {
            folder
                .strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if !(numbered("TimePoint_") || numbered("ZStep_")) {
            break;
        }
        name = format!("{folder}/{name}");
    }
    name
}

/// Parses the process's arguments, runs the command and returns the exit code (0 all done, 1
/// some images failed, 2 nothing could be started).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let default_level = if cli.verbose { "debug" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(format!(
        "{default_level},tract_onnx=error,tract_hir=error,tract_core=error"
    )))
    .format_timestamp(None)
    .format_target(false)
    .init();
    let outcome = match cli.command {
        Command::FindNuclei(args) => find_nuclei::run(&args),
        Command::FindArtifacts(args) => find_nuclei::run_artifacts(args),
        Command::Models => models::list().map(|()| find_nuclei::Outcome::AllDone),
        Command::Merge(args) => merge::run(&args),
        Command::PlateMap(args) => plate_map::run(&args).map(|()| find_nuclei::Outcome::AllDone),
        Command::Export(ExportCommand::Omero(args)) => {
            omero::run(&args).map(|()| find_nuclei::Outcome::AllDone)
        }
        Command::Resources(args) => resources::run(&args).map(|()| find_nuclei::Outcome::AllDone),
        Command::Bench(args) => bench::run(&args).map(|()| find_nuclei::Outcome::AllDone),
        #[cfg(feature = "train")]
        Command::Targets(args) => train_cmd::targets(&args).map(|()| find_nuclei::Outcome::AllDone),
        #[cfg(feature = "train")]
        Command::Train(command) => {
            let done = match &command {
                TrainCommand::Nuclei(args) => train_cmd::train_nuclei_cmd(args, cli.verbose),
                TrainCommand::Pretext(args) => train_cmd::train_pretext_cmd(args, cli.verbose),
                TrainCommand::Classifier(args) => artifact_cmd::train_classifier_cmd(args),
                TrainCommand::Artifacts(args) => artifact_cmd::train_artifacts_cmd(args),
            };
            done.map(|()| find_nuclei::Outcome::AllDone)
        }
        #[cfg(feature = "train")]
        Command::Evaluate(args) => {
            train_cmd::evaluate(&args).map(|()| find_nuclei::Outcome::AllDone)
        }
        #[cfg(feature = "train")]
        Command::SynthArtifacts(args) => {
            artifact_cmd::synth_artifacts(&args).map(|()| find_nuclei::Outcome::AllDone)
        }
        #[cfg(feature = "train")]
        Command::Cam(args) => artifact_cmd::cam(&args).map(|()| find_nuclei::Outcome::AllDone),
        Command::ValidateModel(args) => zoo_cmd::validate(&args),
        #[cfg(feature = "train")]
        Command::UpgradeModel(args) => zoo_cmd::upgrade(&args),
        #[cfg(not(feature = "train"))]
        Command::UpgradeModel(_)
        | Command::Targets(_)
        | Command::Train(_)
        | Command::Evaluate(_)
        | Command::SynthArtifacts(_)
        | Command::Cam(_) => Err(anyhow::anyhow!(
            "this brightseg was built without training support: rebuild with --features train"
        )),
    };
    match outcome {
        Ok(find_nuclei::Outcome::AllDone) => ExitCode::SUCCESS,
        Ok(find_nuclei::Outcome::SomeFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn images_in_metaxpress_time_point_folders_keep_their_folders_in_their_names() {
        let name = |p: &str| super::image_name(Path::new(p));
        assert_eq!(
            name("/data/P1/r02c02f01p01-ch1sk1fk1fl1.tiff"),
            "r02c02f01p01-ch1sk1fk1fl1.tiff"
        );
        assert_eq!(
            name("/mx/P1/TimePoint_12/ZStep_3/P1_B03_s1_w1.tif"),
            "TimePoint_12/ZStep_3/P1_B03_s1_w1.tif"
        );
        assert_eq!(name("TimePoint_2/a.tif"), "TimePoint_2/a.tif");
        // Folders merely named alike are not time points.
        assert_eq!(name("/x/TimePoint_/a.tif"), "a.tif");
        assert_eq!(name("/x/TimePoint_2b/a.tif"), "a.tif");
    }
}
