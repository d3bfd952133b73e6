//! Sharpening a thresholded map by the image itself. A network (or a class activation map)
//! trained from weak labels outlines artifacts coarsely: a bubble's thin ring comes out as a
//! filled disc. Absorbing artifacts (dust, fibres, debris, bubble rings) are darker than their
//! surroundings in transmitted light, so a mask is cut down to the pixels that depart from their
//! local background (a median over a window wider than the artifacts), as Otsu's threshold on
//! that departure over the whole image decides, then grown by one pixel. The artifact trainer
//! refines its pseudo-masks this way, and Find Artifacts applies the same step to the network's
//! mask when the model description asks for it.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::threshold::ThresholdMethod;

/// Radius (px) of the median window that estimates the local background: the window (45 px)
/// must be wider than the artifacts' strokes and blobs are thick, so that the median sees
/// background.
pub const BACKGROUND_RADIUS: usize = 22;

/// How the image refines a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refinement {
    /// The mask as it is.
    #[default]
    None,
    /// Keep the pixels darker than their local background: absorbing dust, fibres, debris and
    /// bubble rings in transmitted light.
    Dark,
    /// Keep the pixels that differ from their local background either way (artifacts that also
    /// brighten, e.g. halos in phase contrast).
    Departure,
}

impl Refinement {
    /// All choices, in the order the CLI lists them.
    pub const ALL: [Refinement; 3] = [Refinement::None, Refinement::Dark, Refinement::Departure];

    /// The lower-case name the CLI and model descriptions use.
    pub fn name(self) -> &'static str {
        match self {
            Refinement::None => "none",
            Refinement::Dark => "dark",
            Refinement::Departure => "departure",
        }
    }
}

impl fmt::Display for Refinement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Refinement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Refinement::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("refinement '{s}': use none, dark or departure"))
    }
}

/// Pixels of the row-major `w × h` image that depart from their local background as
/// `refinement` asks (`None`: every pixel). The image is first smoothed with a 3 × 3 binomial
/// kernel (σ ≈ 0.7 px) so that single noisy pixels do not count.
pub fn departing_pixels(values: &[f32], w: usize, h: usize, refinement: Refinement) -> Vec<bool> {
    if refinement == Refinement::None || values.len() != w * h {
        return vec![true; values.len()];
    }
    let background = median(values, w, h, BACKGROUND_RADIUS);
    let smooth = binomial3(values, w, h);
    let departure: Vec<f32> = smooth
        .iter()
        .zip(&background)
        .map(|(&v, &b)| match refinement {
            Refinement::Dark => (b - v).max(0.0),
            _ => (v - b).abs(),
        })
        .collect();
    match ThresholdMethod::Otsu.threshold(&departure) {
        Some(t) => departure.iter().map(|&d| d >= t).collect(),
        None => vec![false; departure.len()],
    }
}

/// `mask` cut down to `departing` and grown by one pixel to its four neighbours. A cut that
/// would leave nothing keeps `mask` as it is: refinement never deletes everything a network or
/// map pointed at.
pub fn refine_mask(mask: &[bool], departing: &[bool], w: usize, h: usize) -> Vec<bool> {
    let kept: Vec<bool> = mask.iter().zip(departing).map(|(&m, &d)| m && d).collect();
    if kept.iter().any(|&k| k) {
        grow(&kept, w, h)
    } else {
        mask.to_vec()
    }
}

/// `mask` grown by one pixel to its four neighbours.
pub fn grow(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut out = mask.to_vec();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !mask[i] {
                out[i] = (x > 0 && mask[i - 1])
                    || (x + 1 < w && mask[i + 1])
                    || (y > 0 && mask[i - w])
                    || (y + 1 < h && mask[i + w]);
            }
        }
    }
    out
}

