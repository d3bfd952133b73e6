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

/// The Python reference script, embedded so the binary measures without the source tree.
const PYTHON_REFERENCE: &str = include_str!("../../../scripts/bench/onnxruntime_reference.py");

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

/// One engine of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Ours(BackendChoice),
    Python { cuda: bool },
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Ours(BackendChoice::Tract) => "brightseg tract",
            Engine::Ours(BackendChoice::OrtCpu) => "brightseg ort-cpu",
            Engine::Ours(BackendChoice::OrtCuda) => "brightseg ort-cuda",
            Engine::Ours(BackendChoice::Auto) => "brightseg auto",
            Engine::Python { cuda: false } => "Python onnxruntime (CPU)",
            Engine::Python { cuda: true } => "Python onnxruntime (CUDA)",
        }
    }
}

/// What one engine did on the tiles at one thread count.
struct TileTiming {
    engine: Engine,
    threads: usize,
    ms_per_tile: Option<f64>,
    detail: String,
}

impl TileTiming {
    /// The timing, printed as it is taken.
    fn reported(engine: Engine, threads: usize, ms_per_tile: Option<f64>, detail: String) -> Self {
        eprintln!(
            "{} at {threads} thread(s): {}",
            engine.label(),
            ms_per_tile.map_or_else(|| detail.clone(), |ms| format!("{ms:.1} ms per tile"))
        );
        TileTiming {
            engine,
            threads,
            ms_per_tile,
            detail,
        }
    }
}

/// What one backend did end to end at one thread count.
struct EndToEnd {
    choice: BackendChoice,
    threads: usize,
    pixel_size: f64,
    seconds: f64,
    megapixels_per_second: f64,
    /// The network alone over the same plane (at the size it runs at, tiles without overlap,
    /// in parallel on the same threads), in image megapixels per second.
    network_megapixels_per_second: f64,
    /// Seconds per stage of one more run, timed stage by stage.
    stages: StageTimes,
    /// That run's seconds.
    stages_run: f64,
    backend: String,
}

