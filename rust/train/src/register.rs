//! Registration check of two channels by phase correlation: the translation that best aligns
//! them, and how clearly the correlation peak stands out.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use crate::filters::FloatPlane;

/// The translation found between two planes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Pixels `moving` must move right to lie on `reference` (negative: left).
    pub dx: isize,
    /// Pixels `moving` must move down to lie on `reference` (negative: up).
    pub dy: isize,
    /// Height of the correlation peak over the mean of the correlation surface, in standard
    /// deviations: above ~10 the shift is clear, below ~5 it is a guess (different-looking
    /// channels, or too little structure).
    pub peak_strength: f64,
}

impl Shift {
    /// True when the peak is clear enough to act on.
    pub fn is_reliable(&self) -> bool {
        self.peak_strength >= 8.0
    }
}

/// Phase correlation of `reference` and `moving` (same size), after subtracting each plane's
/// mean, multiplying by a Hann window, and taking gradient magnitudes so that a bright stain
/// and a transmitted-light image are compared by their edges rather than their intensities.
pub fn phase_correlation(reference: &FloatPlane, moving: &FloatPlane) -> Shift {
    let (w, h) = (reference.width, reference.height);
    debug_assert_eq!((w, h), (moving.width, moving.height));
    let a = spectrum(&prepare(reference), w, h);
    let b = spectrum(&prepare(moving), w, h);
    let mut cross: Vec<Complex<f64>> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| {
            let c = x * y.conj();
            let m = c.norm();
            if m > 1e-12 {
                c / m
            } else {
                Complex::new(0.0, 0.0)
            }
        })
        .collect();
    fft2(&mut cross, w, h, true);
    let real: Vec<f64> = cross.iter().map(|c| c.re).collect();
    let (peak, peak_value) = real
        .iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        });
    let n = real.len() as f64;
    let mean = real.iter().sum::<f64>() / n;
    let sd = (real.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let (px, py) = ((peak % w) as isize, (peak / w) as isize);
    // The peak sits at the displacement of `reference` relative to `moving`, wrapped.
    let wrap = |v: isize, size: usize| {
        if v > size as isize / 2 {
            v - size as isize
        } else {
            v
        }
    };
    Shift {
        dx: wrap(px, w),
        dy: wrap(py, h),
        peak_strength: if sd > 0.0 {
            (peak_value - mean) / sd
        } else {
            0.0
        },
    }
}

/// Gradient magnitude (central differences) of the plane, mean-subtracted and Hann-windowed.
fn prepare(p: &FloatPlane) -> Vec<f64> {
    let (w, h) = (p.width, p.height);
    let at = |x: usize, y: usize| f64::from(p.data[y * w + x]);
    let mut g: Vec<f64> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let gx = at((x + 1).min(w - 1), y) - at(x.saturating_sub(1), y);
            let gy = at(x, (y + 1).min(h - 1)) - at(x, y.saturating_sub(1));
            (gx * gx + gy * gy).sqrt()
        })
        .collect();
    let mean = g.iter().sum::<f64>() / g.len().max(1) as f64;
    let hann = |i: usize, n: usize| {
        if n <= 1 {
            1.0
        } else {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()
        }
    };
    for (i, v) in g.iter_mut().enumerate() {
        *v = (*v - mean) * hann(i % w, w) * hann(i / w, h);
    }
    g
}

fn spectrum(values: &[f64], w: usize, h: usize) -> Vec<Complex<f64>> {
    let mut data: Vec<Complex<f64>> = values.iter().map(|&v| Complex::new(v, 0.0)).collect();
    fft2(&mut data, w, h, false);
    data
}

/// In-place 2-D FFT of a row-major `w × h` array (inverse when `inverse`, unnormalised).
fn fft2(data: &mut [Complex<f64>], w: usize, h: usize, inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let (row, col) = if inverse {
        (planner.plan_fft_inverse(w), planner.plan_fft_inverse(h))
    } else {
        (planner.plan_fft_forward(w), planner.plan_fft_forward(h))
    };
    for line in data.chunks_exact_mut(w) {
        row.process(line);
    }
    let mut column = vec![Complex::new(0.0, 0.0); h];
    for x in 0..w {
        for y in 0..h {
            column[y] = data[y * w + x];
        }
        col.process(&mut column);
        for y in 0..h {
            data[y * w + x] = column[y];
        }
    }
}

/// `plane` moved by (`dx`, `dy`) pixels, uncovered pixels set to the plane's median.
pub fn translate(plane: &FloatPlane, dx: isize, dy: isize) -> FloatPlane {
    let (w, h) = (plane.width as isize, plane.height as isize);
    let mut sorted = plane.data.clone();
    sorted.sort_by(f32::total_cmp);
    let fill = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w - dx, i / w - dy);
            if (0..w).contains(&x) && (0..h).contains(&y) {
                plane.data[(y * w + x) as usize]
            } else {
                fill
            }
        })
        .collect();
    FloatPlane::new(plane.width, plane.height, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(w: usize, h: usize) -> FloatPlane {
        let centres = [(20.0, 15.0), (50.0, 40.0), (33.0, 52.0), (70.0, 20.0), (12.0, 50.0)];
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                centres
                    .iter()
                    .map(|(cx, cy)| (-((x - cx).powi(2) + (y - cy).powi(2)) / 18.0).exp())
                    .sum::<f64>() as f32
            })
            .collect();
        FloatPlane::new(w, h, data)
    }

    #[test]
    fn finds_a_known_translation_and_undoes_it() {
        let reference = blobs(96, 64);
        for (dx, dy) in [(0, 0), (3, -2), (-5, 4)] {
            let moving = translate(&reference, -dx, -dy);
            let s = phase_correlation(&reference, &moving);
            assert_eq!((s.dx, s.dy), (dx, dy), "{s:?}");
            assert!(s.is_reliable(), "{s:?}");
        }
    }

    #[test]
    fn unrelated_noise_gives_a_weak_peak() {
        let a = blobs(96, 64);
        let mut seed = 7u32;
        let noise = FloatPlane::new(
            96,
            64,
            (0..96 * 64)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32
                })
                .collect(),
        );
        let s = phase_correlation(&a, &noise);
        assert!(!s.is_reliable(), "{s:?}");
    }
}
