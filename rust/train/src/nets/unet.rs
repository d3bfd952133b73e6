//! The U-Net we train: `depth` levels of two 3×3 convolutions + ReLU, 2×2 max pooling down,
//! 2×2 stride-2 transposed convolutions up, concatenated skips, and a 1×1 head giving one logit
//! per pixel. No batch normalisation, so the exported graph is exactly the trained one. Every
//! op maps to one ONNX node that tract and onnxruntime both run.
//!
//! Weights start as He et al. (2015) prescribe for ReLU networks: normal with variance
//! 2 / fan-in before a ReLU and 1 / fan-in before a linear layer, biases at 0, so a signal keeps
//! its scale through every layer. burn's default (uniform with variance 1 / (3 fan-in), and the
//! biases drawn alike) shrinks it about six-fold per layer: twenty layers down, the image no
//! longer reached the output, a fresh network predicted the same value everywhere, and small
//! runs often never left that plateau.
//!
//! With a stem (`stem` 2), the U-Net runs at half resolution: a 2×2 stride-2 convolution enters
//! it, a 2×2 stride-2 transposed convolution leaves it, and one 3×3 convolution at full
//! resolution over [image, upsampled features] draws the outlines before the head. That costs a
//! quarter of the full-resolution network's arithmetic for the same widths, and doubles what
//! each pixel sees.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

use super::DrawWeights;

impl DrawWeights for UNet {
    fn draw_weights(&self, device: &Device) {
        let m = self.architecture().size_multiple();
        let _ = self.forward(Tensor::<4>::zeros([1, 1, m, m], device));
    }
}

/// Shape of a U-Net: how deep and how wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Resolution levels (pooling steps + 1), 2 to 6.
    pub depth: usize,
    /// Feature channels at the top level; doubled at each level down, 2 to 128.
    pub width: usize,
    /// Downsampling before the U-Net: 1 (none: it runs at full resolution) or 2 (it runs at
    /// half resolution, see the module notes). Absent in reports of older models: 1.
    #[serde(default = "no_stem")]
    pub stem: usize,
}

fn no_stem() -> usize {
    1
}

impl Architecture {
    /// The standard model: 4 levels, 16 channels (16/32/64/128): about 0.47 M parameters.
    pub const STANDARD: Architecture = Architecture {
        depth: 4,
        width: 16,
        stem: 1,
    };
    /// A tiny model in the spirit of PPU-Net: 4 levels, 4 channels: about 20× fewer parameters
    /// than the standard one, several times faster to train and run.
    pub const TINY: Architecture = Architecture {
        depth: 4,
        width: 4,
        stem: 1,
    };
    /// The tiny model run at half resolution behind a stem: about as many parameters as the
    /// tiny one, a third of its running time, twice its field of view.
    pub const FAST: Architecture = Architecture {
        depth: 4,
        width: 4,
        stem: 2,
    };

    /// Names of the presets, for messages and choice lists.
    pub const PRESETS: [&'static str; 3] = ["fast", "tiny", "standard"];

    /// A named preset, or an error naming the presets (for the CLI, Fiji and the Java API).
    pub fn named(name: &str) -> Result<Architecture> {
        Self::preset(name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown architecture '{name}': use {}",
                Self::PRESETS.join(", ")
            ))
        })
    }

    /// A named preset: "standard", "tiny" or "fast".
    pub fn preset(name: &str) -> Option<Architecture> {
        match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "unet" => Some(Self::STANDARD),
            "tiny" => Some(Self::TINY),
            "fast" => Some(Self::FAST),
            _ => None,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(2..=6).contains(&self.depth) {
            return Err(Error::invalid(format!(
                "U-Net depth {} is out of range: use 2 to 6 levels (4 is usual)",
                self.depth
            )));
        }
        if !(2..=128).contains(&self.width) {
            return Err(Error::invalid(format!(
                "U-Net width {} is out of range: use 2 to 128 channels (16 is usual, 4 is tiny)",
                self.width
            )));
        }
        if !matches!(self.stem, 1 | 2) {
            return Err(Error::invalid(format!(
                "U-Net stem {} is out of range: use 1 (full resolution) or 2 (half resolution)",
                self.stem
            )));
        }
        Ok(())
    }

    /// Input height and width must be multiples of this (the stem's step, then one halving
    /// per level below the top).
    pub fn size_multiple(&self) -> usize {
        self.stem << (self.depth - 1)
    }

    /// Channels at level `level` (0 = full resolution).
    pub fn channels(&self, level: usize) -> usize {
        self.width << level
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        let conv = |cin: usize, cout: usize, k: usize| cin * cout * k * k + cout;
        let mut n = 0;
        let top_in = if self.stem > 1 {
            let w = self.width;
            n += conv(1, w, self.stem);
            n += w * w * self.stem * self.stem + w;
            n += conv(1 + w, w, 3);
            w
        } else {
            1
        };
        for level in 0..self.depth {
            let cin = if level == 0 {
                top_in
            } else {
                self.channels(level - 1)
            };
            let c = self.channels(level);
            n += conv(cin, c, 3) + conv(c, c, 3);
        }
        for level in 0..self.depth - 1 {
            let c = self.channels(level);
            n += conv(self.channels(level + 1), c, 2);
            n += conv(2 * c, c, 3) + conv(c, c, 3);
        }
        n + conv(self.width, 1, 1)
    }
}

