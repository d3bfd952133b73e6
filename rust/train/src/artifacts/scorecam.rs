//! ScoreCAM (Wang et al. 2020) on the weak-label classifier: each channel of the CAM layer,
//! upsampled to the tile and normalised to [0, 1], masks the input; the channel's weight is how
//! much that masked input raises the artifact score over a blank (mean-grey) input; the map is
//! the ReLU of the weighted sum of the channels, normalised to [0, 1].
//!
//! What "masked" means is a choice ([`Masking`]): the original method multiplies by the mask
//! (masked-out pixels become 0); in brightfield an artifact is dark, so that black would itself
//! look like one, and blending towards the tile's mean or towards a blurred copy are offered too.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Tensor, TensorData};

use crate::data::FloatPlane;
use crate::nets::Classifier;
use crate::targets::filters::gaussian;

/// What the input becomes where a channel's mask is 0 (and the blank baseline input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masking {
    /// 0, as in the original ScoreCAM (input × mask).
    Zero,
    /// The tile's mean intensity.
    Mean,
    /// A Gaussian blur of the tile (σ = an eighth of its side): local brightness stays, detail
    /// goes.
    Blur,
}

impl std::str::FromStr for Masking {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zero" => Ok(Masking::Zero),
            "mean" => Ok(Masking::Mean),
            "blur" => Ok(Masking::Blur),
            other => Err(format!("masking '{other}': use zero, mean or blur")),
        }
    }
}

/// The baseline input of `image` under `masking`.
fn baseline(image: &FloatPlane, masking: Masking) -> Vec<f32> {
    let n = image.data.len();
    match masking {
        Masking::Zero => vec![0.0; n],
        Masking::Mean => {
            let mean = image.data.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            vec![mean as f32; n]
        }
        Masking::Blur => {
            let sigma = image.width.min(image.height) as f64 / 8.0;
            gaussian(image, sigma).data
        }
    }
}