/// 3 × 3 binomial smoothing (1 2 1 / 4 along each axis), borders mirrored.
fn binomial3(values: &[f32], w: usize, h: usize) -> Vec<f32> {
    let at = |x: isize, y: isize| values[reflect(y, h as isize) * w + reflect(x, w as isize)];
    let mut rows = vec![0f32; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            rows[y as usize * w + x as usize] =
                0.25 * at(x - 1, y) + 0.5 * at(x, y) + 0.25 * at(x + 1, y);
        }
    }
    let at = |x: isize, y: isize| rows[reflect(y, h as isize) * w + reflect(x, w as isize)];
    let mut out = vec![0f32; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            out[y as usize * w + x as usize] =
                0.25 * at(x, y - 1) + 0.5 * at(x, y) + 0.25 * at(x, y + 1);
        }
    }
    out
}

/// Index `i` mirrored into `0..n` ("reflect": d c b a | a b c d | d c b a).
pub fn reflect(mut i: isize, n: isize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * n;
    i = i.rem_euclid(period);
    if i >= n {
        i = period - 1 - i;
    }
    i as usize
}

/// Grey levels [`median`] quantises a plane into.
pub const MEDIAN_LEVELS: usize = 1024;

/// Median of a row-major `w × h` plane over a `(2 r + 1)²` square window with mirrored borders ("reflect", as
/// `scipy.ndimage.median_filter`'s default). Values are quantised into [`MEDIAN_LEVELS`] levels
/// between the plane's finite minimum and maximum, so the result is within half a level of the
/// exact median; a sliding histogram (Huang 1979) makes the cost per pixel grow with `r`, not r².
/// Rows run in parallel. `r == 0` copies.
pub fn median(data: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    if r == 0 || w == 0 || h == 0 || data.len() != w * h {
        return data.to_vec();
    }
    let (lo, hi) = data
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    // No finite values, or all equal: nothing to filter.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return data.to_vec();
    }
    let step = f64::from(hi - lo) / (MEDIAN_LEVELS - 1) as f64;
    let levels: Vec<u16> = data
        .iter()
        .map(|&v| {
            let v = if v.is_finite() { v } else { lo };
            (f64::from(v - lo) / step)
                .round()
                .clamp(0.0, (MEDIAN_LEVELS - 1) as f64) as u16
        })
        .collect();
    let ri = r as isize;
    let side = 2 * r + 1;
    // The median is the value of rank `rank` (0-based) among the side² values of a window.
    let rank = side * side / 2;
    let rows: Vec<Vec<f32>> = (0..h)
        .into_par_iter()
        .map(|y| {
            let window_rows: Vec<usize> = (-ri..=ri)
                .map(|dy| reflect(y as isize + dy, h as isize))
                .collect();
            let column_at = |x: isize| reflect(x, w as isize);
            let mut histogram = vec![0u32; MEDIAN_LEVELS];
            for dx in -ri..=ri {
                let x = column_at(dx);
                for &yy in &window_rows {
                    histogram[usize::from(levels[yy * w + x])] += 1;
                }
            }
            // `below`: values in levels under `level`; kept so that below <= rank < below + histogram[level].
            let (mut level, mut below) = (0usize, 0usize);
            let mut out = Vec::with_capacity(w);
            for x in 0..w {
                if x > 0 {
                    let gone = column_at(x as isize - ri - 1);
                    let new = column_at(x as isize + ri);
                    for &yy in &window_rows {
                        let g = usize::from(levels[yy * w + gone]);
                        histogram[g] -= 1;
                        if g < level {
                            below -= 1;
                        }
                        let n = usize::from(levels[yy * w + new]);
                        histogram[n] += 1;
                        if n < level {
                            below += 1;
                        }
                    }
                }
                while below > rank {
                    level -= 1;
                    below -= histogram[level] as usize;
                }
                while below + histogram[level] as usize <= rank {
                    below += histogram[level] as usize;
                    level += 1;
                }
                out.push((f64::from(lo) + level as f64 * step) as f32);
            }
            out
        })
        .collect();
    rows.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values in [0, 1) from a fixed linear congruential sequence.
    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32
            })
            .collect()
    }

    #[test]
    fn median_equals_the_sorted_window_with_mirrored_borders() {
        // Integer values spanning exactly MEDIAN_LEVELS levels quantise without loss.
        for (w, h, r, seed) in [(23, 17, 2, 1), (9, 31, 4, 2), (40, 6, 7, 3), (5, 5, 1, 4)] {
            let mut data = pseudo_random(w * h, seed);
            data.iter_mut().for_each(|v| *v = (*v * 1023.0).round());
            data[0] = 0.0;
            data[1] = 1023.0;
            let got = median(&data, w, h, r);
            let ri = r as isize;
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let mut window: Vec<f32> = (-ri..=ri)
                        .flat_map(|dy| {
                            let data = &data;
                            (-ri..=ri).map(move |dx| {
                                let yy = reflect(y + dy, h as isize);
                                let xx = reflect(x + dx, w as isize);
                                data[yy * w + xx]
                            })
                        })
                        .collect();
                    window.sort_by(f32::total_cmp);
                    let want = window[window.len() / 2];
                    let at = y as usize * w + x as usize;
                    assert!(
                        (got[at] - want).abs() < 1e-3,
                        "{w}×{h} r {r} at ({x}, {y}): {} vs {want}",
                        got[at]
                    );
                }
            }
        }
        assert_eq!(median(&[2.0; 9], 3, 3, 1), vec![2.0; 9]);
    }

    #[test]
    fn reflect_mirrors_like_scipy() {
        let got: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }

    #[test]
    fn binomial_smoothing_keeps_constants_and_spreads_a_point() {
        assert!(binomial3(&[3.0; 20], 5, 4)
            .iter()
            .all(|&v| (v - 3.0).abs() < 1e-6));
        let mut point = vec![0f32; 25];
        point[12] = 16.0;
        let out = binomial3(&point, 5, 5);
        assert_eq!(out[12], 4.0);
        assert_eq!(out[11], 2.0);
        assert_eq!(out[6], 1.0);
        assert!((out.iter().sum::<f32>() - 16.0).abs() < 1e-5);
    }

    #[test]
    fn a_dark_ring_is_kept_and_the_rest_of_its_disc_dropped() {
        let (w, h) = (96usize, 96usize);
        let mut image = vec![0f32; w * h];
        let mut ring = vec![false; w * h];
        let mut disc = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - 48.0).powi(2) + (y as f32 - 46.0).powi(2)).sqrt();
                let i = y * w + x;
                ring[i] = (d - 16.0).abs() <= 1.5;
                disc[i] = d <= 20.0;
                let texture = 0.05 * ((x as f32 * 0.7).sin() + (y as f32 * 0.45).cos());
                image[i] = if ring[i] { 0.2 } else { 0.8 } + texture;
            }
        }
        let departing = departing_pixels(&image, w, h, Refinement::Dark);
        let refined = refine_mask(&disc, &departing, w, h);
        let inter = refined.iter().zip(&ring).filter(|(&a, &b)| a && b).count();
        let union = refined.iter().zip(&ring).filter(|(&a, &b)| a || b).count();
        assert!(inter as f64 / union as f64 > 0.6, "IoU {inter}/{union}");
        assert!(refined.iter().filter(|&&r| r).count() < disc.iter().filter(|&&d| d).count() / 2);
        // Nothing departs in a flat image: the mask stays whole.
        let flat = departing_pixels(&vec![0.5; w * h], w, h, Refinement::Dark);
        assert_eq!(refine_mask(&disc, &flat, w, h), disc);
        assert_eq!(
            departing_pixels(&image, w, h, Refinement::None),
            vec![true; w * h]
        );
        assert_eq!(
            " Departure".parse::<Refinement>(),
            Ok(Refinement::Departure)
        );
        assert!("bright".parse::<Refinement>().is_err());
    }
}