/// "depth 4, width 4", with ", at half resolution" when a stem halves the image first.
impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "depth {}, width {}", self.depth, self.width)?;
        match self.stem {
            1 => Ok(()),
            2 => write!(f, ", at half resolution"),
            s => write!(f, ", at 1/{s} resolution"),
        }
    }
}

/// Gain of a layer followed by ReLU (He et al. 2015): ReLU halves the signal's power.
const RELU_GAIN: f64 = std::f64::consts::SQRT_2;
/// Gain of a layer with no activation after it.
const LINEAR_GAIN: f64 = 1.0;

/// A `k`×`k` convolution `cin` → `cout` with the given stride and padding, its weights drawn
/// with standard deviation `gain / sqrt(cin k²)` and its bias at 0 (see the module notes).
fn convolution(
    (cin, cout): (usize, usize),
    k: usize,
    (stride, padding): (usize, usize),
    gain: f64,
    device: &Device,
) -> Conv2d {
    let std = gain / ((cin * k * k) as f64).sqrt();
    let mut conv = Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    conv.bias = Some(Param::from_tensor(Tensor::zeros([cout], device)));
    conv
}

/// A `k`×`k` transposed convolution `cin` → `cout` with stride `k` (no overlap: each output
/// pixel sees `cin` inputs), its weights drawn with standard deviation `gain / sqrt(cin)` and
/// its bias at 0.
fn upsampling(cin: usize, cout: usize, k: usize, gain: f64, device: &Device) -> ConvTranspose2d {
    let std = gain / (cin as f64).sqrt();
    let mut up = ConvTranspose2dConfig::new([cin, cout], [k, k])
        .with_stride([k, k])
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    up.bias = Some(Param::from_tensor(Tensor::zeros([cout], device)));
    up
}

/// Two 3×3 convolutions (padding 1), each followed by ReLU.
#[derive(Module, Debug)]
pub struct DoubleConv {
    /// First convolution.
    pub first: Conv2d,
    /// Second convolution.
    pub second: Conv2d,
}

impl DoubleConv {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        let conv = |a, b| convolution((a, b), 3, (1, 1), RELU_GAIN, device);
        DoubleConv {
            first: conv(cin, cout),
            second: conv(cout, cout),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.second.forward(relu(self.first.forward(x))))
    }
}

/// A U-Net mapping a `[batch, 1, H, W]` image to `[batch, 1, H, W]` logits.
#[derive(Module, Debug)]
pub struct UNet {
    /// Encoder blocks, top (full resolution) first; the last is the bottleneck.
    pub down: Vec<DoubleConv>,
    /// Upsampling by 2, one per level below the top, top first.
    pub up: Vec<ConvTranspose2d>,
    /// Decoder blocks after each upsampling and skip concatenation, top first.
    pub decode: Vec<DoubleConv>,
    /// 1×1 convolution to one logit.
    pub head: Conv2d,
    /// With a stem: the stride-`stem` convolution into the U-Net, the transposed convolution
    /// out of it, and the full-resolution 3×3 convolution over [image, upsampled features].
    pub stem: Option<Stem>,
    pool: MaxPool2d,
}

/// The layers that run a U-Net at reduced resolution (see the module notes).
#[derive(Module, Debug)]
pub struct Stem {
    /// `stem`×`stem` convolution with stride `stem`, 1 → width channels (no activation).
    pub down: Conv2d,
    /// `stem`×`stem` transposed convolution with stride `stem`, width → width channels (no activation).
    pub up: ConvTranspose2d,
    /// 3×3 convolution (padding 1) over the image and the upsampled features, → width.
    pub finish: Conv2d,
}