/// Bilinear upsampling of a `w × h` map to `width × height` (pixel centres aligned).
pub fn upsample(map: &[f32], w: usize, h: usize, width: usize, height: usize) -> Vec<f32> {
    let sx = w as f64 / width as f64;
    let sy = h as f64 / height as f64;
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        let fy = ((y as f64 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f64);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..width {
            let fx = ((x as f64 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f64);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(w - 1);
            let top = f64::from(map[y0 * w + x0]) * (1.0 - tx) + f64::from(map[y0 * w + x1]) * tx;
            let bottom =
                f64::from(map[y1 * w + x0]) * (1.0 - tx) + f64::from(map[y1 * w + x1]) * tx;
            out.push((top * (1.0 - ty) + bottom * ty) as f32);
        }
    }
    out
}

/// Scales `v` to [0, 1] by its minimum and maximum; a constant map becomes 0.
fn min_max(v: &mut [f32]) {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let span = hi - lo;
    for x in v.iter_mut() {
        *x = if span > 1e-12 { (*x - lo) / span } else { 0.0 };
    }
}

/// The CAM layer's activations of one image, `channels × height × width`.
struct CamLayer {
    activations: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
}

fn cam_layer(model: &Classifier, image: &FloatPlane) -> CamLayer {
    let device = &crate::compute::device_of(model);
    let x = Tensor::<4>::from_data(
        TensorData::new(image.data.clone(), [1, 1, image.height, image.width]),
        device,
    );
    let features = model.features(x);
    let [_, channels, height, width] = features.dims();
    let activations = features
        .into_data()
        .as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    CamLayer {
        activations,
        channels,
        height,
        width,
    }
}

/// ReLU, then scaled so the peak is 1 (an all-zero map stays 0).
fn relu_normalized(mut cam: Vec<f32>) -> Vec<f32> {
    cam.iter_mut().for_each(|v| *v = v.max(0.0));
    let peak = cam.iter().copied().fold(0f32, f32::max);
    if peak > 0.0 {
        cam.iter_mut().for_each(|v| *v /= peak);
    }
    cam
}

fn scores(model: &Classifier, inputs: &[f32], n: usize, w: usize, h: usize) -> Vec<f32> {
    let device = &crate::compute::device_of(model);
    let x = Tensor::<4>::from_data(TensorData::new(inputs.to_vec(), [n, 1, h, w]), device);
    sigmoid(model.forward(x))
        .into_data()
        .as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default()
}

/// The ScoreCAM map of `image` (normalised, sides multiples of 8), values in [0, 1], running
/// `batch` masked inputs per forward pass.
pub fn score_cam(
    model: &Classifier,
    image: &FloatPlane,
    masking: Masking,
    batch: usize,
) -> Vec<f32> {
    let (w, h) = (image.width, image.height);
    let CamLayer {
        activations,
        channels,
        height: fh,
        width: fw,
    } = cam_layer(model, image);
    let blank = baseline(image, masking);
    let baseline_score = scores(model, &blank, 1, w, h)[0];
    let masks: Vec<Vec<f32>> = (0..channels)
        .map(|c| {
            let mut m = upsample(&activations[c * fh * fw..(c + 1) * fh * fw], fw, fh, w, h);
            min_max(&mut m);
            m
        })
        .collect();
    let mut weights = Vec::with_capacity(channels);
    for chunk in masks.chunks(batch.max(1)) {
        let inputs: Vec<f32> = chunk
            .iter()
            .flat_map(|m| {
                m.iter()
                    .zip(&image.data)
                    .zip(&blank)
                    .map(|((&k, &v), &b)| b + k * (v - b))
            })
            .collect();
        weights.extend(
            scores(model, &inputs, chunk.len(), w, h)
                .into_iter()
                .map(|s| s - baseline_score),
        );
    }
    let mut cam = vec![0f32; w * h];
    for (m, &wgt) in masks.iter().zip(&weights) {
        for (c, &v) in cam.iter_mut().zip(m) {
            *c += wgt * v;
        }
    }
    relu_normalized(cam)
}

/// The class activation map of Zhou et al. (2016), which a global-average-pooling classifier
/// gives for free: the CAM layer's channels weighted by the linear head, ReLU, normalised to
/// [0, 1]. A reference for ScoreCAM.
pub fn plain_cam(model: &Classifier, image: &FloatPlane) -> Vec<f32> {
    let (w, h) = (image.width, image.height);
    let CamLayer {
        activations,
        channels,
        height: fh,
        width: fw,
    } = cam_layer(model, image);
    let weights = model
        .head
        .weight
        .val()
        .into_data()
        .as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    let mut small = vec![0f32; fw * fh];
    for c in 0..channels {
        let wgt = weights.get(c).copied().unwrap_or(0.0);
        for (s, &a) in small
            .iter_mut()
            .zip(&activations[c * fh * fw..(c + 1) * fh * fw])
        {
            *s += wgt * a;
        }
    }
    let cam = upsample(&small, fw, fh, w, h);
    relu_normalized(cam)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_keeps_constants_and_interpolates_between_centres() {
        assert!(upsample(&[2.0; 4], 2, 2, 8, 8)
            .iter()
            .all(|&v| (v - 2.0).abs() < 1e-6));
        let ramp = upsample(&[0.0, 1.0], 2, 1, 8, 1);
        // Centres of the two source pixels sit at output x = 1.5 and 5.5.
        assert!(ramp[0] == 0.0 && ramp[1] == 0.0 && ramp[7] == 1.0);
        assert!((ramp[3] - 0.375).abs() < 1e-6, "{ramp:?}");
        for pair in ramp.windows(2) {
            assert!(pair[1] >= pair[0]);
        }
    }

    #[test]
    fn min_max_spans_zero_to_one_and_flattens_constants() {
        let mut v = vec![2.0, 4.0, 3.0];
        min_max(&mut v);
        assert_eq!(v, [0.0, 1.0, 0.5]);
        let mut c = vec![5.0; 3];
        min_max(&mut c);
        assert_eq!(c, [0.0; 3]);
    }
}
