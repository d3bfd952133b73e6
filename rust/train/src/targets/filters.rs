//! Classical image filters for making targets: Gaussian smoothing, background subtraction by
//! a white top-hat (grey opening with a square window, computed with separable running minima
//! and maxima, so the cost per pixel does not grow with the window), and a median filter (the
//! local background that artifact pseudo-masks are refined against).

use std::collections::VecDeque;

use brightseg::refine::reflect;

use crate::data::plane::FloatPlane;

/// Applies `f` to every row, then to every column, of `plane` (a separable filter).
fn separable(plane: &FloatPlane, mut f: impl FnMut(&[f32], &mut Vec<f32>)) -> FloatPlane {
    let (w, h) = (plane.width, plane.height);
    let mut tmp = vec![0f32; w * h];
    let mut out_line = Vec::with_capacity(w.max(h));
    for y in 0..h {
        f(&plane.data[y * w..(y + 1) * w], &mut out_line);
        tmp[y * w..(y + 1) * w].copy_from_slice(&out_line);
    }
    let mut out = vec![0f32; w * h];
    let mut column = Vec::with_capacity(h);
    for x in 0..w {
        column.clear();
        column.extend((0..h).map(|y| tmp[y * w + x]));
        f(&column, &mut out_line);
        for (y, &v) in out_line.iter().enumerate() {
            out[y * w + x] = v;
        }
    }
    FloatPlane::new(w, h, out)
}

/// Gaussian smoothing with standard deviation `sigma` pixels (kernel cut at 4 σ, borders
/// mirrored as `scipy.ndimage.gaussian_filter`'s default "reflect" does). `sigma <= 0` copies.
pub fn gaussian(plane: &FloatPlane, sigma: f64) -> FloatPlane {
    if sigma <= 0.0 || plane.data.is_empty() {
        return plane.clone();
    }
    let radius = (4.0 * sigma + 0.5) as isize;
    let mut kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    separable(plane, |line, out| {
        let n = line.len() as isize;
        out.clear();
        out.extend((0..n).map(|i| {
            let mut acc = 0f64;
            for (k, &weight) in kernel.iter().enumerate() {
                let j = reflect(i + k as isize - radius, n);
                acc += weight * f64::from(line[j]);
            }
            acc as f32
        }));
    })
}

/// Running extreme (minimum when `min`, else maximum) over windows `[i - r, i + r]` clipped to
/// the line, with a monotonic queue: O(1) per value whatever `r`.
fn running_extreme(line: &[f32], r: usize, min: bool, out: &mut Vec<f32>) {
    let n = line.len();
    out.clear();
    let mut queue: VecDeque<usize> = VecDeque::new();
    let better = |a: f32, b: f32| if min { a <= b } else { a >= b };
    let mut next = 0;
    for i in 0..n {
        let hi = (i + r).min(n - 1);
        while next <= hi {
            while queue.back().is_some_and(|&j| better(line[next], line[j])) {
                queue.pop_back();
            }
            queue.push_back(next);
            next += 1;
        }
        while queue.front().is_some_and(|&j| j + r < i) {
            queue.pop_front();
        }
        out.push(queue.front().map_or(line[i], |&j| line[j]));
    }
}

/// Grey erosion (minimum filter) over a `(2 r + 1)²` square window.
pub fn erode(plane: &FloatPlane, r: usize) -> FloatPlane {
    separable(plane, |line, out| running_extreme(line, r, true, out))
}

/// Grey dilation (maximum filter) over a `(2 r + 1)²` square window.
pub fn dilate(plane: &FloatPlane, r: usize) -> FloatPlane {
    separable(plane, |line, out| running_extreme(line, r, false, out))
}

/// White top-hat: the plane minus its grey opening with a `(2 r + 1)²` square, which removes
/// background that varies more slowly than objects narrower than the window. `r == 0` copies.
pub fn top_hat(plane: &FloatPlane, r: usize) -> FloatPlane {
    if r == 0 {
        return plane.clone();
    }
    let background = dilate(&erode(plane, r), r);
    let data = plane
        .data
        .iter()
        .zip(&background.data)
        .map(|(v, b)| v - b)
        .collect();
    FloatPlane::new(plane.width, plane.height, data)
}

pub use brightseg::refine::MEDIAN_LEVELS;

/// Median over a `(2 r + 1)²` square window with mirrored borders: see
/// [`brightseg::refine::median`], which inference uses too.
pub fn median(plane: &FloatPlane, r: usize) -> FloatPlane {
    FloatPlane::new(
        plane.width,
        plane.height,
        brightseg::refine::median(&plane.data, plane.width, plane.height, r),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_extreme(p: &FloatPlane, r: usize, min: bool) -> Vec<f32> {
        let (w, h) = (p.width as isize, p.height as isize);
        let r = r as isize;
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let mut best = if min {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                };
                for yy in (y - r).max(0)..=(y + r).min(h - 1) {
                    for xx in (x - r).max(0)..=(x + r).min(w - 1) {
                        let v = p.data[(yy * w + xx) as usize];
                        best = if min { best.min(v) } else { best.max(v) };
                    }
                }
                out.push(best);
            }
        }
        out
    }

    fn pseudo_random(w: usize, h: usize, seed: u32) -> FloatPlane {
        let mut s = seed;
        let data = (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32
            })
            .collect();
        FloatPlane::new(w, h, data)
    }

    #[test]
    fn running_minimum_and_maximum_equal_the_naive_window() {
        for (w, h, r) in [(7, 5, 1), (13, 9, 3), (4, 11, 6), (1, 1, 2)] {
            let p = pseudo_random(w, h, (w * h + r) as u32);
            assert_eq!(
                erode(&p, r).data,
                naive_extreme(&p, r, true),
                "{w}x{h} r{r}"
            );
            assert_eq!(
                dilate(&p, r).data,
                naive_extreme(&p, r, false),
                "{w}x{h} r{r}"
            );
        }
    }

    #[test]
    fn top_hat_removes_a_slow_ramp_and_keeps_a_small_spot() {
        let (w, h) = (40, 30);
        let mut data: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 * 0.5).collect();
        for y in 14..17 {
            for x in 19..22 {
                data[y * w + x] += 10.0;
            }
        }
        let t = top_hat(&FloatPlane::new(w, h, data), 5);
        assert!(
            (t.data[15 * w + 20] - 10.0).abs() < 3.0,
            "{}",
            t.data[15 * w + 20]
        );
        let far = t.data[5 * w + 5];
        assert!(far.abs() < 2.6, "ramp left behind: {far}");
    }

    #[test]
    fn gaussian_keeps_the_mean_and_spreads_a_point_as_the_formula_says() {
        let (w, h) = (31, 31);
        let mut data = vec![0f32; w * h];
        data[15 * w + 15] = 1.0;
        let g = gaussian(&FloatPlane::new(w, h, data), 2.0);
        let total: f32 = g.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-4);
        let expected_centre = 1.0 / (2.0 * std::f64::consts::PI * 4.0);
        assert!((f64::from(g.data[15 * w + 15]) - expected_centre).abs() < 1e-3);
        assert!(
            (g.data[15 * w + 17] - g.data[17 * w + 15]).abs() < 1e-7,
            "isotropic"
        );
    }
}