impl UNet {
    /// A freshly initialised network (Kaiming-uniform weights from the device's seeded RNG).
    pub fn new(arch: Architecture, device: &Device) -> Self {
        let mut down = Vec::new();
        let mut up = Vec::new();
        let mut decode = Vec::new();
        let stem = (arch.stem > 1).then(|| {
            let (s, w) = (arch.stem, arch.width);
            Stem {
                down: convolution((1, w), s, (s, 0), LINEAR_GAIN, device),
                up: upsampling(w, w, s, LINEAR_GAIN, device),
                finish: convolution((1 + w, w), 3, (1, 1), RELU_GAIN, device),
            }
        });
        for level in 0..arch.depth {
            let cin = if level == 0 {
                if stem.is_some() {
                    arch.width
                } else {
                    1
                }
            } else {
                arch.channels(level - 1)
            };
            down.push(DoubleConv::new(cin, arch.channels(level), device));
        }
        for level in 0..arch.depth - 1 {
            let c = arch.channels(level);
            up.push(upsampling(
                arch.channels(level + 1),
                c,
                2,
                LINEAR_GAIN,
                device,
            ));
            decode.push(DoubleConv::new(2 * c, c, device));
        }
        UNet {
            down,
            up,
            decode,
            head: convolution((arch.width, 1), 1, (1, 0), LINEAR_GAIN, device),
            stem,
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// The architecture this network was built with.
    pub fn architecture(&self) -> Architecture {
        // Shapes read without drawing lazily initialised weights (see [`super::seeded`]).
        let head_in = self.head.weight.lazy_shape()[1];
        Architecture {
            depth: self.down.len(),
            width: head_in,
            stem: self
                .stem
                .as_ref()
                .map_or(1, |s| s.down.weight.lazy_shape()[2]),
        }
    }

    /// Logits for `x` (`[batch, 1, H, W]`, H and W multiples of the size multiple).
    pub fn forward(&self, image: Tensor<4>) -> Tensor<4> {
        let depth = self.down.len();
        let mut skips = Vec::with_capacity(depth);
        let mut x = match &self.stem {
            // Linear, as a patch embedding: a ReLU here could silence the whole network.
            Some(stem) => stem.down.forward(image.clone()),
            None => image.clone(),
        };
        for (level, block) in self.down.iter().enumerate() {
            x = block.forward(x);
            if level + 1 < depth {
                skips.push(x.clone());
                x = self.pool.forward(x);
            }
        }
        for level in (0..depth - 1).rev() {
            let upsampled = self.up[level].forward(x);
            let skip = skips.pop().unwrap_or_else(|| upsampled.clone());
            x = self.decode[level].forward(Tensor::cat(vec![skip, upsampled], 1));
        }
        if let Some(stem) = &self.stem {
            // No activation, as for the U-Net's own upsampling.
            let upsampled = stem.up.forward(x);
            x = relu(stem.finish.forward(Tensor::cat(vec![image, upsampled], 1)));
        }
        self.head.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::seeded;

    #[test]
    fn output_has_the_input_size_and_parameters_are_counted_right() {
        let device = crate::compute::device();
        for arch in [
            Architecture::TINY,
            Architecture::FAST,
            Architecture {
                depth: 3,
                width: 6,
                stem: 1,
            },
        ] {
            let net = seeded(&device, 5, || UNet::new(arch, &device));
            assert_eq!(net.num_params(), arch.parameter_count(), "{arch:?}");
            assert_eq!(net.architecture(), arch);
            let x = Tensor::<4>::zeros([2, 1, 32, 48], &device);
            assert_eq!(net.forward(x).dims(), [2, 1, 32, 48]);
        }
    }

    /// Standard deviation over pixels of a fresh network's logits for a noise image.
    fn logit_spread(arch: Architecture, seed: u64) -> f32 {
        let device = crate::compute::device();
        let net = seeded(&device, seed, || UNet::new(arch, &device));
        let (h, w) = (64, 64);
        let noise: Vec<f32> = (0..h * w)
            .map(|i| ((i * 7919 + 13) % 101) as f32 / 100.0)
            .collect();
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(noise, [1, 1, h, w]), &device);
        let logits: Vec<f32> = net.forward(x).into_data().try_to_vec::<f32>().expect("f32");
        let mean = logits.iter().sum::<f32>() / logits.len() as f32;
        (logits.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / logits.len() as f32).sqrt()
    }

    /// A fresh network's output follows its image: the signal keeps its scale through the
    /// layers (see the module notes).
    #[test]
    fn a_fresh_network_passes_its_image_through() {
        for arch in [
            Architecture::FAST,
            Architecture::TINY,
            Architecture::STANDARD,
        ] {
            for seed in [1, 2, 3] {
                // 0.09-1.6 here; burn's default initialisation gave 0.004 for `fast`.
                let spread = logit_spread(arch, seed);
                assert!(spread > 0.03, "{arch}, seed {seed}: logit spread {spread}");
            }
        }
    }

    #[test]
    fn the_tiny_model_is_about_twenty_times_smaller() {
        let ratio = Architecture::STANDARD.parameter_count() as f64
            / Architecture::TINY.parameter_count() as f64;
        assert!((14.0..=24.0).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn presets_and_ranges() {
        assert_eq!(Architecture::preset("Tiny"), Some(Architecture::TINY));
        assert_eq!(Architecture::preset("big"), None);
        assert_eq!(Architecture::preset("fast"), Some(Architecture::FAST));
        let unknown = Architecture::named("big").expect_err("no such preset");
        assert_eq!(
            unknown.to_string(),
            "unknown architecture 'big': use fast, tiny, standard"
        );
        assert_eq!(Architecture::named(" Fast ").ok(), Some(Architecture::FAST));
        for bad in [(7, 16, 1), (4, 1, 1), (4, 4, 3)] {
            let (depth, width, stem) = bad;
            let arch = Architecture { depth, width, stem };
            assert!(arch.validate().is_err(), "{arch:?}");
        }
        assert_eq!(Architecture::STANDARD.size_multiple(), 8);
        assert_eq!(Architecture::FAST.size_multiple(), 16);
        let old: Architecture = serde_json::from_str(r#"{"depth": 4, "width": 4}"#)
            .expect("a report written before stems existed");
        assert_eq!(old, Architecture::TINY);
    }
}