impl EndToEnd {
    /// End-to-end throughput over the network alone's.
    fn of_network(&self) -> f64 {
        self.megapixels_per_second / self.network_megapixels_per_second
    }
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
        match crate::bench_training::time_engines(args) {
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

/// tract's time per operator kind on the tile: one warm-up run, then three timed runs.
fn profile_tract(onnx: &Path, shape: &[usize], tile: &[f32]) -> Result<Vec<(String, f64)>> {
    let tract = brightseg::backend::TractBackend::load(onnx, shape)?;
    tract.profile(tile, shape)?;
    let mut total: Vec<(String, f64)> = Vec::new();
    for _ in 0..3 {
        for (op, seconds) in tract.profile(tile, shape)? {
            match total.iter_mut().find(|(o, _)| *o == op) {
                Some(entry) => entry.1 += seconds / 3.0,
                None => total.push((op, seconds / 3.0)),
            }
        }
    }
    total.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (op, seconds) in &total {
        eprintln!("tract {op}: {:.1} ms", seconds * 1000.0);
    }
    Ok(total)
}

/// Pause after each engine's round of the comparison.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(250);

/// One engine of the comparison, opened once and timed round after round.
struct Contender {
    engine: Engine,
    runner: Runner,
    detail: String,
    /// Milliseconds per tile of each round.
    rounds: Vec<f64>,
    /// Why the engine stopped (or never started), when it did.
    failure: Option<String>,
}

/// What runs a contender's tiles.
enum Runner {
    /// Our backend, fed the way the pipeline feeds it: tiles in parallel on the workers (ONNX
    /// Runtime serialises them and uses the threads itself).
    Ours {
        backend: Box<dyn Backend>,
        workers: rayon::ThreadPool,
    },
    /// The Python reference process, which times a round each time it reads a line.
    Python(LineHelper),
    /// Nothing: the engine could not start.
    Failed,
}

impl Contender {
    /// Our backend `choice` with `threads`, warmed up on one run per worker.
    fn ours(
        onnx: &Path,
        shape: &[usize],
        choice: BackendChoice,
        threads: usize,
        args: &BenchArgs,
    ) -> Self {
        let options = BackendOptions {
            choice,
            threads,
            ort_library: args.ort_lib.clone(),
        };
        let opened = open_backend(onnx, shape, &options)
            .map_err(anyhow::Error::from)
            .and_then(|backend| Ok((backend, pool(threads)?)));
        match opened {
            Ok((backend, workers)) => {
                let detail = backend.describe();
                let mut contender = Contender::started(
                    Engine::Ours(choice),
                    Runner::Ours { backend, workers },
                    detail,
                );
                contender.warm_up(shape, threads);
                contender
            }
            Err(e) => Contender::failed(Engine::Ours(choice), format!("failed: {e:#}")),
        }
    }

    /// Python onnxruntime with `threads` intra-op threads, on the tile in `tile_file`.
    fn python(
        python: &Path,
        onnx: &Path,
        tile_file: &Path,
        shape: &[usize],
        threads: usize,
        cuda: bool,
    ) -> Self {
        let engine = Engine::Python { cuda };
        let shape_text: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let log_path = tile_file.with_extension(format!(
            "python-{threads}-{provider}.log",
            provider = if cuda { "cuda" } else { "cpu" }
        ));
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(PYTHON_REFERENCE)
            .arg(onnx)
            .arg(tile_file)
            .arg(shape_text.join("x"))
            .arg(threads.to_string())
            .arg(if cuda { "cuda" } else { "cpu" });
        let mut helper = match LineHelper::spawn(&mut command, log_path) {
            Ok(helper) => helper,
            Err(e) => return Contender::failed(engine, format!("{e:#}")),
        };
        // Until "ready": version and providers, or an error.
        let lines = match helper.until_ready() {
            Ok(lines) => {
                let value = |key: &str| {
                    lines.iter().find_map(|l: &String| {
                        l.strip_prefix(&format!("{key}=")).map(str::to_owned)
                    })
                };
                let detail = format!(
                    "onnxruntime {} ({})",
                    value("version").unwrap_or_default(),
                    value("providers").unwrap_or_default()
                );
                return Contender::started(engine, Runner::Python(helper), detail);
            }
            Err(lines) => lines,
        };
        let log = helper.finish();
        let reason = lines
            .iter()
            .find_map(|l| l.strip_prefix("error=").map(str::to_owned))
            .unwrap_or_else(|| {
                format!(
                    "the Python reference failed: {}",
                    log.lines().last().unwrap_or("no output")
                )
            });
        Contender::failed(engine, reason)
    }

    fn started(engine: Engine, runner: Runner, detail: String) -> Self {
        Contender {
            engine,
            runner,
            detail,
            rounds: Vec::new(),
            failure: None,
        }
    }

    fn failed(engine: Engine, reason: String) -> Self {
        Contender {
            engine,
            runner: Runner::Failed,
            detail: String::new(),
            rounds: Vec::new(),
            failure: Some(reason),
        }
    }

    /// Two runs per worker, untimed: plans built, buffers and thread caches warm.
    fn warm_up(&mut self, shape: &[usize], threads: usize) {
        if let Runner::Ours { .. } = self.runner {
            let tile = vec![0.5f32; shape.iter().product()];
            if let Err(e) = self.time(&tile, shape, 2 * threads) {
                self.stop(e);
            }
        }
    }

    /// Times `count` tiles and keeps the round, unless the engine has failed.
    fn round(&mut self, tile: &[f32], shape: &[usize], count: usize) {
        match self.time(tile, shape, count) {
            Ok(ms) => self.rounds.push(ms),
            Err(e) => self.stop(e),
        }
    }

    fn stop(&mut self, reason: anyhow::Error) {
        if self.failure.is_none() {
            self.failure = Some(format!("failed: {reason:#}"));
        }
        self.runner = Runner::Failed;
    }

    /// Milliseconds per tile over `count` tiles.
    fn time(&mut self, tile: &[f32], shape: &[usize], count: usize) -> Result<f64> {
        match &mut self.runner {
            Runner::Ours { backend, workers } => {
                let start = Instant::now();
                workers.install(|| {
                    (0..count)
                        .into_par_iter()
                        .try_for_each(|_| backend.run_with(tile, shape, &mut |_, _| Ok(())))
                })?;
                Ok(start.elapsed().as_secs_f64() * 1000.0 / count as f64)
            }
            Runner::Python(helper) => {
                let line = helper
                    .ask(&count.to_string())
                    .context("the Python reference stopped")?;
                match line.strip_prefix("ms_per_tile=") {
                    Some(ms) => ms
                        .parse()
                        .with_context(|| format!("the Python reference printed {line:?}")),
                    None => bail!("the Python reference printed {line:?}"),
                }
            }
            Runner::Failed => bail!("not running"),
        }
    }

    /// The median round, printed as it is reported.
    fn timing(self, threads: usize) -> TileTiming {
        if let Runner::Python(helper) = self.runner {
            helper.finish();
        }
        let ms = (!self.rounds.is_empty()).then(|| median(&mut self.rounds.clone()));
        let detail = match (&self.failure, ms) {
            (Some(reason), None) => reason.clone(),
            (Some(reason), Some(_)) => format!(
                "{} ({reason} after {} rounds)",
                self.detail,
                self.rounds.len()
            ),
            (None, _) => self.detail.clone(),
        };
        if ms.is_some() && self.rounds.len() > 1 {
            let rounds: Vec<String> = self.rounds.iter().map(|r| format!("{r:.1}")).collect();
            eprintln!(
                "{} at {threads} thread(s), ms per tile by round: {}",
                self.engine.label(),
                rounds.join(" ")
            );
        }
        TileTiming::reported(self.engine, threads, ms, detail)
    }
}

/// Find Nuclei on `plane` in this process (no file I/O), median of `args.repeats` runs.
fn end_to_end(
    model_path: &Path,
    plane: &Plane,
    calibration: Calibration,
    choice: BackendChoice,
    threads: usize,
    args: &BenchArgs,
) -> Result<EndToEnd> {
    let runner = InProcess::open(model_path, choice, threads, args)?;
    let mut seconds = (0..args.repeats.max(1))
        .map(|_| runner.seconds(plane, calibration))
        .collect::<Result<Vec<_>>>()?;
    let seconds = median(&mut seconds);
    let mut network = (0..args.repeats.max(1))
        .map(|_| runner.network_seconds(plane, calibration))
        .collect::<Result<Vec<_>>>()?;
    let network = median(&mut network);
    let clock = StageClock::start();
    let stages_run = runner.seconds(plane, calibration)?;
    let stages = clock.stop();
    let megapixels = (plane.width() * plane.height()) as f64 / 1e6;
    Ok(EndToEnd {
        choice,
        threads,
        pixel_size: calibration.pixel_width_um.unwrap_or(1.0),
        seconds,
        megapixels_per_second: megapixels / seconds,
        network_megapixels_per_second: megapixels / network,
        stages,
        stages_run,
        backend: runner.model.backend_description(),
    })
}

/// Find Nuclei in this process: a loaded model and its worker threads.
struct InProcess {
    model: Model,
    workers: rayon::ThreadPool,
}

impl InProcess {
    fn open(
        model_path: &Path,
        choice: BackendChoice,
        threads: usize,
        args: &BenchArgs,
    ) -> Result<Self> {
        let model = Model::load_with(
            model_path,
            &BackendOptions {
                choice,
                threads,
                ort_library: args.ort_lib.clone(),
            },
        )?;
        Ok(InProcess {
            model,
            workers: pool(threads)?,
        })
    }

    /// Seconds of one whole Find Nuclei on `plane` with the default settings.
    fn seconds(&self, plane: &Plane, calibration: Calibration) -> Result<f64> {
        let start = Instant::now();
        self.workers.install(|| {
            find_nuclei(
                &self.model,
                plane,
                calibration,
                &NucleiParams::default(),
                &|_| {},
            )
        })?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// Seconds of the network alone over `plane` as Find Nuclei would run it: at the model's
    /// pixel size, in the model's tiles without overlap (content from the plane's top-left
    /// tile, normalised), every tile in parallel on the same worker threads.
    fn network_seconds(&self, plane: &Plane, calibration: Calibration) -> Result<f64> {
        let plan = self.model.plan(
            plane.width(),
            plane.height(),
            calibration,
            &NucleiParams::default(),
        )?;
        let (w, h) = (plan.network_width, plan.network_height);
        let (th, tw) = self.model.card().tile_shape(h, w);
        let tile_plane = mirrored(plane, tw, th)?;
        let normalizer = Normalizer::for_plane(&tile_plane, &self.model.card().preprocessing);
        let tile: Vec<f32> = (0..th * tw)
            .map(|i| normalizer.apply(tile_plane.value(i)))
            .collect();
        let tiles = h.div_ceil(th) * w.div_ceil(tw);
        let start = Instant::now();
        self.workers.install(|| {
            (0..tiles)
                .into_par_iter()
                .try_for_each(|_| self.model.run_tile(&tile, th, tw).map(drop))
        })?;
        Ok(start.elapsed().as_secs_f64())
    }
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn find_jar(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(jar) = explicit {
        return Some(jar.to_path_buf());
    }
    let dir = Path::new("java/build/libs");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("brightseg-api-") && n.ends_with(".jar"))
        })
        .collect();
    jars.sort();
    jars.pop()
}

/// The JNI path against the in-process path: same image, model, tract, threads.
struct JniTiming {
    threads: usize,
    in_process_ms: f64,
    /// Java calls that return labels and measurements (the CLI's default outputs).
    labels: JniCalls,
    /// Java calls that also return the probability image.
    full: JniCalls,
}

impl JniTiming {
    /// Each kind of Java call with what it returns.
    fn kinds(&self) -> [(&'static str, &JniCalls); 2] {
        [
            (
                "labels, measurements (the CLI's default outputs)",
                &self.labels,
            ),
            ("labels, measurements, probability image", &self.full),
        ]
    }
}

/// Medians over one kind of Java call.
struct JniCalls {
    /// The whole Java call.
    jni_ms: f64,
    /// Java call − the native segmentation time it reports: the bridge's own cost.
    bridge_ms: f64,
    /// Native segmentation time inside the Java calls.
    work_ms: f64,
}

impl JniCalls {
    /// Medians of (whole call, bridge, segmentation) milliseconds, each taken on its own.
    fn median_of(calls: &[(f64, f64, f64)]) -> Self {
        let column = |pick: fn(&(f64, f64, f64)) -> f64| {
            median(&mut calls.iter().map(pick).collect::<Vec<_>>())
        };
        JniCalls {
            jni_ms: column(|c| c.0),
            bridge_ms: column(|c| c.1),
            work_ms: column(|c| c.2),
        }
    }

