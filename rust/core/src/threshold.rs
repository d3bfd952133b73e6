//! Automatic global thresholds (Otsu, Li, triangle), computed as scikit-image computes them on
//! float images so its functions serve as oracles in the tests.

use std::fmt;
use std::str::FromStr;

/// An automatic threshold method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThresholdMethod {
    /// Maximum between-class variance of a 256-bin histogram (Otsu 1979).
    #[default]
    Otsu,
    /// Minimum cross entropy, iterated (Li & Tam 1998).
    Li,
    /// Farthest histogram bin from the line between the peak and the far end (Zack 1977); for
    /// few bright objects on a large dark background.
    Triangle,
}

impl ThresholdMethod {
    /// All methods, in the order the CLI lists them.
    pub const ALL: [ThresholdMethod; 3] = [
        ThresholdMethod::Otsu,
        ThresholdMethod::Li,
        ThresholdMethod::Triangle,
    ];

    /// The method's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ThresholdMethod::Otsu => "otsu",
            ThresholdMethod::Li => "li",
            ThresholdMethod::Triangle => "triangle",
        }
    }

    /// The threshold of `values` (non-finite values are ignored); `None` when no finite value
    /// differs from the others.
    pub fn threshold(self, values: &[f32]) -> Option<f32> {
        match self {
            ThresholdMethod::Otsu => otsu(values),
            ThresholdMethod::Li => li(values),
            ThresholdMethod::Triangle => triangle(values),
        }
    }
}

impl fmt::Display for ThresholdMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ThresholdMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThresholdMethod::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown threshold method '{s}': use otsu, li or triangle"))
    }
}

/// Histogram of `values` in `bins` equal bins between their minimum and maximum (the maximum in
/// the last bin), with the bin centres — `numpy.histogram(values, bins, range=(min, max))`.
fn histogram(values: &[f32], bins: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let (lo, hi) = finite_range(values)?;
    let span = hi - lo;
    let mut counts = vec![0f64; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((f64::from(v) - lo) / span) * bins as f64) as usize;
        counts[b.min(bins - 1)] += 1.0;
    }
    let centres = (0..bins)
        .map(|b| lo + span * (b as f64 + 0.5) / bins as f64)
        .collect();
    Some((counts, centres))
}

/// Minimum and maximum of the finite values, when they differ.
fn finite_range(values: &[f32]) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    (lo < hi).then_some((f64::from(lo), f64::from(hi)))
}

const BINS: usize = 256;

fn otsu(values: &[f32]) -> Option<f32> {
    let (hist, centres) = histogram(values, BINS)?;
    let n = hist.len();
    let mut weight1 = vec![0f64; n];
    let mut mean1 = vec![0f64; n];
    let (mut w, mut s) = (0f64, 0f64);
    for i in 0..n {
        w += hist[i];
        s += hist[i] * centres[i];
        weight1[i] = w;
        mean1[i] = if w > 0.0 { s / w } else { f64::NAN };
    }
    let mut weight2 = vec![0f64; n];
    let mut mean2 = vec![0f64; n];
    let (mut w, mut s) = (0f64, 0f64);
    for i in (0..n).rev() {
        w += hist[i];
        s += hist[i] * centres[i];
        weight2[i] = w;
        mean2[i] = if w > 0.0 { s / w } else { f64::NAN };
    }
    let mut best = (f64::NEG_INFINITY, 0usize);
    for i in 0..n - 1 {
        let v = weight1[i] * weight2[i + 1] * (mean1[i] - mean2[i + 1]).powi(2);
        if v > best.0 {
            best = (v, i);
        }
    }
    Some(centres[best.1] as f32)
}

fn li(values: &[f32]) -> Option<f32> {
    let (lo, _) = finite_range(values)?;
    let shifted: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v) - lo)
        .collect();
    // Tolerance: half the smallest gap between distinct values (as scikit-image).
    let mut sorted = shifted.clone();
    sorted.sort_by(f64::total_cmp);
    let gap = sorted
        .windows(2)
        .map(|p| p[1] - p[0])
        .filter(|&d| d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let tolerance = gap / 2.0;
    let mut next = shifted.iter().sum::<f64>() / shifted.len() as f64;
    let mut current = -2.0 * tolerance;
    for _ in 0..10_000 {
        if (next - current).abs() <= tolerance {
            break;
        }
        current = next;
        let (mut fore, mut nf, mut back, mut nb) = (0f64, 0f64, 0f64, 0f64);
        for &v in &shifted {
            if v > current {
                fore += v;
                nf += 1.0;
            } else {
                back += v;
                nb += 1.0;
            }
        }
        let mean_back = back / nb;
        let mean_fore = fore / nf;
        if mean_back == 0.0 || nf == 0.0 {
            break;
        }
        next = (mean_back - mean_fore) / (mean_back.ln() - mean_fore.ln());
    }
    Some((next + lo) as f32)
}

fn triangle(values: &[f32]) -> Option<f32> {
    let (mut hist, centres) = histogram(values, BINS)?;
    let n = hist.len();
    let peak = hist
        .iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |best, (i, &c)| {
            if c > best.1 {
                (i, c)
            } else {
                best
            }
        })
        .0;
    let peak_height = hist[peak];
    let low = hist.iter().position(|&c| c > 0.0)?;
    let high = hist.iter().rposition(|&c| c > 0.0)?;
    if low == high {
        return Some(centres[low] as f32);
    }
    let flip = peak - low < high - peak;
    let (mut low, mut peak) = (low, peak);
    if flip {
        hist.reverse();
        low = n - high - 1;
        peak = n - peak - 1;
    }
    let width = (peak - low) as f64;
    let norm = (peak_height * peak_height + width * width).sqrt();
    let (ph, wd) = (peak_height / norm, width / norm);
    let mut best = (f64::NEG_INFINITY, low);
    for x in 0..peak - low {
        let length = ph * x as f64 - wd * hist[x + low];
        if length > best.0 {
            best = (length, x + low);
        }
    }
    let mut level = best.1;
    if flip {
        level = n - level - 1;
    }
    Some(centres[level] as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated populations: every method puts the threshold between them.
    #[test]
    fn every_method_separates_two_populations() {
        // A background peak at 15 with a long tail to 40, and bright objects near 100.
        let mut v: Vec<f32> = Vec::new();
        for value in 10..40 {
            let count = if value <= 15 {
                (value - 9) * 10
            } else {
                (40 - value) * 3
            };
            v.extend(std::iter::repeat_n(value as f32, count));
        }
        v.extend((0..100).map(|i| 100.0 + (i % 5) as f32));
        for m in ThresholdMethod::ALL {
            let t = m.threshold(&v).expect("threshold");
            assert!((16.0..100.0).contains(&t), "{m}: {t}");
        }
    }

    #[test]
    fn constant_or_empty_values_have_no_threshold() {
        for m in ThresholdMethod::ALL {
            assert_eq!(m.threshold(&[3.0; 10]), None);
            assert_eq!(m.threshold(&[]), None);
            assert_eq!(m.threshold(&[f32::NAN, 1.0, f32::INFINITY]), None);
        }
    }

    #[test]
    fn names_parse_back() {
        for m in ThresholdMethod::ALL {
            assert_eq!(m.name().parse::<ThresholdMethod>(), Ok(m));
        }
        assert!("mean".parse::<ThresholdMethod>().is_err());
    }
}
