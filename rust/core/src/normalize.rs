//! Input normalisation as a model card asks for it, with statistics taken over the whole plane
//! (the "sample"), so that tiled inference sees exactly what whole-image inference would.

use crate::image::{PixelData, Plane};

/// A normalisation or value mapping applied to the input before the network.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocessing {
    /// `(x - mean) / (std + eps)` with mean and std of the whole plane (per sample), or fixed.
    ZeroMeanUnitVariance {
        /// Fixed mean and standard deviation; `None` = computed per image.
        fixed: Option<(f64, f64)>,
        /// Added to the standard deviation.
        eps: f64,
    },
    /// `(x - p_lo) / (p_hi - p_lo + eps)` with percentiles of the whole plane.
    ScaleRange {
        /// Lower percentile, 0–100.
        min_percentile: f64,
        /// Upper percentile, 0–100.
        max_percentile: f64,
        /// Added to the denominator.
        eps: f64,
    },
    /// `x * gain + offset`.
    ScaleLinear {
        /// Multiplier.
        gain: f64,
        /// Added after multiplying.
        offset: f64,
    },
    /// Clamp to `[min, max]`.
    Clip {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Logistic function.
    Sigmoid,
}

/// A mapping applied to the network output to turn it into a probability.
#[derive(Debug, Clone, PartialEq)]
pub enum Postprocessing {
    /// Logistic function (the graph outputs logits).
    Sigmoid,
    /// `x * gain + offset`.
    ScaleLinear {
        /// Multiplier.
        gain: f64,
        /// Added after multiplying.
        offset: f64,
    },
    /// Clamp to `[min, max]`.
    Clip {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

/// One resolved value mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Affine { scale: f32, offset: f32 },
    Clip { min: f32, max: f32 },
    Sigmoid,
}

/// Pre-processing resolved for one plane: statistics computed, ready to map pixel values.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    steps: Vec<Step>,
}

impl Normalizer {
    /// Resolves `steps` for `plane`, computing per-image statistics once.
    pub fn for_plane(plane: &Plane, steps: &[Preprocessing]) -> Self {
        let resolved = steps
            .iter()
            .map(|s| match *s {
                Preprocessing::ZeroMeanUnitVariance { fixed, eps } => {
                    let (mean, std) = fixed.unwrap_or_else(|| mean_std(plane));
                    let scale = 1.0 / (std + eps);
                    Step::Affine {
                        scale: scale as f32,
                        offset: (-mean * scale) as f32,
                    }
                }
                Preprocessing::ScaleRange {
                    min_percentile,
                    max_percentile,
                    eps,
                } => {
                    let [lo, hi] = percentiles(plane, [min_percentile, max_percentile]);
                    let scale = 1.0 / (hi - lo + eps);
                    Step::Affine {
                        scale: scale as f32,
                        offset: (-lo * scale) as f32,
                    }
                }
                Preprocessing::ScaleLinear { gain, offset } => Step::Affine {
                    scale: gain as f32,
                    offset: offset as f32,
                },
                Preprocessing::Clip { min, max } => Step::Clip {
                    min: min as f32,
                    max: max as f32,
                },
                Preprocessing::Sigmoid => Step::Sigmoid,
            })
            .collect();
        Normalizer { steps: resolved }
    }

    /// The mapping a model card's post-processing describes (no statistics needed).
    pub fn for_postprocessing(steps: &[Postprocessing]) -> Self {
        let resolved = steps
            .iter()
            .map(|s| match *s {
                Postprocessing::Sigmoid => Step::Sigmoid,
                Postprocessing::ScaleLinear { gain, offset } => Step::Affine {
                    scale: gain as f32,
                    offset: offset as f32,
                },
                Postprocessing::Clip { min, max } => Step::Clip {
                    min: min as f32,
                    max: max as f32,
                },
            })
            .collect();
        Normalizer { steps: resolved }
    }

    /// Maps every value of `values` in place, exactly as [`Normalizer::apply`] maps each one
    /// (step by step over the whole slice, which the compiler can vectorise).
    pub fn apply_all(&self, values: &mut [f32]) {
        for s in &self.steps {
            match *s {
                Step::Affine { scale, offset } => {
                    values.iter_mut().for_each(|v| *v = *v * scale + offset)
                }
                Step::Clip { min, max } => values.iter_mut().for_each(|v| *v = v.clamp(min, max)),
                Step::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
            }
        }
    }