    /// The Java call against the in-process call of the same rounds, percent.
    fn against(&self, in_process_ms: f64) -> f64 {
        (self.jni_ms / in_process_ms - 1.0) * 100.0
    }

    /// The bridge's cost relative to the segmentation within the same calls, percent.
    fn bridge_share(&self) -> f64 {
        self.bridge_ms / self.work_ms * 100.0
    }
}

/// A helper process that answers each line it reads with one line (the Python reference, the
/// Java bench). Its messages go to a log file: a pipe nobody reads while it runs could fill and
/// stall it.
struct LineHelper {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    log_path: PathBuf,
}

impl LineHelper {
    /// Starts `command` with its messages going to `log_path`.
    fn spawn(command: &mut Command, log_path: PathBuf) -> Result<Self> {
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot write {}", log_path.display()))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("no pipe to {}", command.get_program().to_string_lossy());
        };
        Ok(LineHelper {
            child,
            input,
            output: std::io::BufReader::new(output),
            log_path,
        })
    }

    /// The lines it prints before "ready" (trimmed); `Err` with them when it ends first.
    fn until_ready(&mut self) -> std::result::Result<Vec<String>, Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match std::io::BufRead::read_line(&mut self.output, &mut line) {
                Ok(0) | Err(_) => return Err(lines),
                Ok(_) => {}
            }
            let line = line.trim().to_owned();
            if line == "ready" {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    /// Sends `request` and returns its reply, trimmed; empty when it has ended.
    fn ask(&mut self, request: &str) -> std::io::Result<String> {
        use std::io::Write as _;
        writeln!(self.input, "{request}")?;
        self.input.flush()?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.output, &mut line)?;
        Ok(line.trim().to_owned())
    }

