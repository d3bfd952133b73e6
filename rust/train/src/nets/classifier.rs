//! The weak-label classifier: a small CNN that says "artifact" or "clean" for a whole tile. Its
//! last convolution (at 1/8 resolution) is the layer ScoreCAM explains.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Convolutions of the classifier (the last is the CAM layer).
const LAYERS: usize = 4;

/// A CNN mapping `[batch, 1, H, W]` (H, W multiples of 8) to one artifact logit per image:
/// four 3×3 convolutions + ReLU with 2×2 max pooling after the first three, global average
/// pooling, one linear layer.
#[derive(Module, Debug)]
pub struct Classifier {
    /// The convolutions, input side first; the last one is the CAM layer.
    pub convs: Vec<Conv2d>,
    /// Linear layer from the pooled CAM-layer channels to the logit.
    pub head: Linear,
    pool: MaxPool2d,
}

impl super::DrawWeights for Classifier {
    fn draw_weights(&self, device: &Device) {
        // The smallest input every pooling step accepts: a forward pass draws every weight.
        let side = 1 << (LAYERS - 1);
        let _ = self.forward(Tensor::<4>::zeros([1, 1, side, side], device));
    }
}

impl Classifier {
    /// A freshly initialised classifier with `width` channels in its first layer (doubling to
    /// 4 × `width` at the CAM layer).
    pub fn new(width: usize, device: &Device) -> Self {
        let channels = [width, 2 * width, 4 * width, 4 * width];
        let convs = (0..LAYERS)
            .map(|i| {
                let cin = if i == 0 { 1 } else { channels[i - 1] };
                Conv2dConfig::new([cin, channels[i]], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Classifier {
            convs,
            head: LinearConfig::new(channels[LAYERS - 1], 1).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// Channels of the first layer.
    pub fn width(&self) -> usize {
        self.convs[0].weight.dims()[0]
    }

    /// Activations of the CAM layer, `[batch, 4 × width, H/8, W/8]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = relu(conv.forward(x));
            if i + 1 < LAYERS {
                x = self.pool.forward(x);
            }
        }
        x
    }

    /// Logits `[batch, 1]` from CAM-layer activations.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        let [b, c, _, _] = features.dims();
        let pooled = features.mean_dim(3).mean_dim(2).reshape([b, c]);
        self.head.forward(pooled)
    }

    /// Logits `[batch, 1]`: positive means "artifact".
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.classify(self.features(x))
    }
}
