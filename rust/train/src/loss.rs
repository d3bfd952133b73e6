//! The losses networks learn from, written once on tensors: training takes their gradient and
//! validation reads their value from the same function, so a change to a loss (a mask of
//! unknown pixels, a positive-unlabelled weighting, another task's loss) is made in one place.

use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;

/// Segmentation loss: binary cross-entropy on logits (numerically stable) weighted per pixel
/// and normalised by the weights' sum, plus soft Dice over the weighted pixels. All three
/// tensors are `[batch, 1, H, W]`; a weight of 0 leaves a pixel out of both terms.
pub fn segmentation(logits: Tensor<4>, target: Tensor<4>, weight: Tensor<4>) -> Tensor<1> {
    let bce = weighted_bce(logits.clone(), target.clone(), weight.clone());
    let p = sigmoid(logits);
    let intersection = (p.clone() * target.clone() * weight.clone()).sum();
    let total = ((p + target) * weight).sum();
    let dice = intersection
        .mul_scalar(2.0)
        .add_scalar(1.0)
        .div(total.add_scalar(1.0))
        .neg()
        .add_scalar(1.0);
    bce + dice
}

/// Stain-prediction loss (the pretext task): binary cross-entropy on logits against targets
/// anywhere in [0, 1] (the smoothed, normalised stain), weighted per pixel and normalised by
/// the weights' sum. Its minimum is where the sigmoid of the logits equals the target.
pub fn stain(logits: Tensor<4>, target: Tensor<4>, weight: Tensor<4>) -> Tensor<1> {
    weighted_bce(logits, target, weight)
}

/// Binary cross-entropy on logits (numerically stable), weighted per pixel and normalised by
/// the weights' sum (at least 1).
fn weighted_bce(logits: Tensor<4>, target: Tensor<4>, weight: Tensor<4>) -> Tensor<1> {
    let bce =
        logits.clone().clamp_min(0.0) - logits.clone() * target + logits.abs().neg().exp().log1p();
    let weight_sum = weight.clone().sum().clamp_min(1.0);
    (bce * weight).sum().div(weight_sum)
}

/// Classification loss: binary cross-entropy on logits (numerically stable), mean over the
/// batch. `logits` and `target` are `[batch, 1]`, targets 0 or 1.
pub fn classification(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (logits.clone().clamp_min(0.0) - logits.clone() * target + logits.abs().neg().exp().log1p())
        .mean()
}

/// The value of a scalar loss, for reports and model selection.
pub fn value(loss: Tensor<1>) -> f64 {
    f64::from(loss.into_scalar::<f32>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn tensor4(values: &[f32]) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, 1, 1, values.len()]),
            &crate::compute::device(),
        )
    }

    /// The segmentation loss against a naive f64 reference, written from its definition.
    #[test]
    fn segmentation_loss_is_weighted_bce_plus_soft_dice() {
        let logits = [-3.0f32, -0.5, 0.0, 0.7, 2.5, 40.0];
        let target = [0.0f32, 1.0, 0.0, 1.0, 1.0, 0.0];
        let weight = [1.0f32, 2.0, 0.0, 1.0, 0.5, 1.0];
        let (mut bce, mut wsum, mut inter, mut total) = (0.0f64, 0.0, 0.0, 0.0);
        for ((&z, &t), &w) in logits.iter().zip(&target).zip(&weight) {
            let (z, t, w) = (f64::from(z), f64::from(t), f64::from(w));
            let p = 1.0 / (1.0 + (-z).exp());
            // -[t ln p + (1 - t) ln(1 - p)], written on logits so z = 40 stays finite.
            bce += w * (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p());
            wsum += w;
            inter += w * p * t;
            total += w * (p + t);
        }
        let expected = bce / wsum + 1.0 - (2.0 * inter + 1.0) / (total + 1.0);
        let got = value(segmentation(
            tensor4(&logits),
            tensor4(&target),
            tensor4(&weight),
        ));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    /// Soft targets: the stain loss is least where the prediction equals the target, and is
    /// the weighted BCE written from its definition.
    #[test]
    fn stain_loss_is_weighted_bce_least_at_the_target() {
        let target = [0.2f32, 0.9, 0.5];
        let weight = [1.0f32, 3.0, 0.0];
        let at = |logits: &[f32]| value(stain(tensor4(logits), tensor4(&target), tensor4(&weight)));
        let exact: Vec<f32> = target.iter().map(|&t| (t / (1.0 - t)).ln()).collect();
        let mut expected = 0.0f64;
        for (&t, &w) in target.iter().zip(&weight) {
            let t = f64::from(t);
            expected -= f64::from(w) * (t * t.ln() + (1.0 - t) * (1.0 - t).ln());
        }
        expected /= 4.0;
        assert!(
            (at(&exact) - expected).abs() < 1e-5,
            "{} vs {expected}",
            at(&exact)
        );
        for shift in [-0.3f32, 0.3] {
            let moved: Vec<f32> = exact.iter().map(|z| z + shift).collect();
            assert!(at(&moved) > at(&exact) + 1e-3, "shift {shift}");
        }
        // The weight-0 pixel does not count, however wrong.
        assert!((at(&[exact[0], exact[1], 30.0]) - at(&exact)).abs() < 1e-6);
    }

    #[test]
    fn pixels_of_weight_zero_do_not_count() {
        let target = tensor4(&[1.0, 0.0]);
        let only_first = tensor4(&[1.0, 0.0]);
        let right = value(segmentation(
            tensor4(&[4.0, 4.0]),
            target.clone(),
            only_first,
        ));
        let wrong = value(segmentation(
            tensor4(&[-4.0, 4.0]),
            target,
            tensor4(&[1.0, 0.0]),
        ));
        assert!(right < 0.05, "{right}");
        assert!(wrong > 2.0, "{wrong}");
    }

    #[test]
    fn classification_loss_is_the_mean_bce() {
        let device = crate::compute::device();
        let logits = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, -1.0], [2, 1]), &device);
        let target = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [2, 1]), &device);
        let expected = 0.5 * ((1.0 + (-2.0f64).exp()).ln() + (1.0 + 1.0f64.exp()).ln());
        let got = value(classification(logits, target));
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }
}