    /// What it has written to its log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Closes its input, waits for it to end and returns its log.
    fn finish(self) -> String {
        let LineHelper {
            mut child,
            input,
            log_path,
            ..
        } = self;
        drop(input);
        let _ = child.wait();
        std::fs::read_to_string(log_path).unwrap_or_default()
    }
}

/// Rounds of the JNI comparison: `--repeats`, but at least this many.
const MIN_JNI_ROUNDS: usize = 5;

/// Times Find Nuclei through the Java API (the jar's `Bench` class, kept running) and in this
/// process in turns: every round makes one in-process call, one Java call returning labels and
/// measurements, and one returning the probability image too.
fn jni_overhead(
    jar: &Path,
    model_path: &Path,
    (plane, pixel_size): (&Plane, f64),
    threads: usize,
    args: &BenchArgs,
    work: &Path,
) -> Result<JniTiming> {
    let PixelData::U16(pixels) = plane.data() else {
        bail!("the JNI comparison needs a 16-bit image");
    };
    let raw = work.join("plane.u16");
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).context("cannot write the JNI bench plane")?;
    let calibration = Calibration::square(pixel_size);
    let in_process = InProcess::open(model_path, BackendChoice::Tract, threads, args)?;
    in_process.seconds(plane, calibration)?;
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(jar)
        .arg("io.github.brightseg.Bench")
        .arg(model_path)
        .arg(&raw)
        .arg(plane.width().to_string())
        .arg(plane.height().to_string())
        .arg(pixel_size.to_string())
        .arg(threads.to_string());
    let mut helper = LineHelper::spawn(&mut command, work.join("java-bench.log"))?;
    if helper.until_ready().is_err() {
        bail!("the Java bench stopped: {}", helper.finish().trim());
    }
    let mut call = |kind: &str| -> Result<(f64, f64, f64)> {
        let line = match helper.ask(kind) {
            Ok(line) if !line.is_empty() => line,
            _ => bail!("the Java bench stopped: {}", helper.log().trim()),
        };
        let value = |key: &str| -> Result<f64> {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .with_context(|| {
                    format!("the Java bench printed {line:?}: {}", helper.log().trim())
                })
        };
        Ok((value("ms=")?, value("bridge_ms=")?, value("work_ms=")?))
    };
    let rounds = args.repeats.max(MIN_JNI_ROUNDS);
    let mut in_process_ms = Vec::with_capacity(rounds);
    let mut labels = Vec::with_capacity(rounds);
    let mut full = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // A pause after each Java call: the JVM frees the returned arrays in the background.
        in_process_ms.push(in_process.seconds(plane, calibration)? * 1000.0);
        labels.push(call("labels")?);
        std::thread::sleep(SETTLE);
        full.push(call("full")?);
        std::thread::sleep(SETTLE);
    }
    helper.finish();
    let timing = JniTiming {
        threads,
        in_process_ms: median(&mut in_process_ms),
        labels: JniCalls::median_of(&labels),
        full: JniCalls::median_of(&full),
    };
    for (what, c) in timing.kinds() {
        eprintln!(
            "JNI ({what}): {:.0} ms vs in process {:.0} ms ({:+.1} %); inside the Java calls \
             the bridge took {:.1} ms of {:.0} ms segmenting ({:.2} %)",
            c.jni_ms,
            timing.in_process_ms,
            c.against(timing.in_process_ms),
            c.bridge_ms,
            c.work_ms,
            c.bridge_share()
        );
    }
    Ok(timing)
}

