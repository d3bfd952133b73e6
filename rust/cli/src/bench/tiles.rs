//! The engine comparison: tract, our ONNX Runtime backends and Python onnxruntime take turns on
//! the same tiles, and tract's time per operator kind.

use super::*;

/// One engine of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    Ours(BackendChoice),
    Python { cuda: bool },
}

impl Engine {
    pub(super) fn label(self) -> &'static str {
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
pub(super) struct TileTiming {
    pub(super) engine: Engine,
    pub(super) threads: usize,
    pub(super) ms_per_tile: Option<f64>,
    pub(super) detail: String,
}

impl TileTiming {
    /// The timing, printed as it is taken.
    pub(super) fn reported(
        engine: Engine,
        threads: usize,
        ms_per_tile: Option<f64>,
        detail: String,
    ) -> Self {
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

/// tract's time per operator kind on the tile: one warm-up run, then three timed runs.
pub(super) fn profile_tract(
    onnx: &Path,
    shape: &[usize],
    tile: &[f32],
) -> Result<Vec<(String, f64)>> {
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
pub(super) const SETTLE: std::time::Duration = std::time::Duration::from_millis(250);

/// One engine of the comparison, opened once and timed round after round.
pub(super) struct Contender {
    pub(super) engine: Engine,
    pub(super) runner: Runner,
    pub(super) detail: String,
    /// Milliseconds per tile of each round.
    pub(super) rounds: Vec<f64>,
    /// Why the engine stopped (or never started), when it did.
    pub(super) failure: Option<String>,
}

/// What runs a contender's tiles.
pub(super) enum Runner {
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
    pub(super) fn ours(
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
    pub(super) fn python(
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

    pub(super) fn started(engine: Engine, runner: Runner, detail: String) -> Self {
        Contender {
            engine,
            runner,
            detail,
            rounds: Vec::new(),
            failure: None,
        }
    }

    pub(super) fn failed(engine: Engine, reason: String) -> Self {
        Contender {
            engine,
            runner: Runner::Failed,
            detail: String::new(),
            rounds: Vec::new(),
            failure: Some(reason),
        }
    }

    /// Two runs per worker, untimed: plans built, buffers and thread caches warm.
    pub(super) fn warm_up(&mut self, shape: &[usize], threads: usize) {
        if let Runner::Ours { .. } = self.runner {
            let tile = vec![0.5f32; shape.iter().product()];
            if let Err(e) = self.time(&tile, shape, 2 * threads) {
                self.stop(e);
            }
        }
    }

    /// Times `count` tiles and keeps the round, unless the engine has failed.
    pub(super) fn round(&mut self, tile: &[f32], shape: &[usize], count: usize) {
        match self.time(tile, shape, count) {
            Ok(ms) => self.rounds.push(ms),
            Err(e) => self.stop(e),
        }
    }

    pub(super) fn stop(&mut self, reason: anyhow::Error) {
        if self.failure.is_none() {
            self.failure = Some(format!("failed: {reason:#}"));
        }
        self.runner = Runner::Failed;
    }

    /// Milliseconds per tile over `count` tiles.
    pub(super) fn time(&mut self, tile: &[f32], shape: &[usize], count: usize) -> Result<f64> {
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
    pub(super) fn timing(self, threads: usize) -> TileTiming {
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
