//! `brightseg bench`: speed and memory measured in one run, as ratios to a reference measured in
//! the same run — tract and our ONNX Runtime backend against Python onnxruntime on the same
//! ONNX file and the same tile; end-to-end Find Nuclei megapixels per second; peak resident
//! memory on a huge image (a child process); the JNI call's overhead against the in-process path.
//! Prints a table and, with --markdown, writes it with the machine it ran on.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brightseg::backend::{find_onnxruntime, open_backend, Backend, BackendChoice, BackendOptions};
use brightseg::image::{Calibration, PixelData, Plane};
use brightseg::io::{self, OutputPlane};
use brightseg::normalize::Normalizer;
use brightseg::pipeline::{find_nuclei, Model, NucleiParams};
use brightseg::timing::{StageClock, StageTimes, TimedStage};
use clap::Args;
use rayon::prelude::*;

mod end_to_end;
mod jni;
mod memory;
mod report;
mod tiles;
#[cfg(feature = "train")]
mod training;

use end_to_end::*;
use jni::*;
pub(crate) use memory::peak_rss_kb;
use memory::*;
use report::*;
use tiles::*;

/// The Python reference script, embedded so the binary measures without the source tree.
const PYTHON_REFERENCE: &str = include_str!("../../../../scripts/bench/onnxruntime_reference.py");

/// Arguments of `bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Model name (see `brightseg models`) or model folder.
    #[arg(long, short)]
    pub model: String,
    /// Image whose content fills the test images (mirrored to each size) [default: ndev's
    /// scratch assay, data/ndev/scratch-assay-labeled-10T-2Ch.tiff, channel oblique, its last
    /// frame: a transmitted-light plane full of nuclei (the scratch has closed), as users'
    /// images are. StarDist's data/stardist/img2d.tif is a sparse alternative].
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Channel of the bench image to use (name or number from 1), for multi-channel images
    /// such as a brightfield + stain time series [default: oblique for the default image].
    #[arg(long)]
    pub channel: Option<String>,
    /// Frame (time point, from 1) of the bench image whose plane fills the test images
    /// [default: the last].
    #[arg(long)]
    pub frame: Option<usize>,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Tiles per engine per round of the comparison.
    #[arg(long, default_value_t = 8)]
    pub tiles: usize,
    /// Rounds of the engine comparison: within a round the engines take turns, and each
    /// reports its median round, so a busy moment of a shared machine does not fall on one
    /// engine alone.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Edge in pixels of the end-to-end image.
    #[arg(long = "e2e-size", default_value_t = 2048)]
    pub e2e_size: usize,
    /// End-to-end repeats (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Edge in pixels of the peak-memory image (0: skip that part).
    #[arg(long = "large-size", default_value_t = 20000)]
    pub large_size: usize,
    /// Backend of the peak-memory run [default: the fastest measured end to end].
    #[arg(long = "large-backend")]
    pub large_backend: Option<BackendChoice>,
    /// Pixel sizes in µm given to the test images, each measured end to end and for peak
    /// memory [default: the model's own, then 0.5, which it is resampled from].
    #[arg(long = "pixel-size", value_delimiter = ',')]
    pub pixel_sizes: Vec<f64>,
    /// ONNX Runtime library for our ort backends [default: $BRIGHTSEG_ORT_LIB, else an
    /// installed onnxruntime wheel].
    #[arg(long = "ort-lib", value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Python with onnxruntime, the outside reference [default: $BRIGHTSEG_PYTHON, else
    /// .venv/bin/python, else python3].
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// brightseg-api jar (with its native library) for the JNI overhead; skipped when absent
    /// [default: java/build/libs/brightseg-api-*.jar].
    #[arg(long)]
    pub jar: Option<PathBuf>,
    /// Also measure CUDA: our ort-cuda backend and Python onnxruntime's CUDA provider.
    #[arg(long)]
    pub cuda: bool,
    /// Training steps timed per training engine, architecture (standard, fast) and thread
    /// count, on patches of ndev's paired series (0: skip that part). Engines: flex, and
    /// LibTorch in a build with the `libtorch` feature (its CUDA device too with --cuda).
    #[cfg(feature = "train")]
    #[arg(long = "training-steps", default_value_t = 10)]
    pub training_steps: usize,
    /// Paired series whose patches the training steps use (targets from its stain, frames
    /// 0-6) [default: data/ndev/scratch-assay-labeled-10T-2Ch.tiff].
    #[cfg(feature = "train")]
    #[arg(long = "training-series", value_name = "PATH")]
    pub training_series: Option<PathBuf>,
    /// The series' transmitted-light and stain channels (names or numbers from 1).
    #[cfg(feature = "train")]
    #[arg(
        long = "training-channels",
        value_name = "LIGHT,STAIN",
        default_value = "oblique,H3342"
    )]
    pub training_channels: String,
    /// Also time tract operator by operator on the tile (where its time goes).
    #[arg(long = "profile-tract")]
    pub profile_tract: bool,
    /// Write the results as Markdown (with the machine) to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// The bench's default image: a transmitted-light plane full of nuclei.
