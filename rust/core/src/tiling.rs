//! The tile grid: where tiles go along each axis and how their outputs are blended.
//!
//! Each tile discards a `halo` border on sides facing another tile and fades in over a ramp of
//! complementary sin²/cos² weights, so overlapping tiles sum to a seamless result. Weights are
//! separable, so their per-pixel sum is the product of two 1-D sums and needs no extra plane.

use crate::error::{Error, Result};

/// Tile placement and blending weights along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisTiles {
    /// Tile length (the model's input size on this axis).
    pub tile: usize,
    /// Start of each tile; tiles never start outside the image.
    pub starts: Vec<usize>,
    /// Blending weight of each tile position, one vector per tile.
    pub weights: Vec<Vec<f32>>,
    /// Sum of weights of all tiles at each image position (always > 0).
    pub norm: Vec<f32>,
}

/// Plans tiles of length `tile` over `extent` pixels, discarding `halo` pixels on inner sides and
/// blending over a ramp of `halo` pixels (at least 8), with starts on multiples of `align` where
/// the image allows it.
pub fn plan_axis(extent: usize, tile: usize, halo: usize, align: usize) -> Result<AxisTiles> {
    if extent == 0 || tile == 0 {
        return Err(Error::invalid("cannot tile an empty axis"));
    }
    if extent <= tile {
        let mut w = vec![0.0; tile];
        w[..extent].fill(1.0);
        return Ok(AxisTiles {
            tile,
            starts: vec![0],
            weights: vec![w],
            norm: vec![1.0; extent],
        });
    }
    let ramp = ramp_len(halo);
    let starts = tile_starts(extent, tile, halo, align)?;
    let ramp_up = |p: usize| -> f32 {
        if p < halo {
            0.0
        } else if p < halo + ramp {
            let t = ((p - halo) as f64 + 0.5) / ramp as f64;
            (std::f64::consts::FRAC_PI_2 * t).sin().powi(2) as f32
        } else {
            1.0
        }
    };
    let mut norm = vec![0.0f32; extent];
    let weights: Vec<Vec<f32>> = starts
        .iter()
        .map(|&s| {
            let first = s == 0;
            let last = s + tile == extent;
            let w: Vec<f32> = (0..tile)
                .map(|p| {
                    let left = if first { 1.0 } else { ramp_up(p) };
                    let right = if last { 1.0 } else { ramp_up(tile - 1 - p) };
                    left * right
                })
                .collect();
            for (p, &v) in w.iter().enumerate() {
                norm[s + p] += v;
            }
            w
        })
        .collect();
    Ok(AxisTiles {
        tile,
        starts,
        weights,
        norm,
    })
}

/// Length of the blending ramp beside a halo of `halo` pixels.
fn ramp_len(halo: usize) -> usize {
    halo.max(8)
}

/// Where tiles of length `tile` start over `extent` pixels (`extent > tile`) when each
/// discards `halo` pixels on inner sides and blends over a ramp of `halo` pixels (at least 8):
/// every `stride` pixels, a multiple of `align`, the last one flush with the end.
fn tile_starts(extent: usize, tile: usize, halo: usize, align: usize) -> Result<Vec<usize>> {
    let ramp = ramp_len(halo);
    let align = align.max(1);
    let stride = tile.saturating_sub(2 * halo + ramp) / align * align;
    if stride == 0 {
        return Err(Error::invalid(format!(
            "tile size {tile} is too small for a halo of {halo} pixels: use tiles of at least {}",
            2 * halo + ramp + align
        )));
    }
    let mut starts = vec![0];
    while starts[starts.len() - 1] + tile < extent {
        let next = starts[starts.len() - 1] + stride;
        starts.push(next.min(extent - tile));
    }
    Ok(starts)
}

/// Most tiles along one axis that [`even_tile`] evens out (65 536: a 50-million-pixel edge
/// with 768-pixel tiles).
pub const MAX_EVENED_TILES: usize = 1 << 16;

