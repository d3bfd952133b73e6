//! `brightseg resources`: how much memory and how many threads one find-nuclei job needs, for
//! cluster schedulers (the Snakemake workflow asks it once per run).
//!
//! The estimate is the one find-nuclei checks against its memory budget
//! ([`brightseg::budget`]), with the network's working memory per tile as tract estimates it for
//! this model, plus the 16-bit image itself.

use anyhow::Result;
use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::banded::{band_rows_for, BANDS_ABOVE_PIXELS, BAND_MARGIN, BAND_PIXELS};
use brightseg::budget::Holding;
use brightseg::pipeline::Model;

use crate::ResourcesArgs;

/// Memory in MB for one job on a `width × height` image: its 16-bit pixels plus the work of
/// finding nuclei in it with `threads` tiles of `tile_h × tile_w` (`tile_bytes` each) in flight
/// (the same estimate find-nuclei checks against its memory budget). Planes over
/// [`BANDS_ABOVE_PIXELS`] are processed band by band, so their work is that of one band and the
/// rows below it.
pub fn estimate_mb(
    (tile_h, tile_bytes): (usize, u64),
    threads: usize,
    width: u64,
    height: u64,
) -> u64 {
    const INPUT_BYTES_PER_PIXEL: u64 = 2;
    let extent = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let (w, h) = (extent(width), extent(height));
    let holding = if w.saturating_mul(h) > BANDS_ABOVE_PIXELS {
        Holding::Bands {
            held_rows: band_rows_for(w, BAND_PIXELS)
                .saturating_add(BAND_MARGIN)
                .saturating_add(tile_h),
        }
    } else {
        Holding::Whole
    };
    let work = brightseg::budget::find_nuclei_bytes(w, h, holding, tile_bytes, threads);
    let input = width
        .saturating_mul(height)
        .saturating_mul(INPUT_BYTES_PER_PIXEL);
    work.saturating_add(input).div_ceil(1_000_000)
}

/// Prints `mem_mb=… threads=… tile=…x…` (or YAML with --yaml) for the model and image size.
pub fn run(args: &ResourcesArgs) -> Result<()> {
    let path = crate::models::resolve(&args.model)?;
    let mut model = Model::load_with(
        &path,
        &BackendOptions {
            choice: BackendChoice::Tract,
            threads: 1,
            ort_library: None,
        },
    )?;
    if let Some(size) = args.tile_size {
        model.set_tile_size(size)?;
    }
    let tile = model.card().defaults.tile_size;
    let (th, tw) = model.card().tile_shape(tile, tile);
    let mem = estimate_mb(
        (th, model.tile_bytes(th, tw)),
        args.threads,
        args.width,
        args.height,
    );
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
    fn grows_with_what_costs_memory_and_counts_bands_for_large_planes() {
        let tile = (768, 70_000_000);
        let small = estimate_mb(tile, 2, 1000, 1000);
        assert_eq!(
            small,
            (150_000_000 + 140_000_000 + 12_000_000 + 2_000_000) / 1_000_000
        );
        assert!(estimate_mb(tile, 4, 1000, 1000) > small);
        assert!(estimate_mb((768, 10_000_000), 2, 1000, 1000) < small);
        // Over 64 MP the work is that of the held rows, not of the whole plane.
        let banded = estimate_mb(tile, 2, 20_000, 20_000);
        let whole_work = 20_000u64 * 20_000 * 12 / 1_000_000;
        assert!(banded < whole_work, "{banded}");
    }
}
