//! `brightseg resources`: how much memory and how many threads one find-nuclei job needs, for
//! cluster schedulers (the Snakemake workflow asks it once per run).
//!
//! The estimate is deliberately on the high side. It was fitted to measurements on this
//! project's reference machine (README): a 10000 × 10000 16-bit image with 2 workers and
//! 512 × 512 tiles peaked at 1.08 GB resident; each tile in flight holds roughly 0.1–0.3 GB of
//! network activations (scaling with the tile area); every image pixel costs about 12 bytes
//! (input, normalised copy, probability, labels and object bookkeeping).

use anyhow::Result;
use brightseg::model::ModelCard;

use crate::ResourcesArgs;

/// Memory in MB for one job.
pub fn estimate_mb(tile_h: usize, tile_w: usize, threads: usize, pixels: u64) -> u64 {
    const BASE_MB: f64 = 150.0; // binary, model plan, allocator slack
    const PER_TILE_MB_AT_512: f64 = 300.0;
    const BYTES_PER_PIXEL: f64 = 12.0;
    let tile_scale = (tile_h * tile_w) as f64 / (512.0 * 512.0);
    let mb = BASE_MB
        + threads as f64 * PER_TILE_MB_AT_512 * tile_scale
        + pixels as f64 * BYTES_PER_PIXEL / 1e6;
    mb.ceil() as u64
}

/// Prints `mem_mb=… threads=… tile=…x…` (or YAML with --yaml) for the model and image size.
pub fn run(args: &ResourcesArgs) -> Result<()> {
    let path = crate::models::resolve(&args.model)?;
    let card = ModelCard::load(&path)?;
    let (th, tw) = card.tile_shape(card.defaults.tile_size, card.defaults.tile_size);
    let pixels = args.width * args.height;
    let mem = estimate_mb(th, tw, args.threads, pixels);
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

    #[test]
    fn covers_the_measured_peak_and_grows_with_what_costs_memory() {
        // Measured: 10000² image, 2 workers, 512² tiles → 1.08 GB peak.
        let est = estimate_mb(512, 512, 2, 10_000 * 10_000);
        assert!((1080..2500).contains(&est), "{est}");
        assert!(estimate_mb(512, 512, 4, 1_000_000) > estimate_mb(512, 512, 2, 1_000_000));
        assert!(estimate_mb(256, 256, 2, 1_000_000) < estimate_mb(512, 512, 2, 1_000_000));
    }
}