const DENSE_IMAGE: &str = "data/ndev/scratch-assay-labeled-10T-2Ch.tiff";
/// Its transmitted-light channel.
const DENSE_CHANNEL: &str = "oblique";

/// The pixel sizes to measure: those given, else the model's own and 0.5 µm (the common case
/// of an image resampled for the model).
fn pixel_sizes(args: &BenchArgs, model_um: Option<f64>) -> Result<Vec<f64>> {
    if let Some(bad) = args
        .pixel_sizes
        .iter()
        .find(|p| !(p.is_finite() && **p > 0.0))
    {
        bail!("--pixel-size {bad}: give positive sizes in µm, e.g. 0.619,0.5");
    }
    if !args.pixel_sizes.is_empty() {
        return Ok(args.pixel_sizes.clone());
    }
    Ok(match model_um {
        Some(own) if (own - 0.5).abs() > 1e-9 => vec![own, 0.5],
        _ => vec![0.5],
    })
}

/// Runs every part and prints (and optionally writes) the report.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.threads.is_empty() || args.threads.contains(&0) {
        bail!("--threads needs positive thread counts, e.g. 1,2");
    }
    let model_path = crate::models::resolve(&args.model)?;
    let card = brightseg::model::ModelCard::load(&model_path)?;
    let image_path = args
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from(DENSE_IMAGE));
    let channel_choice = match (&args.image, &args.channel) {
        (None, None) => Some(DENSE_CHANNEL.to_owned()),
        (_, choice) => choice.clone(),
    };
    let pixel_sizes = pixel_sizes(args, card.pixel_size_um)?;
    let source = io::read_image(&image_path).with_context(|| {
        format!(
            "cannot read the bench image {} (run scripts/fetch-data.sh or give --image)",
            image_path.display()
        )
    })?;
    let channel = source.resolve_channel(channel_choice.as_deref())?;
    let frame = match args.frame {
        None => source.frames() - 1,
        Some(t) if (1..=source.frames()).contains(&t) => t - 1,
        Some(t) => bail!(
            "--frame {t}: the bench image has frames 1 to {}",
            source.frames()
        ),
    };
    let image_label = format!(
        "{} (channel {}, frame {} of {})",
        image_path.display(),
        channel_choice.as_deref().unwrap_or("1"),
        frame + 1,
        source.frames()
    );
    let source = source.plane(channel, 0, frame).clone();
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let mut report = Report::new(args, &card, image_label);

    let ort_found = find_onnxruntime(args.ort_lib.as_deref());
    let mut ours = vec![BackendChoice::Tract];
    match &ort_found {
        Ok(lib) => {
            ours.push(BackendChoice::OrtCpu);
            if args.cuda {
                if lib.has_cuda_provider() {
                    ours.push(BackendChoice::OrtCuda);
                } else {
                    report.note(format!(
                        "ort-cuda skipped: {} is a CPU build",
                        lib.path.display()
                    ));
                }
            }
        }
        Err(e) => report.note(format!("ort backends skipped: {e}")),
    }

    // CUDA runs once, at the first thread count; the CPU engines at every one.
    let measured_at = |threads: usize| {
        ours.iter()
            .copied()
            .filter(move |&c| c != BackendChoice::OrtCuda || threads == args.threads[0])
    };

    // 1. The same tile through every engine.
    let (th, tw) = card.tile_shape(card.defaults.tile_size, card.defaults.tile_size);
    let shape = card.input_shape(th, tw);
    let tile_plane = mirrored(&source, tw, th)?;
    let normalizer = Normalizer::for_plane(&tile_plane, &card.preprocessing);
    let tile: Vec<f32> = (0..th * tw)
        .map(|i| normalizer.apply(tile_plane.value(i)))
        .collect();
    let tile_file = work.path().join("tile.f32");
    let bytes: Vec<u8> = tile.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&tile_file, bytes).context("cannot write the bench tile")?;
    report.tile_shape = shape.clone();
    let python = python_path(args.python.as_deref());
    for &threads in &args.threads {
        let mut contenders: Vec<Contender> = measured_at(threads)
            .map(|choice| Contender::ours(&card.onnx_path, &shape, choice, threads, args))
            .collect();
        let cudas: &[bool] = if args.cuda && threads == args.threads[0] {
            &[false, true]
        } else {
            &[false]
        };
        for &cuda in cudas {
            contenders.push(Contender::python(
                &python,
                &card.onnx_path,
                &tile_file,
                &shape,
                threads,
                cuda,
            ));
        }
        let count = args.tiles.max(threads);
        for _ in 0..args.rounds.max(1) {
            for contender in &mut contenders {
                contender.round(&tile, &shape, count);
                // ONNX Runtime's idle threads spin for a while after a run (Python's do, with
                // the default session settings): let them stop before the next engine is timed.
                std::thread::sleep(SETTLE);
            }
        }
        report
            .tiles
            .extend(contenders.into_iter().map(|c| c.timing(threads)));
    }

    if args.profile_tract {
        match profile_tract(&card.onnx_path, &shape, &tile) {
            Ok(p) => report.tract_profile = p,
            Err(e) => report.note(format!("tract profile failed: {e:#}")),
        }
    }

    // 2. End to end on one image.
    let plane = mirrored(&source, args.e2e_size, args.e2e_size)?;
    for &pixel_size in &pixel_sizes {
        let calibration = Calibration::square(pixel_size);
        for &threads in &args.threads {
            for choice in measured_at(threads) {
                match end_to_end(&model_path, &plane, calibration, choice, threads, args) {
                    Ok(e) => {
                        eprintln!(
                            "end to end {} at {threads} thread(s), {pixel_size} µm: {:.2} s, \
                             {:.2} MP/s; network alone {:.2} MP/s, ratio {:.2}",
                            choice,
                            e.seconds,
                            e.megapixels_per_second,
                            e.network_megapixels_per_second,
                            e.of_network()
                        );
                        report.e2e.push(e);
                    }
                    Err(e) => report.note(format!("end to end {choice} failed: {e:#}")),
                }
            }
        }
    }

    // 3. JNI overhead against the same call in process.
    if let Some(jar) = args.jar.as_deref().filter(|j| !j.is_file()) {
        report.note(format!(
            "JNI overhead not measured: there is no jar at {} (build it with `gradle build`)",
            jar.display()
        ));
    } else if let Some(jar) = find_jar(args.jar.as_deref()) {
        let threads = *args.threads.iter().max().unwrap_or(&1);
        let input = (&plane, pixel_sizes[0]);
        match jni_overhead(&jar, &model_path, input, threads, args, work.path()) {
            Ok(j) => report.jni = Some(j),
            Err(e) => report.note(format!("JNI overhead not measured: {e:#}")),
        }
    } else {
        report.note(
            "JNI overhead not measured: no brightseg-api jar (build it with `gradle build`, or \
             give --jar)"
                .to_owned(),
        );
    }

    // 4. Peak memory on a huge image, in a child process.
    if args.large_size > 0 {
        let choice = args.large_backend.unwrap_or_else(|| {
            report
                .e2e
                .iter()
                .max_by(|a, b| a.megapixels_per_second.total_cmp(&b.megapixels_per_second))
                .map_or(BackendChoice::Tract, |e| e.choice)
        });
        let threads = *args.threads.iter().max().unwrap_or(&1);
        for &pixel_size in &pixel_sizes {
            let run = (choice, threads, pixel_size);
            match peak_memory(&source, &model_path, run, args, work.path()) {
                Ok(m) => report.memory.push(m),
                Err(e) => report.note(format!("peak memory not measured: {e:#}")),
            }
        }
    }

    // 5. Training steps on every training engine this build has.
    #[cfg(feature = "train")]
    if args.training_steps > 0 {
        match training::time_engines(args) {
            Ok(t) => report.training = t,
            Err(e) => report.note(format!("training steps not measured: {e:#}")),
        }
    }

    let text = report.markdown();
    println!("{text}");
    if let Some(path) = &args.markdown {
        io::write_bytes_atomically(path, text.as_bytes())?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// `source` mirrored (like tiles are padded) to `width × height`, as 16-bit when it is.
fn mirrored(source: &Plane, width: usize, height: usize) -> Result<Plane> {
    let (sw, sh) = (source.width(), source.height());
    let index = |x: usize, y: usize| {
        let period = |v: usize, n: usize| {
            let m = v % (2 * n);
            if m < n {
                m
            } else {
                2 * n - 1 - m
            }
        };
        period(y, sh) * sw + period(x, sw)
    };
    let data = match source.data() {
        PixelData::U16(v) => PixelData::U16(
            (0..width * height)
                .into_par_iter()
                .map(|i| v[index(i % width, i / width)])
                .collect(),
        ),
        PixelData::U8(v) => PixelData::U16(
            (0..width * height)
                .into_par_iter()
                .map(|i| u16::from(v[index(i % width, i / width)]))
                .collect(),
        ),
        PixelData::F32(v) => PixelData::F32(
            (0..width * height)
                .into_par_iter()
                .map(|i| v[index(i % width, i / width)])
                .collect(),
        ),
    };
    Ok(Plane::new(width, height, data)?)
}

fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")
}

fn python_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("BRIGHTSEG_PYTHON").map(PathBuf::from))
        .or_else(|| {
            let venv = PathBuf::from(".venv/bin/python");
            venv.is_file().then_some(venv)
        })
        .unwrap_or_else(|| PathBuf::from("python3"))
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