/// Peak resident memory of `brightseg find-nuclei` on a `large_size²` 16-bit TIFF.
struct MemoryUse {
    size: usize,
    choice: BackendChoice,
    threads: usize,
    pixel_size: f64,
    peak_kb: u64,
    seconds: f64,
}

fn peak_memory(
    source: &Plane,
    model_path: &Path,
    (choice, threads, pixel_size): (BackendChoice, usize, f64),
    args: &BenchArgs,
    work: &Path,
) -> Result<MemoryUse> {
    let size = args.large_size;
    // Written once per bench run, without a calibration: each run gives its pixel size.
    let big = work.join(format!("large-{size}.tif"));
    if !big.is_file() {
        eprintln!("writing a {size} × {size} 16-bit test image…");
        let plane = mirrored(source, size, size)?;
        let PixelData::U16(pixels) = plane.data() else {
            bail!("the peak-memory image must be 16-bit");
        };
        io::write_tiff(
            &big,
            size,
            size,
            &[OutputPlane::Gray16(pixels)],
            1,
            Calibration::default(),
        )?;
    }
    eprintln!("find-nuclei on it with {choice} at {threads} thread(s)…");
    let exe = std::env::current_exe().context("cannot find the brightseg executable")?;
    let mut command = Command::new(exe);
    command
        .arg("find-nuclei")
        .arg(&big)
        .arg("--pixel-size")
        .arg(pixel_size.to_string())
        .arg("--model")
        .arg(model_path)
        .arg("--backend")
        .arg(choice.name())
        .arg("--jobs")
        .arg(threads.to_string())
        // A folder of its own per run, and --overwrite: a finished image in it would be
        // skipped, and its "peak" would be that of a process that did nothing.
        .arg("--out")
        .arg(work.join(format!("large-out-{choice}-{threads}-{pixel_size}")))
        .arg("--overwrite")
        .arg("--quiet")
        .arg("--report-peak-memory");
    if let Some(lib) = &args.ort_lib {
        command.arg("--ort-lib").arg(lib);
    }
    let start = Instant::now();
    let out = command.output().context("cannot start find-nuclei")?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("find-nuclei failed: {stderr}");
    }
    let peak_kb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .context("find-nuclei reported no peak memory")?;
    Ok(MemoryUse {
        size,
        choice,
        threads,
        pixel_size,
        peak_kb,
        seconds,
    })
}

