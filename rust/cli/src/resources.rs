//! `brightseg resources`: how much memory and how many threads one find-nuclei job needs, for
//! cluster schedulers (the Snakemake workflow asks it once per run).
//!
//! The estimate is the one find-nuclei checks against its memory budget
//! ([`brightseg::budget`]), deliberately on the high side, plus the 16-bit image itself.

use anyhow::Result;
use brightseg::banded::{band_rows_for, BANDS_ABOVE_PIXELS, BAND_MARGIN, BAND_PIXELS};
use brightseg::model::ModelCard;

use crate::ResourcesArgs;

/// Memory in MB for one job on a `width × height` image: its 16-bit pixels plus the work of
/// finding nuclei in it (the same estimate find-nuclei checks against its memory budget).
/// Planes over [`BANDS_ABOVE_PIXELS`] are processed band by band, so their work is that of one
/// band and the rows below it.
pub fn estimate_mb(tile_h: usize, tile_w: usize, threads: usize, width: u64, height: u64) -> u64 {
    const INPUT_BYTES_PER_PIXEL: u64 = 2;
    let extent = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let (w, h) = (extent(width), extent(height));
    let work_rows = if w.saturating_mul(h) > BANDS_ABOVE_PIXELS {
        (band_rows_for(w, BAND_PIXELS) + BAND_MARGIN + tile_h).min(h)
    } else {
        h
    };
    let work = brightseg::budget::find_nuclei_bytes(w, work_rows, tile_h, tile_w, threads);
    let input = width
        .saturating_mul(height)
        .saturating_mul(INPUT_BYTES_PER_PIXEL);
    work.saturating_add(input).div_ceil(1_000_000)
}

/// Prints `mem_mb=… threads=… tile=…x…` (or YAML with --yaml) for the model and image size.
pub fn run(args: &ResourcesArgs) -> Result<()> {
    let path = crate::models::resolve(&args.model)?;
    let card = ModelCard::load(&path)?;
    let tile = args.tile_size.unwrap_or(card.defaults.tile_size);
    let (th, tw) = card.tile_shape(tile, tile);
    let mem = estimate_mb(th, tw, args.threads, args.width, args.height);
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
        let est = estimate_mb(512, 512, 2, 10_000, 10_000);
        assert!((1080..2500).contains(&est), "{est}");
        assert!(estimate_mb(512, 512, 4, 1000, 1000) > estimate_mb(512, 512, 2, 1000, 1000));
        assert!(estimate_mb(256, 256, 2, 1000, 1000) < estimate_mb(512, 512, 2, 1000, 1000));
        // Measured: 20000² image processed in bands, 2 workers, 512² tiles → 1.40 GB peak.
        let banded = estimate_mb(512, 512, 2, 20_000, 20_000);
        assert!((1400..3000).contains(&banded), "{banded}");
    }
}
