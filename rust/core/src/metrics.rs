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

/// Matches objects of `predicted` to `truth` (same size): a pair matches when its intersection
/// over union exceeds `iou` (≥ 0.5 makes matches unique).
pub fn match_objects(predicted: &Labels, truth: &Labels, iou: f64) -> ObjectMatch {
    let mut area_p = vec![0u64; predicted.count + 1];
    let mut area_t = HashMap::<u32, u64>::new();
    let mut overlap = HashMap::<(u32, u32), u64>::new();
    for (&p, &t) in predicted.data.iter().zip(&truth.data) {
        area_p[p as usize] += 1;
        if t != 0 {
            *area_t.entry(t).or_default() += 1;
        }
        if p != 0 && t != 0 {
            *overlap.entry((p, t)).or_default() += 1;
        }
    }
    let tp = overlap
        .iter()
        .filter(|(&(p, t), &inter)| {
            let union = area_p[p as usize] + area_t[&t] - inter;
            inter as f64 / union as f64 > iou
        })
        .count();
    let n_pred = area_p.iter().skip(1).filter(|&&a| a > 0).count();
    ObjectMatch::from_counts(tp, n_pred - tp, area_t.len() - tp)
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
        let m = match_objects(&pred, &truth, 0.5);
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (1, 1, 1)
        );
        assert_eq!(m.f1, 0.5);
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
