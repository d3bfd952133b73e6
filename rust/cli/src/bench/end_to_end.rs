//! Find Nuclei end to end in this process, beside the network alone over the same plane, with
//! the time of each stage.

use super::*;

/// What one backend did end to end at one thread count.
pub(super) struct EndToEnd {
    pub(super) choice: BackendChoice,
    pub(super) threads: usize,
    pub(super) pixel_size: f64,
    pub(super) seconds: f64,
    pub(super) megapixels_per_second: f64,
    /// The network alone over the same plane (at the size it runs at, tiles without overlap,
    /// in parallel on the same threads), in image megapixels per second.
    pub(super) network_megapixels_per_second: f64,
    /// Seconds per stage of one more run, timed stage by stage.
    pub(super) stages: StageTimes,
    /// That run's seconds.
    pub(super) stages_run: f64,
    pub(super) backend: String,
}

impl EndToEnd {
    /// End-to-end throughput over the network alone's.
    pub(super) fn of_network(&self) -> f64 {
        self.megapixels_per_second / self.network_megapixels_per_second
    }
}

/// Find Nuclei on `plane` in this process (no file I/O), median of `args.repeats` runs.
pub(super) fn end_to_end(
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
pub(super) struct InProcess {
    pub(super) model: Model,
    pub(super) workers: rayon::ThreadPool,
}

impl InProcess {
    pub(super) fn open(
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
    pub(super) fn seconds(&self, plane: &Plane, calibration: Calibration) -> Result<f64> {
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
    pub(super) fn network_seconds(&self, plane: &Plane, calibration: Calibration) -> Result<f64> {
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
