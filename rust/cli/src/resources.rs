//! `brightseg resources`: how much memory and how many threads one find-nuclei job needs, for
//! cluster schedulers (the Snakemake workflow asks it once per run).
//!
//! The estimate is the plan find-nuclei itself makes and checks against its memory budget
//! ([`brightseg::banded::default_plan`]: whole plane or band by band, resampled to the model's
//! pixel size or not, with the network's working memory per tile as tract estimates it for this
//! model and the job's worker threads), plus the 16-bit image itself.

use std::path::Path;

use anyhow::{Context, Result};
use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::budget::MemoryBudget;
use brightseg::image::Calibration;
use brightseg::pipeline::{Model, NucleiParams};

use crate::ResourcesArgs;

/// Bytes per pixel of the image a job reads (16-bit).
const INPUT_BYTES_PER_PIXEL: u64 = 2;

/// The model in `model_path` as `resources` plans with it: on tract (whose estimate of the
/// network's working memory per tile the plan uses), with tiles of `tile_size` (`None`: the
/// model's) and no memory budget (the job's machine sets its own; here the need is wanted).
pub fn planning_model(model_path: &Path, tile_size: Option<usize>) -> Result<Model> {
    let mut model = Model::load_with(
        model_path,
        &BackendOptions {
            choice: BackendChoice::Tract,
            threads: 1,
            ort_library: None,
        },
    )?;
    if let Some(size) = tile_size {
        model.set_tile_size(size)?;
    }
    model.set_memory_budget(MemoryBudget::unlimited());
    Ok(model)
}

/// Memory in MB for one find-nuclei job with `threads` workers on a `width × height` 16-bit
/// image of `pixel_um` µm pixels (`None`: the model's own, so nothing is resampled), with a
/// [`planning_model`]: the image, plus the work find-nuclei plans for it.
pub fn estimate_mb(
    model: &Model,
    threads: usize,
    (width, height): (usize, usize),
    pixel_um: Option<f64>,
) -> Result<u64> {
    let calibration = match pixel_um.or(model.card().pixel_size_um) {
        Some(um) => Calibration::square(um),
        None => Calibration::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .context("cannot start the worker threads")?;
    let plan = pool.install(|| {
        brightseg::banded::default_plan(
            model,
            (width, height),
            calibration,
            &NucleiParams::default(),
        )
    })?;
    let input = (width as u64)
        .saturating_mul(height as u64)
        .saturating_mul(INPUT_BYTES_PER_PIXEL);
    Ok(plan.bytes.saturating_add(input).div_ceil(1_000_000))
}

/// Prints `mem_mb=… threads=… tile=…x…` (or YAML with --yaml) for the model and image size.
pub fn run(args: &ResourcesArgs) -> Result<()> {
    let path = crate::models::resolve(&args.model)?;
    let extent = |v: u64, what: &str| {
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .with_context(|| format!("--{what} {v}: give the largest image's {what} in pixels"))
    };
    let size = (extent(args.width, "width")?, extent(args.height, "height")?);
    if let Some(um) = args.pixel_size {
        if !(um.is_finite() && um > 0.0) {
            anyhow::bail!("--pixel-size {um}: give the images' pixel size in µm");
        }
    }
    let model = planning_model(&path, args.tile_size)?;
    let mem = estimate_mb(&model, args.threads, size, args.pixel_size)?;
    let tile = args.tile_size.unwrap_or(model.card().defaults.tile_size);
    let (th, tw) = model.card().tile_shape(tile, tile);
    if args.yaml {
        println!(
            "mem_mb: {mem}\nthreads: {}\ntile: [{th}, {tw}]",
            args.threads
        );
    } else {
        println!("mem_mb={mem} threads={} tile={th}x{tw}", args.threads);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped model, as the e2e tests and the example use it.
    fn shipped() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/nuclei-brightfield")
    }

    #[test]
    fn grows_with_what_costs_memory_and_counts_bands_for_large_planes() {
        let model = planning_model(&shipped(), None).expect("shipped model");
        let mb = |threads, size, um| estimate_mb(&model, threads, size, um).expect("plan");
        let small = mb(2, (1000, 1000), None);
        assert!(small > 2, "more than the image: {small}");
        assert!(
            mb(4, (1000, 1000), None) > small,
            "more threads, more tiles in flight"
        );
        assert!(mb(2, (2000, 2000), None) > small);
        // Finer pixels than the model's 0.619 µm are resampled: more work than at its own.
        assert!(mb(2, (4000, 4000), Some(0.3)) > mb(2, (4000, 4000), None));
        // Over 64 MP the work is that of the held rows, not of the whole plane: 20000² (2186 MB
        // measured) stays far below its 800 MB of pixels plus 12 bytes per pixel of whole-plane
        // maps (5600 MB).
        let banded = mb(2, (20_000, 20_000), None);
        assert!(
            banded < 800 + 20_000 * 20_000 * 12 / 1_000_000 / 2,
            "{banded}"
        );
    }
}
