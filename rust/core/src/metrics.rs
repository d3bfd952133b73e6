//! Agreement between a segmentation and a ground truth: object matching at an IoU threshold.

use std::collections::HashMap;

use crate::objects::Labels;

/// Counts and scores of matching predicted objects to true objects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectMatch {
    /// Predicted objects matched to a true object.
    pub true_positives: usize,
    /// Predicted objects without a match.
    pub false_positives: usize,
    /// True objects without a match.
    pub false_negatives: usize,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// How much of an image its ground truth covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage<'a> {
    /// Every object in the image is labelled: a predicted object that matches none is a false
    /// positive wherever it is.
    Complete,
    /// Only some objects are labelled. `known` (one flag per pixel) is true where the labels can
    /// be trusted: the labelled objects and any background marked as such. A predicted object
    /// that matches no labelled object counts as a false positive only when at least half of
    /// its pixels are known; elsewhere it may be a nucleus nobody outlined, and is left out of
    /// the score. Missed labelled objects are false negatives as always.
    Known(&'a [bool]),
}

/// Matches objects of `predicted` to `truth` (same size): a pair matches when its intersection
/// over union exceeds `iou` (≥ 0.5 makes matches unique). With incomplete labels (see
/// [`Coverage`]), unmatched predictions are scored only where the labels are known. The one
/// object metric of brightseg: `evaluate`, training's model selection and the tests use it.
///
/// # Panics
/// When `coverage` holds a mask of another size than the images (a programming error).
pub fn match_objects(
    predicted: &Labels,
    truth: &Labels,
    coverage: Coverage<'_>,
    iou: f64,
) -> ObjectMatch {
    let mut area_p = vec![0u64; predicted.count + 1];
    let mut known_p = vec![0u64; predicted.count + 1];
    let mut area_t = HashMap::<u32, u64>::new();
    let mut overlap = HashMap::<(u32, u32), u64>::new();
    let known = match coverage {
        Coverage::Complete => None,
        Coverage::Known(mask) => {
            assert_eq!(mask.len(), predicted.data.len(), "coverage mask size");
            Some(mask)
        }
    };
    for (i, (&p, &t)) in predicted.data.iter().zip(&truth.data).enumerate() {
        area_p[p as usize] += 1;
        if known.is_none_or(|k| k[i]) {
            known_p[p as usize] += 1;
        }
        if t != 0 {
            *area_t.entry(t).or_default() += 1;
        }
        if p != 0 && t != 0 {
            *overlap.entry((p, t)).or_default() += 1;
        }
    }
    let mut matched = vec![false; predicted.count + 1];
    for (&(p, t), &inter) in &overlap {
        let union = area_p[p as usize] + area_t[&t] - inter;
        if inter as f64 / union as f64 > iou {
            matched[p as usize] = true;
        }
    }
    let tp = matched.iter().filter(|&&m| m).count();
    // Unmatched predictions, each counted where at least half of it lies in known pixels.
    let fp = (1..area_p.len())
        .filter(|&p| area_p[p] > 0 && !matched[p] && 2 * known_p[p] >= area_p[p])
        .count();
    ObjectMatch::from_counts(tp, fp, area_t.len() - tp)
}

impl ObjectMatch {
    /// Scores from counts of matched, extra and missed objects (summed over images, say).
    pub fn from_counts(
        true_positives: usize,
        false_positives: usize,
        false_negatives: usize,
    ) -> Self {
        let ratio = |a: usize, b: usize| {
            if a + b > 0 {
                a as f64 / (a + b) as f64
            } else {
                0.0
            }
        };
        let precision = ratio(true_positives, false_positives);
        let recall = ratio(true_positives, false_negatives);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ObjectMatch {
            true_positives,
            false_positives,
            false_negatives,
            precision,
            recall,
            f1,
        }
    }
}

/// Pixel-level agreement of a binary prediction with a binary truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PixelScores {
    /// Pixels in both.
    pub true_positives: u64,
    /// Predicted, not true.
    pub false_positives: u64,
    /// True, not predicted.
    pub false_negatives: u64,
    /// In neither.
    pub true_negatives: u64,
}

impl PixelScores {
    /// Counts of `predicted` against `truth` (same length).
    pub fn count(predicted: impl Iterator<Item = bool>, truth: impl Iterator<Item = bool>) -> Self {
        let mut s = PixelScores::default();
        for (p, t) in predicted.zip(truth) {
            match (p, t) {
                (true, true) => s.true_positives += 1,
                (true, false) => s.false_positives += 1,
                (false, true) => s.false_negatives += 1,
                (false, false) => s.true_negatives += 1,
            }
        }
        s
    }

