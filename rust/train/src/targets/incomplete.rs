//! Learning from labels that leave nuclei out (a few outlines drawn in Fiji, a half-annotated
//! set): the loss must not teach the network that every unlabelled nucleus is background.
//!
//! Labelled objects are positives with full weight. A band just outside each one can be left
//! out of the loss (weight 0) where outlines are loose; by default there is none, because in
//! dense images the background between touching nuclei is a pixel or two wide, and a band
//! there teaches the network to merge them (ndev with all nuclei labelled: validation object
//! F1 0.09 with a 2-pixel band, 0.15 without, 0.37 for the naive loss). Every other pixel is
//! unlabelled: background most of the time, but sometimes a nucleus nobody outlined. It
//! counts as background with a small weight (positive-unlabelled weighting): where the
//! network sees a nucleus, the labelled ones (weight 1) outweigh the unlabelled ones (weight
//! `unlabelled_weight`), so nuclei keep a high probability even when only a few are labelled,
//! while plain background, never opposed, is still learnt as background. Validation scores
//! predictions only where labels are known (the labelled objects), see
//! [`brightseg::metrics::Coverage`].

use brightseg::objects::{distance_transform, Labels};
use brightseg::{Error, Result};

/// How labels that leave some nuclei out are learnt from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncompleteLabels {
    /// Loss weight of unlabelled pixels (as background), in (0, 1]; 1 is the naive loss.
    pub unlabelled_weight: f32,
    /// Pixels this close (pixels) outside a labelled object are left out of the loss.
    pub band_px: f32,
}

impl Default for IncompleteLabels {
    fn default() -> Self {
        IncompleteLabels {
            unlabelled_weight: 0.1,
            band_px: 0.0,
        }
    }
}

impl IncompleteLabels {
    /// Refuses settings outside their ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.unlabelled_weight > 0.0 && self.unlabelled_weight <= 1.0) {
            return Err(Error::invalid(format!(
                "unlabelled weight {} must be in (0, 1]: 1 treats unlabelled pixels as sure \
                 background (the naive loss), smaller values trust them less",
                self.unlabelled_weight
            )));
        }
        if !(self.band_px >= 0.0 && self.band_px.is_finite()) {
            return Err(Error::invalid(format!(
                "band {} px around labelled objects must be 0 or more",
                self.band_px
            )));
        }
        Ok(())
    }

    /// Loss weights for `labels` and where the labels can be trusted (the labelled objects,
    /// and `background` where given: pixels someone marked as sure background, weight 1).
    pub fn weights(&self, labels: &Labels, background: Option<&[bool]>) -> (Vec<f32>, Vec<bool>) {
        let (w, h) = (labels.width, labels.height);
        let outside: Vec<bool> = labels.data.iter().map(|&l| l == 0).collect();
        // Distance of every pixel to the nearest labelled pixel (0 on objects), needed only
        // for a band.
        let distance = (self.band_px > 0.0).then(|| distance_transform(&outside, w, h));
        let in_band = |i: usize| distance.as_ref().is_some_and(|d| d[i] <= self.band_px);
        let marked = |i: usize| background.is_some_and(|b| b[i]);
        let weights = (0..w * h)
            .map(|i| {
                if !outside[i] {
                    1.0
                } else if in_band(i) {
                    0.0
                } else if marked(i) {
                    1.0
                } else {
                    self.unlabelled_weight
                }
            })
            .collect();
        let known = (0..w * h).map(|i| !outside[i] || marked(i)).collect();
        (weights, known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_count_their_edges_do_not_and_the_rest_counts_a_little() {
        // One labelled 3 × 3 object in a 12 × 5 plane; sure background marked at the right.
        let (w, h) = (12, 5);
        let mut data = vec![0u32; w * h];
        for y in 1..4 {
            for x in 1..4 {
                data[y * w + x] = 1;
            }
        }
        let labels = Labels {
            width: w,
            height: h,
            data,
            count: 1,
        };
        let params = IncompleteLabels {
            band_px: 2.0,
            ..IncompleteLabels::default()
        };
        let (weights, known) = params.weights(&labels, None);
        assert_eq!(weights[2 * w + 2], 1.0, "object");
        assert_eq!(weights[2 * w + 5], 0.0, "2 px outside: the band");
        assert_eq!(weights[2 * w + 6], 0.1, "3 px outside: unlabelled");
        assert!(known[2 * w + 2] && !known[2 * w + 9]);
        let background: Vec<bool> = (0..w * h).map(|i| i % w >= 9).collect();
        let (weights, known) = params.weights(&labels, Some(&background));
        assert_eq!(weights[2 * w + 9], 1.0, "marked background");
        assert_eq!(weights[2 * w + 6], 0.1);
        assert!(known[2 * w + 9] && !known[2 * w + 6]);
        // No band (the default): only the object itself is special.
        let tight = IncompleteLabels::default();
        assert_eq!(tight.weights(&labels, None).0[2 * w + 4], 0.1);
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        for bad in [0.0, -0.5, 1.5, f32::NAN] {
            let p = IncompleteLabels {
                unlabelled_weight: bad,
                ..IncompleteLabels::default()
            };
            assert!(p.validate().is_err(), "{bad}");
        }
        assert!(IncompleteLabels::default().validate().is_ok());
    }
}