    /// Maps one raw pixel value.
    #[inline]
    pub fn apply(&self, mut v: f32) -> f32 {
        for s in &self.steps {
            v = match *s {
                Step::Affine { scale, offset } => v * scale + offset,
                Step::Clip { min, max } => v.clamp(min, max),
                Step::Sigmoid => sigmoid(v),
            };
        }
        v
    }
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Mean and population standard deviation (numpy's `std`, ddof 0) of all pixels.
pub fn mean_std(plane: &Plane) -> (f64, f64) {
    let n = plane.data().len() as f64;
    let sum: f64 = (0..plane.data().len())
        .map(|i| f64::from(plane.value(i)))
        .sum();
    let mean = sum / n;
    let var: f64 = (0..plane.data().len())
        .map(|i| {
            let d = f64::from(plane.value(i)) - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Percentiles (0–100) with numpy's default linear interpolation between closest ranks.
/// 8- and 16-bit planes use a histogram (exact, no copy); float planes a partial sort of a copy.
pub fn percentiles<const N: usize>(plane: &Plane, ps: [f64; N]) -> [f64; N] {
    let n = plane.data().len();
    let ranks = ps.map(|p| (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64);
    match plane.data() {
        PixelData::U8(v) => from_histogram(v.iter().map(|&x| usize::from(x)), 256, ranks),
        PixelData::U16(v) => from_histogram(v.iter().map(|&x| usize::from(x)), 65536, ranks),
        PixelData::F32(v) => {
            let mut copy = v.clone();
            ranks.map(|r| {
                let lo = r.floor() as usize;
                let frac = r - lo as f64;
                let (_, a, rest) = copy.select_nth_unstable_by(lo, f32::total_cmp);
                let a = f64::from(*a);
                if frac == 0.0 || rest.is_empty() {
                    return a;
                }
                let b = rest.iter().copied().fold(f32::INFINITY, f32::min);
                a + frac * (f64::from(b) - a)
            })
        }
    }
}

fn from_histogram<const N: usize>(
    values: impl Iterator<Item = usize>,
    bins: usize,
    ranks: [f64; N],
) -> [f64; N] {
    let mut hist = vec![0u64; bins];
    for v in values {
        hist[v] += 1;
    }
    // Value at 0-based rank k in sorted order.
    let value_at = |k: u64| {
        let mut seen = 0u64;
        for (value, &count) in hist.iter().enumerate() {
            seen += count;
            if seen > k {
                return value as f64;
            }
        }
        (bins - 1) as f64
    };
    ranks.map(|r| {
        let lo = r.floor();
        let a = value_at(lo as u64);
        let b = value_at(r.ceil() as u64);
        a + (r - lo) * (b - a)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_percentile(mut v: Vec<f64>, p: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        let r = p / 100.0 * (v.len() - 1) as f64;
        let lo = r.floor() as usize;
        let hi = r.ceil() as usize;
        v[lo] + (r - lo as f64) * (v[hi] - v[lo])
    }

    #[test]
    fn percentiles_match_naive_sort_for_all_pixel_types() {
        // A deterministic pseudo-random sequence.
        let mut x = 12345u32;
        let vals: Vec<u16> = (0..1001)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 4000) as u16
            })
            .collect();
        let as_f64: Vec<f64> = vals.iter().map(|&v| f64::from(v)).collect();
        let planes = [
            Plane::new(1001, 1, PixelData::U16(vals.clone())).expect("plane"),
            Plane::new(
                1001,
                1,
                PixelData::F32(vals.iter().map(|&v| f32::from(v)).collect()),
            )
            .expect("plane"),
        ];
        for plane in &planes {
            for p in [0.0, 1.0, 33.3, 50.0, 99.8, 100.0] {
                let [got] = percentiles(plane, [p]);
                let want = naive_percentile(as_f64.clone(), p);
                assert!((got - want).abs() < 1e-9, "{p}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn zero_mean_unit_variance_normalises() {
        let plane = Plane::new(4, 1, PixelData::U8(vec![1, 2, 3, 4])).expect("plane");
        let n = Normalizer::for_plane(
            &plane,
            &[Preprocessing::ZeroMeanUnitVariance {
                fixed: None,
                eps: 0.0,
            }],
        );
        let out: Vec<f32> = (0..4).map(|i| n.apply(plane.value(i))).collect();
        let mean: f32 = out.iter().sum::<f32>() / 4.0;
        let var: f32 = out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
    }
}