    /// Sum of two counts (pooling images).
    pub fn add(&self, other: &PixelScores) -> PixelScores {
        PixelScores {
            true_positives: self.true_positives + other.true_positives,
            false_positives: self.false_positives + other.false_positives,
            false_negatives: self.false_negatives + other.false_negatives,
            true_negatives: self.true_negatives + other.true_negatives,
        }
    }

    /// F1 (Dice) of the foreground: 2 TP / (2 TP + FP + FN); 1 when both are empty.
    pub fn f1(&self) -> f64 {
        let d = 2 * self.true_positives + self.false_positives + self.false_negatives;
        if d == 0 {
            1.0
        } else {
            2.0 * self.true_positives as f64 / d as f64
        }
    }

    /// Mean of sensitivity and specificity (a class missing from the truth counts as 1).
    pub fn balanced_accuracy(&self) -> f64 {
        let ratio = |a: u64, b: u64| {
            if a + b == 0 {
                1.0
            } else {
                a as f64 / (a + b) as f64
            }
        };
        0.5 * (ratio(self.true_positives, self.false_negatives)
            + ratio(self.true_negatives, self.false_positives))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_matches_misses_and_extras() {
        // truth: objects 1 (4 px) and 2 (2 px); prediction: 1 matches, 2 is elsewhere.
        let truth = Labels {
            width: 4,
            height: 2,
            data: vec![1, 1, 0, 2, 1, 1, 0, 2],
            count: 2,
        };
        let pred = Labels {
            width: 4,
            height: 2,
            data: vec![1, 1, 2, 0, 1, 0, 2, 0],
            count: 2,
        };
        let m = match_objects(&pred, &truth, Coverage::Complete, 0.5);
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (1, 1, 1)
        );
        assert_eq!(m.f1, 0.5);
    }

    /// Labels drawn for the left half only: a prediction in the unlabelled right half is no
    /// false positive, one in the labelled background is, and misses still count.
    #[test]
    fn incomplete_labels_score_predictions_only_where_labels_are_known() {
        // 6 × 2: truth object 1 at x 0..2; x 0..3 known (labelled or marked background).
        let truth = Labels {
            width: 6,
            height: 2,
            data: vec![1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0],
            count: 1,
        };
        let known: Vec<bool> = (0..12).map(|i| i % 6 < 3).collect();
        // Prediction 1 matches, 2 lies in the unknown half (an unlabelled nucleus, perhaps).
        let pred = Labels {
            width: 6,
            height: 2,
            data: vec![1, 1, 0, 0, 2, 2, 1, 1, 0, 0, 2, 2],
            count: 2,
        };
        let complete = match_objects(&pred, &truth, Coverage::Complete, 0.5);
        let partial = match_objects(&pred, &truth, Coverage::Known(&known), 0.5);
        assert_eq!(complete.false_positives, 1);
        assert_eq!(
            (
                partial.true_positives,
                partial.false_positives,
                partial.false_negatives
            ),
            (1, 0, 0)
        );
        assert_eq!(partial.f1, 1.0);
        // An object mostly (2 of 3 pixels) in known background is a false positive; the truth
        // object, not predicted, is missed.
        let pred = Labels {
            width: 6,
            height: 2,
            data: vec![0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0],
            count: 1,
        };
        let m = match_objects(&pred, &truth, Coverage::Known(&known), 0.5);
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (0, 1, 1)
        );
        // With every pixel known the score is the complete one.
        let all = vec![true; 12];
        assert_eq!(
            match_objects(&pred, &truth, Coverage::Known(&all), 0.5),
            match_objects(&pred, &truth, Coverage::Complete, 0.5)
        );
    }

    #[test]
    fn pixel_scores_count_and_combine() {
        let p = [true, true, false, false, true];
        let t = [true, false, true, false, true];
        let s = PixelScores::count(p.into_iter(), t.into_iter());
        assert_eq!(
            (
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                s.true_negatives
            ),
            (2, 1, 1, 1)
        );
        assert!((s.f1() - 4.0 / 6.0).abs() < 1e-12);
        assert!((s.balanced_accuracy() - 0.5 * (2.0 / 3.0 + 0.5)).abs() < 1e-12);
        assert_eq!(s.add(&s).true_positives, 4);
    }
}
