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
        Self::resolve(steps, || mean_std(plane), |ps| percentiles(plane, ps))
    }

    /// Resolves `steps` for a float plane read band by band, computing exactly the statistics
    /// [`Normalizer::for_plane`] computes on the plane made whole, with memory for one band.
    pub fn for_bands(bands: &dyn RowBands, steps: &[Preprocessing]) -> Self {
        Self::resolve(
            steps,
            || streamed_mean_std(bands),
            |ps| streamed_percentiles(bands, ps),
        )
    }

    fn resolve(
        steps: &[Preprocessing],
        mean_std: impl Fn() -> (f64, f64),
        percentiles: impl Fn([f64; 2]) -> [f64; 2],
    ) -> Self {
        let resolved = steps
            .iter()
            .map(|s| match *s {
                Preprocessing::ZeroMeanUnitVariance { fixed, eps } => {
                    let (mean, std) = fixed.unwrap_or_else(&mean_std);
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
                    let [lo, hi] = percentiles([min_percentile, max_percentile]);
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

/// A float plane that is read band by band (made on demand) rather than held whole.
pub trait RowBands: Sync {
    /// Number of values.
    fn value_count(&self) -> usize;
    /// Calls `visit` with every value in raster order, a band of whole rows at a time.
    fn for_each_band(&self, visit: &mut dyn FnMut(&[f32]));
}

/// [`mean_std`] of a float plane read band by band: the same sums in the same order.
fn streamed_mean_std(bands: &dyn RowBands) -> (f64, f64) {
    let n = bands.value_count() as f64;
    let mut sum = 0.0f64;
    bands.for_each_band(&mut |band| {
        sum = band.iter().fold(sum, |s, &v| s + f64::from(v));
    });
    let mean = sum / n;
    let mut var = 0.0f64;
    bands.for_each_band(&mut |band| {
        var = band.iter().fold(var, |s, &v| {
            let d = f64::from(v) - mean;
            s + d * d
        });
    });
    (mean, (var / n).sqrt())
}

/// A float's bits mapped so that unsigned order is [`f32::total_cmp`]'s order.
fn ordered_key(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

fn from_ordered_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & 0x7fff_ffff
    } else {
        !key
    })
}

/// The values at 0-based ranks `ks` (sorted by [`f32::total_cmp`]) of a plane read band by
/// band, exactly, in two passes of 16-bit histograms: the upper half of each value's ordered
/// bits, then the lower half within the bins that hold the ranks.
fn streamed_ranks(bands: &dyn RowBands, ks: &[u64]) -> Vec<f32> {
    const BINS: usize = 1 << 16;
    let mut upper = vec![0u64; BINS];
    bands.for_each_band(&mut |band| {
        for &v in band {
            upper[(ordered_key(v) >> 16) as usize] += 1;
        }
    });
    // The bin of each rank, and the rank within it.
    let located: Vec<(usize, u64)> = ks
        .iter()
        .map(|&k| bin_of_rank(&upper, k).unwrap_or((BINS - 1, 0)))
        .collect();
    let mut bins: Vec<usize> = located.iter().map(|&(bin, _)| bin).collect();
    bins.sort_unstable();
    bins.dedup();
    let mut lower = vec![vec![0u64; BINS]; bins.len()];
    bands.for_each_band(&mut |band| {
        for &v in band {
            let key = ordered_key(v);
            if let Ok(i) = bins.binary_search(&((key >> 16) as usize)) {
                lower[i][(key & 0xffff) as usize] += 1;
            }
        }
    });
    located
        .iter()
        .map(|&(bin, k)| {
            let Ok(i) = bins.binary_search(&bin) else {
                return f32::NAN;
            };
            bin_of_rank(&lower[i], k).map_or(f32::NAN, |(low, _)| {
                from_ordered_key(((bin as u32) << 16) | low as u32)
            })
        })
        .collect()
}

/// [`percentiles`] of a float plane read band by band: the same two ranks, the same
/// interpolation, without a copy of the plane.
fn streamed_percentiles<const N: usize>(bands: &dyn RowBands, ps: [f64; N]) -> [f64; N] {
    let n = bands.value_count();
    let ranks = ps.map(|p| (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64);
    // The value at each rank's floor, and the next one where the rank lies between them.
    let mut ks: Vec<u64> = Vec::new();
    for r in ranks {
        let lo = r.floor() as u64;
        ks.push(lo);
        if r > lo as f64 && (lo as usize) + 1 < n {
            ks.push(lo + 1);
        }
    }
    ks.sort_unstable();
    ks.dedup();
    let values = streamed_ranks(bands, &ks);
    let at = |k: u64| f64::from(values[ks.binary_search(&k).unwrap_or(0)]);
    ranks.map(|r| {
        let lo = r.floor() as u64;
        let frac = r - lo as f64;
        let a = at(lo);
        if frac == 0.0 || (lo as usize) + 1 >= n {
            return a;
        }
        a + frac * (at(lo + 1) - a)
    })
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

/// The bin of a histogram that holds the value at 0-based rank `k` (counting from the first
/// bin), and `k`'s rank within that bin; `None` when the histogram holds `k` values or fewer.
fn bin_of_rank(histogram: &[u64], k: u64) -> Option<(usize, u64)> {
    let mut seen = 0u64;
    for (bin, &count) in histogram.iter().enumerate() {
        if seen + count > k {
            return Some((bin, k - seen));
        }
        seen += count;
    }
    None
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
    let value_at = |k: u64| bin_of_rank(&hist, k).map_or((bins - 1) as f64, |(v, _)| v as f64);
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

    /// A float plane handed out `rows` rows at a time.
    struct InBands<'a> {
        values: &'a [f32],
        width: usize,
        rows: usize,
    }

    impl RowBands for InBands<'_> {
        fn value_count(&self) -> usize {
            self.values.len()
        }
        fn for_each_band(&self, visit: &mut dyn FnMut(&[f32])) {
            self.values.chunks(self.width * self.rows).for_each(visit);
        }
    }

    #[test]
    fn statistics_read_band_by_band_equal_the_whole_planes_bit_for_bit() {
        let mut x = 99u32;
        let mut next = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            x >> 8
        };
        // Smooth values, ties (a flat background), negatives, zeros of both signs, one pixel.
        let mut smooth: Vec<f32> = (0..60 * 41).map(|_| next() as f32 / 7919.0).collect();
        smooth[..500].fill(812.25);
        let signed: Vec<f32> = (0..31 * 17)
            .map(|i| match i % 5 {
                0 => -0.0,
                1 => 0.0,
                _ => (next() % 2001) as f32 - 1000.5,
            })
            .collect();
        let cases: [(&[f32], usize); 3] = [(&smooth, 60), (&signed, 31), (&[3.5], 1)];
        let steps = [
            Preprocessing::ScaleRange {
                min_percentile: 1.0,
                max_percentile: 99.8,
                eps: 1e-6,
            },
            Preprocessing::ScaleRange {
                min_percentile: 0.0,
                max_percentile: 100.0,
                eps: 0.0,
            },
            Preprocessing::ZeroMeanUnitVariance {
                fixed: None,
                eps: 1e-6,
            },
        ];
        for (values, width) in cases {
            let plane = Plane::new(width, values.len() / width, PixelData::F32(values.to_vec()))
                .expect("plane");
            let whole = Normalizer::for_plane(&plane, &steps);
            for rows in [1, 3, 1000] {
                let bands = InBands {
                    values,
                    width,
                    rows,
                };
                assert_eq!(Normalizer::for_bands(&bands, &steps), whole, "{rows} rows");
                for p in [0.0, 0.5, 33.3, 50.0, 99.8, 100.0] {
                    let [want] = percentiles(&plane, [p]);
                    let [got] = streamed_percentiles(&bands, [p]);
                    assert_eq!(got.to_bits(), want.to_bits(), "p{p}: {got} vs {want}");
                }
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
