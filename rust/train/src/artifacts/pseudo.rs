//! Pseudo-masks from ScoreCAM maps: threshold the map at a few levels and keep the candidate
//! whose mask shares the most information with the image's intensities (the mask that best
//! "explains" the picture), as the seed method does.

use serde::{Deserialize, Serialize};

/// The thresholds tried, in order.
pub const THRESHOLDS: [f32; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Intensity bins for the mutual information.
pub const BINS: usize = 32;

/// Mutual information (nats) between a binary mask and the image intensities quantised into
/// `bins` equal bins between the image's minimum and maximum. 0 for an empty or full mask.
pub fn mutual_information(mask: &[bool], image: &[f32], bins: usize) -> f64 {
    let n = mask.len().min(image.len());
    if n == 0 || bins == 0 {
        return 0.0;
    }
    let (lo, hi) = image[..n]
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = f64::from(hi - lo);
    let mut joint = vec![[0usize; 2]; bins];
    for i in 0..n {
        let b = if span > 0.0 {
            ((f64::from(image[i] - lo) / span * bins as f64) as usize).min(bins - 1)
        } else {
            0
        };
        joint[b][usize::from(mask[i])] += 1;
    }
    let total = n as f64;
    let ones = joint.iter().map(|j| j[1]).sum::<usize>() as f64 / total;
    let p_mask = [1.0 - ones, ones];
    let mut mi = 0.0;
    for j in &joint {
        let p_bin = (j[0] + j[1]) as f64 / total;
        for m in 0..2 {
            let p = j[m] as f64 / total;
            if p > 0.0 {
                mi += p * (p / (p_bin * p_mask[m])).ln();
            }
        }
    }
    mi.max(0.0)
}

/// The chosen pseudo-mask of one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PseudoMask {
    /// The winning threshold.
    pub threshold: f32,
    /// Mutual information of every candidate, in [`THRESHOLDS`] order.
    pub scores: Vec<f64>,
    /// The mask (1 = artifact).
    #[serde(skip)]
    pub mask: Vec<u8>,
}

/// Thresholds `cam` at each of [`THRESHOLDS`] and keeps the mask with the highest mutual
/// information with `image` (ties: the lower threshold).
pub fn select_pseudo_mask(cam: &[f32], image: &[f32]) -> PseudoMask {
    let scores: Vec<f64> = THRESHOLDS
        .iter()
        .map(|&t| {
            let mask: Vec<bool> = cam.iter().map(|&v| v >= t).collect();
            mutual_information(&mask, image, BINS)
        })
        .collect();
    let mut best = 0;
    for (k, &s) in scores.iter().enumerate() {
        if s > scores[best] + 1e-12 {
            best = k;
        }
    }
    let threshold = THRESHOLDS[best];
    PseudoMask {
        threshold,
        scores,
        mask: cam.iter().map(|&v| u8::from(v >= threshold)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_that_is_the_dark_region_shares_one_bit_with_a_two_tone_image() {
        let image: Vec<f32> = (0..100).map(|i| if i < 50 { 0.1 } else { 0.9 }).collect();
        let exact: Vec<bool> = (0..100).map(|i| i < 50).collect();
        let mi = mutual_information(&exact, &image, 32);
        assert!((mi - std::f64::consts::LN_2).abs() < 1e-12, "{mi}");
        let unrelated: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        assert!(mutual_information(&unrelated, &image, 32).abs() < 1e-12);
        assert_eq!(mutual_information(&[false; 100], &image, 32), 0.0);
    }

    #[test]
    fn the_threshold_that_cuts_the_map_where_the_image_changes_wins() {
        // An artifact of 20 pixels (dark) in a bright image; the map is high on it, with a
        // shoulder around it that low thresholds would include.
        let mut image = vec![0.8f32; 100];
        let mut cam = vec![0.0f32; 100];
        for i in 0..100 {
            if (40..60).contains(&i) {
                image[i] = 0.2;
                cam[i] = 0.9;
            } else if (30..70).contains(&i) {
                cam[i] = 0.3;
            }
        }
        let chosen = select_pseudo_mask(&cam, &image);
        assert_eq!(chosen.threshold, 0.5, "{:?}", chosen.scores);
        assert_eq!(chosen.mask.iter().filter(|&&m| m == 1).count(), 20);
    }
}
