//! Pseudo-masks from ScoreCAM maps: threshold the map at a few levels and keep the candidate
//! whose mask shares the most information with the image's intensities (the mask that best
//! "explains" the picture), as the seed method does.
//!
//! A map is computed at the classifier's coarse CAM layer (1/8 of the tile), so its candidates
//! are blobs: a thin fibre or a bubble's ring becomes a filled disc. [`Refinement`] lets the image
//! itself sharpen them before mutual information chooses (see [`brightseg::refine`]): each
//! candidate keeps only the pixels that depart from their local background, grown by one pixel.

use serde::{Deserialize, Serialize};

use brightseg::refine::{departing_pixels, refine_mask};
pub use brightseg::refine::{Refinement, BACKGROUND_RADIUS};

use crate::data::FloatPlane;

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

/// The candidate of `cam` at threshold `t`, refined by `departing` (see
/// [`brightseg::refine::refine_mask`]) unless `refine` is off.
fn candidate(
    cam: &[f32],
    t: f32,
    departing: &[bool],
    refine: bool,
    w: usize,
    h: usize,
) -> Vec<bool> {
    let plain: Vec<bool> = cam.iter().map(|&v| v >= t).collect();
    if refine {
        refine_mask(&plain, departing, w, h)
    } else {
        plain
    }
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

/// Thresholds `cam` at each of [`THRESHOLDS`], refines each candidate by the image as
/// `refinement` says, and keeps the mask with the highest mutual information with the image's
/// intensities (ties: the lower threshold).
pub fn select_pseudo_mask(cam: &[f32], image: &FloatPlane, refinement: Refinement) -> PseudoMask {
    let (w, h) = (image.width, image.height);
    let departing = departing_pixels(&image.data, w, h, refinement);
    let refine = refinement != Refinement::None;
    let candidates: Vec<Vec<bool>> = THRESHOLDS
        .iter()
        .map(|&t| candidate(cam, t, &departing, refine, w, h))
        .collect();
    let scores: Vec<f64> = candidates
        .iter()
        .map(|mask| mutual_information(mask, &image.data, BINS))
        .collect();
    let mut best = 0;
    for (k, &s) in scores.iter().enumerate() {
        if s > scores[best] + 1e-12 {
            best = k;
        }
    }
    PseudoMask {
        threshold: THRESHOLDS[best],
        scores,
        mask: candidates[best].iter().map(|&m| u8::from(m)).collect(),
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
        let chosen = select_pseudo_mask(&cam, &FloatPlane::new(100, 1, image), Refinement::None);
        assert_eq!(chosen.threshold, 0.5, "{:?}", chosen.scores);
        assert_eq!(chosen.mask.iter().filter(|&&m| m == 1).count(), 20);
    }

    fn iou(a: &[u8], b: &[bool]) -> f64 {
        let inter = a.iter().zip(b).filter(|(&x, &y)| x > 0 && y).count();
        let union = a.iter().zip(b).filter(|(&x, &y)| x > 0 || y).count();
        inter as f64 / union.max(1) as f64
    }

    #[test]
    fn refinement_turns_a_blob_over_a_bubble_into_its_ring() {
        // A 96² tile of mild texture with a dark ring (a bubble's outline, radius 18, 3 px
        // wide); the map is a blurred disc over it, as a coarse CAM layer gives.
        let (w, h) = (96usize, 96usize);
        let (cx, cy) = (50.0f32, 44.0f32);
        let mut image = Vec::with_capacity(w * h);
        let mut ring = Vec::with_capacity(w * h);
        let mut cam = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let texture = 0.05 * ((x as f32 * 0.7).sin() + (y as f32 * 0.45).cos());
                let on_ring = (d - 18.0).abs() <= 1.5;
                ring.push(on_ring);
                image.push(if on_ring { 0.2 } else { 0.8 } + texture);
                cam.push((1.0 - d / 30.0).max(0.0));
            }
        }
        let image = FloatPlane::new(w, h, image);
        let plain = select_pseudo_mask(&cam, &image, Refinement::None);
        let dark = select_pseudo_mask(&cam, &image, Refinement::Dark);
        let either = select_pseudo_mask(&cam, &image, Refinement::Departure);
        let (p, d, e) = (
            iou(&plain.mask, &ring),
            iou(&dark.mask, &ring),
            iou(&either.mask, &ring),
        );
        assert!(p < 0.4, "plain candidates are discs: IoU {p}");
        assert!(d > 0.6, "dark refinement finds the ring: IoU {d}");
        assert!(e > 0.6, "departure refinement finds the ring: IoU {e}");
    }

    #[test]
    fn refinement_never_empties_what_the_map_points_at() {
        let image = FloatPlane::new(16, 16, vec![0.5; 256]);
        let cam: Vec<f32> = (0..256).map(|i| if i < 64 { 1.0 } else { 0.0 }).collect();
        let chosen = select_pseudo_mask(&cam, &image, Refinement::Dark);
        assert_eq!(chosen.mask.iter().filter(|&&m| m == 1).count(), 64);
        assert_eq!("Dark".parse::<Refinement>(), Ok(Refinement::Dark));
        assert!("bright".parse::<Refinement>().is_err());
    }
}
