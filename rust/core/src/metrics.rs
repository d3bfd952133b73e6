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
    let n_true = area_t.len();
    let precision = if n_pred > 0 {
        tp as f64 / n_pred as f64
    } else {
        0.0
    };
    let recall = if n_true > 0 {
        tp as f64 / n_true as f64
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    ObjectMatch {
        true_positives: tp,
        false_positives: n_pred - tp,
        false_negatives: n_true - tp,
        precision,
        recall,
        f1,
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
}