/// The smallest tile length, from `largest` down in steps of `step` (but not below `smallest`),
/// that covers `extent` pixels with no more tiles than `largest` needs. Tiles of the largest
/// length waste work where the last one overlaps its neighbour by more than the blending needs
/// (2048 pixels take five 512-pixel tiles, of which the last overlaps by 416): shrinking them
/// all to the same count spreads the tiles evenly and runs fewer pixels through the network.
pub fn even_tile(
    extent: usize,
    largest: usize,
    smallest: usize,
    step: usize,
    halo: usize,
    align: usize,
) -> usize {
    if extent <= largest || step == 0 {
        return largest;
    }
    // Evening out only matters for a few tiles; past this many (an extent no image has, asked
    // by the planner about a nonsense size) the tile positions themselves would fill memory.
    if extent / largest.max(1) > MAX_EVENED_TILES {
        return largest;
    }
    let Ok(count) = tile_starts(extent, largest, halo, align).map(|s| s.len()) else {
        return largest;
    };
    let mut best = largest;
    let mut tile = largest;
    while tile >= smallest.saturating_add(step) {
        tile -= step;
        match tile_starts(extent, tile, halo, align) {
            Ok(starts) if starts.len() <= count => best = tile,
            _ => break,
        }
    }
    best
}

/// Index into `0..n` for any (possibly out-of-range) position, mirroring at the edges
/// (`… 2 1 0 | 0 1 2 … n-1 | n-1 n-2 …`), so padding works even when n is 1.
#[inline]
pub fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m >= n { period - 1 - m } else { m }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asked about an extent no image has, the tile is chosen without listing the tiles (their
    /// positions once filled 24 GB for a planner asked about usize::MAX pixels).
    #[test]
    fn absurd_extents_keep_the_largest_tile_without_listing_positions() {
        for extent in [u32::MAX as usize, usize::MAX] {
            assert_eq!(even_tile(extent, 768, 16, 16, 8, 16), 768);
        }
        // Up to the limit, tiles are still evened out: 1000 px in 768-px tiles → two of 512.
        assert!(even_tile(1000, 768, 16, 16, 8, 16) < 768);
    }

    #[test]
    fn every_pixel_is_covered_and_weights_are_partitions_of_unity_inside() {
        for extent in [1, 100, 512, 513, 1000, 1537, 4096, 5000] {
            let t = plan_axis(extent, 512, 32, 32).expect("plan");
            assert!(t.norm.iter().all(|&n| n > 0.0), "extent {extent}");
            assert!(t.starts.iter().all(|&s| s + 512 <= extent.max(512)));
            assert!(*t.starts.last().expect("a tile") + 512 >= extent);
            // Regular spacing: complementary ramps sum to one.
            if extent == 4096 {
                for (x, n) in t.norm.iter().enumerate().take(3584) {
                    assert!((n - 1.0).abs() < 1e-5, "x {x}: {n}");
                }
            }
        }
    }

    #[test]
    fn starts_are_aligned_except_the_last() {
        let t = plan_axis(1000, 512, 32, 32).expect("plan");
        assert_eq!(t.starts, vec![0, 416, 488]);
        assert!(
            plan_axis(1000, 64, 32, 8).is_err(),
            "tile too small for its halo"
        );
    }

    #[test]
    fn even_tiles_keep_the_count_and_shrink() {
        // 2048 px: five 512-px tiles (starts 0, 416, 832, 1248, 1536): the last overlaps by
        // 416 px. Five 496-px tiles cover it as well, and 480-px ones would need six.
        let tile = even_tile(2048, 512, 16, 16, 32, 16);
        assert_eq!(tile, 496);
        let fewer = plan_axis(2048, tile, 32, 16).expect("plan");
        assert_eq!(fewer.starts.len(), 5);
        assert_eq!(
            plan_axis(2048, tile - 16, 32, 16)
                .expect("plan")
                .starts
                .len(),
            6
        );
        for extent in [100, 513, 700, 1000, 1537, 2048, 2160, 4096, 5000] {
            let tile = even_tile(extent, 512, 64, 16, 32, 16);
            let base = plan_axis(extent, 512, 32, 16).expect("plan");
            let even = plan_axis(extent, tile, 32, 16).expect("plan");
            assert!(
                (64..=512).contains(&tile) && tile.is_multiple_of(16),
                "{extent}: {tile}"
            );
            assert_eq!(even.starts.len(), base.starts.len(), "{extent}");
            assert!(even.norm.iter().all(|&n| n > 0.0), "{extent}");
        }
        assert_eq!(
            even_tile(400, 512, 16, 16, 32, 16),
            512,
            "one tile: unchanged"
        );
        assert_eq!(
            even_tile(5000, 512, 512, 0, 32, 16),
            512,
            "fixed size: unchanged"
        );
    }

    #[test]
    fn mirror_padding() {
        assert_eq!(
            (-3..6).map(|i| mirror(i, 3)).collect::<Vec<_>>(),
            [2, 1, 0, 0, 1, 2, 2, 1, 0]
        );
        assert_eq!(mirror(5, 1), 0);
    }
}