/// This process's peak resident memory in kB (Linux: VmHWM in /proc/self/status).
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Everything measured, and the machine.
struct Report {
    machine: String,
    model: String,
    image: String,
    tile_shape: Vec<usize>,
    tiles: Vec<TileTiming>,
    tract_profile: Vec<(String, f64)>,
    e2e_size: usize,
    e2e: Vec<EndToEnd>,
    jni: Option<JniTiming>,
    memory: Vec<MemoryUse>,
    #[cfg(feature = "train")]
    training: Vec<crate::bench_training::StepTiming>,
    notes: Vec<String>,
}

impl Report {
    fn new(args: &BenchArgs, card: &brightseg::model::ModelCard, image: String) -> Self {
        Report {
            machine: machine_description(),
            model: format!("{} ({})", card.name, card.onnx_path.display()),
            image,
            tile_shape: Vec::new(),
            tiles: Vec::new(),
            tract_profile: Vec::new(),
            e2e_size: args.e2e_size,
            e2e: Vec::new(),
            jni: None,
            memory: Vec::new(),
            #[cfg(feature = "train")]
            training: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn note(&mut self, note: String) {
        eprintln!("note: {note}");
        self.notes.push(note);
    }

    fn reference_ms(&self, threads: usize, cuda: bool) -> Option<f64> {
        self.tiles
            .iter()
            .find(|t| t.threads == threads && t.engine == Engine::Python { cuda })
            .and_then(|t| t.ms_per_tile)
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let shape: Vec<String> = self.tile_shape.iter().map(ToString::to_string).collect();
        let _ = writeln!(s, "## {}\n", self.machine);
        let _ = writeln!(
            s,
            "brightseg {} · model {} · tile {} · image content from {}\n",
            env!("CARGO_PKG_VERSION"),
            self.model,
            shape.join("×"),
            self.image
        );
        let _ = writeln!(s, "### Inference on the same tile\n");
        let _ = writeln!(
            s,
            "| engine | threads | ms per tile | ratio to Python onnxruntime | ran on |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for t in &self.tiles {
            let cuda = matches!(
                t.engine,
                Engine::Ours(BackendChoice::OrtCuda) | Engine::Python { cuda: true }
            );
            let ratio = t
                .ms_per_tile
                .zip(self.reference_ms(t.threads, cuda))
                .map_or_else(|| "—".to_owned(), |(ms, r)| format!("{:.2}", ms / r));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {ratio} | {} |",
                t.engine.label(),
                if cuda {
                    "GPU".to_owned()
                } else {
                    t.threads.to_string()
                },
                t.ms_per_tile
                    .map_or_else(|| "—".to_owned(), |ms| format!("{ms:.1}")),
                t.detail
            );
        }
        if !self.tract_profile.is_empty() {
            let total: f64 = self.tract_profile.iter().map(|(_, t)| t).sum();
            let _ = writeln!(s, "\n### Where tract's time goes (one tile, one thread)\n");
            let _ = writeln!(s, "| operator | ms | share |");
            let _ = writeln!(s, "|---|---|---|");
            for (op, seconds) in self
                .tract_profile
                .iter()
                .filter(|(_, t)| *t >= total * 0.005)
            {
                let _ = writeln!(
                    s,
                    "| {op} | {:.1} | {:.1} % |",
                    seconds * 1000.0,
                    seconds / total * 100.0
                );
            }
        }
        let _ = writeln!(
            s,
            "\n### End-to-end Find Nuclei ({0} × {0} image, in process, file I/O excluded)\n",
            self.e2e_size
        );
        let _ = writeln!(
            s,
            "| backend | threads | µm per pixel | seconds | MP/s | network alone, MP/s | end to end / network | ran on |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for e in &self.e2e {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                e.choice,
                e.threads,
                e.pixel_size,
                e.seconds,
                e.megapixels_per_second,
                e.network_megapixels_per_second,
                e.of_network(),
                e.backend
            );
        }
        if !self.e2e.is_empty() {
            let _ = writeln!(
                s,
                "\n\"Network alone\": the model over the same plane at the size it runs at, in its \
                 tiles without overlap, on the same threads. Where the time went, one more run of \
                 each, in seconds (share of that run):\n"
            );
            let mut header = String::from("| stage |");
            let mut rule = String::from("|---|");
            for e in &self.e2e {
                let _ = write!(header, " {} {}t {} µm |", e.choice, e.threads, e.pixel_size);
                rule.push_str("---|");
            }
            let _ = writeln!(s, "{header}\n{rule}");
            // Every stage, then what ran outside them.
            for stage in TimedStage::ALL.iter().copied().map(Some).chain([None]) {
                let label = stage.map_or("the rest (outside these stages)", TimedStage::label);
                let mut row = format!("| {label} |");
                for e in &self.e2e {
                    let seconds = match stage {
                        Some(stage) => e.stages.of(stage),
                        None => (e.stages_run - e.stages.total()).max(0.0),
                    };
                    let share = 100.0 * seconds / e.stages_run.max(f64::MIN_POSITIVE);
                    let _ = write!(row, " {seconds:.3} ({share:.0} %) |");
                }
                let _ = writeln!(s, "{row}");
            }
        }
        if let Some(j) = &self.jni {
            let _ = writeln!(
                s,
                "\n### JNI call vs in-process call (same image, tract, {} thread{})\n",
                j.threads,
                if j.threads == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                s,
                "| the Java call returns | in process ms | Java API ms | vs in process | \
                 bridge ms per call | segmenting ms in the call | bridge overhead |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for (what, c) in j.kinds() {
                let _ = writeln!(
                    s,
                    "| {what} | {:.0} | {:.0} | {:+.1} % | {:.1} | {:.0} | {:.2} % |",
                    j.in_process_ms,
                    c.jni_ms,
                    c.against(j.in_process_ms),
                    c.bridge_ms,
                    c.work_ms,
                    c.bridge_share()
                );
            }
            let _ = writeln!(
                s,
                "\nThe bridge overhead is each Java call's time minus the native segmentation \
                 time it reports (pixels in, results out, Java objects), measured inside the same \
                 calls; \"vs in process\" compares the Java calls with the same call in this \
                 process, timed in turns (medians of at least 5 rounds)."
            );
        }
        if let Some(first) = self.memory.first() {
            let _ = writeln!(
                s,
                "\n### Peak memory (brightseg find-nuclei, {0} × {0} 16-bit TIFF)\n",
                first.size
            );
            let _ = writeln!(
                s,
                "| backend | threads | µm per pixel | peak RSS MB | image MB | beyond the image \
                 MB | seconds |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for m in &self.memory {
                let image_mb = (m.size * m.size * 2) as f64 / 1e6;
                let peak_mb = m.peak_kb as f64 * 1024.0 / 1e6;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {peak_mb:.0} | {image_mb:.0} | {:.0} | {:.0} |",
                    m.choice,
                    m.threads,
                    m.pixel_size,
                    peak_mb - image_mb,
                    m.seconds
                );
            }
        }
        #[cfg(feature = "train")]
        if let Some(first) = self.training.first() {
            let _ = writeln!(
                s,
                "\n### Training step (batch 8 × 128², forward, loss, backward, Adam; median of \
                 the timed steps after {} untimed)\n",
                first.warmup
            );
            let _ = writeln!(
                s,
                "| architecture | engine | threads | s per step | vs flex | of which batch s |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for t in &self.training {
                let ratio = t
                    .flex_seconds_per_step
                    .map_or_else(String::new, |f| format!("{:.2}×", f / t.seconds_per_step));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} | {ratio} | {:.3} |",
                    t.architecture, t.engine, t.threads, t.seconds_per_step, t.batch_seconds
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}

/// CPU model, cores, memory, GPU and OS, as one line.
fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "?".to_owned(),
            |kb| format!("{:.0}", kb / 1024.0 / 1024.0),
        );
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let gpu = Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|g| !g.is_empty())
        .map_or_else(String::new, |g| format!(" · GPU {g}"));
    format!("{cpu} · {cores} logical cores · {memory_gb} GiB · {os}{gpu}")
}
