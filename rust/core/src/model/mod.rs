//! Model descriptions in the bioimage.io style (`bioimageio.yaml`, format 0.5, or the older
//! `rdf.yaml`, format 0.4): input and output axes, valid tile shapes, halo, pre- and
//! post-processing, pixel size and our defaults under `config.brightseg`.
//!
//! Only what brightseg can honour is accepted; anything else is refused at load time with a
//! message that names it, rather than producing silently wrong probabilities.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::error::{Error, Result};
use crate::normalize::Normalizer;
/// The value mappings a description names, defined with the code that applies them.
pub use crate::normalize::{Postprocessing, Preprocessing};
use crate::refine::Refinement;

mod parse;

/// File names of a model description, in the order they are looked for inside a model folder.
pub const CARD_FILE_NAMES: [&str; 2] = ["bioimageio.yaml", "rdf.yaml"];

/// Threshold on the probability used when neither the user nor the model card chooses one.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// Minimum object size in µm² used when neither the user nor the model card chooses one.
pub const DEFAULT_MIN_SIZE_UM2: f64 = 10.0;
/// Split depth in pixels (see [`crate::objects::ObjectParams::split_depth_px`]) used when
/// neither the user nor the model card chooses one.
pub const DEFAULT_SPLIT_DEPTH_PX: f32 = 0.5;
/// Preferred tile edge in pixels for models that accept several tile sizes.
pub const DEFAULT_TILE_SIZE: usize = 512;
/// Overlap margin (per side) used when the model card gives no halo.
pub const DEFAULT_HALO: usize = 32;
/// Largest tile edge brightseg runs (one 4096² tile is 64 MB of input alone); descriptions
/// asking for more are refused, so a description cannot make us allocate without bound.
pub const MAX_TILE_EDGE: usize = 4096;

/// One axis of a model tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Batch (always 1 here).
    Batch,
    /// Channel.
    Channel,
    /// Rows.
    Y,
    /// Columns.
    X,
}

/// Valid sizes of one spatial axis: `min + k * step` (`step == 0`: exactly `min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisSize {
    /// Smallest valid size.
    pub min: usize,
    /// Increment between valid sizes; 0 for a fixed size.
    pub step: usize,
}

impl AxisSize {
    /// Picks a size for an image extent of `extent` pixels: the smallest valid size that holds
    /// the whole extent when that is at most `preferred`, else the largest valid size not above
    /// `preferred` (at least `min`).
    pub fn choose(&self, extent: usize, preferred: usize) -> usize {
        if self.step == 0 {
            return self.min;
        }
        let up_to = |limit: usize| {
            if limit <= self.min {
                self.min
            } else {
                self.min + (limit - self.min) / self.step * self.step
            }
        };
        let covering = if extent <= self.min {
            self.min
        } else {
            // Saturating: an absurd extent (a planner asked about a nonsense size) must not wrap.
            self.min.saturating_add(
                (extent - self.min)
                    .div_ceil(self.step)
                    .saturating_mul(self.step),
            )
        };
        if covering <= preferred.max(self.min) {
            covering
        } else {
            up_to(preferred)
        }
    }

    /// The alignment that keeps tile positions on the model's pooling grid.
    pub fn alignment(&self) -> usize {
        if self.step > 0 {
            self.step
        } else {
            // Fixed-size models: the largest power of two dividing the size, capped at 32.
            let mut a = 1;
            while a < 32 && self.min.is_multiple_of(a * 2) {
                a *= 2;
            }
            a
        }
    }
}

/// Defaults a model card suggests for the Find Nuclei parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelDefaults {
    /// Probability threshold.
    pub threshold: f32,
    /// Minimum object area in µm².
    pub min_size_um2: f64,
    /// Depth in pixels (at the model's pixel size) a distance peak needs to seed a nucleus of
    /// its own (`config.brightseg.split_depth_px`; brightseg train chooses it on validation
    /// data: large nuclei with uneven outlines need more than small round ones).
    pub split_depth_px: f32,
    /// Preferred tile edge for models with flexible input size.
    pub tile_size: usize,
    /// How the image refines the thresholded mask (`config.brightseg.refine`; artifact models
    /// trained on refined pseudo-masks ask for the same step at inference).
    pub refine: Refinement,
}

/// A parsed model description: everything needed to feed the network and read its output.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    /// Display name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Licence identifier, when given.
    pub license: Option<String>,
    /// The folder holding the description and the weights.
    pub folder: PathBuf,
    /// The description file that was read.
    pub card_path: PathBuf,
    /// The ONNX weights file.
    pub onnx_path: PathBuf,
    /// Axes of the input tensor, in tensor order.
    pub input_axes: Vec<Axis>,
    /// Axes of the output tensor, in tensor order.
    pub output_axes: Vec<Axis>,
    /// Index of the output channel holding the foreground probability.
    pub output_channel: usize,
    /// Valid input heights.
    pub size_y: AxisSize,
    /// Valid input widths.
    pub size_x: AxisSize,
    /// Output border (rows, columns) that is unreliable and is discarded when tiling.
    pub halo: (usize, usize),
    /// Input pre-processing, in order.
    pub preprocessing: Vec<Preprocessing>,
    /// Output post-processing, in order.
    pub postprocessing: Vec<Postprocessing>,
    /// Pixel size the model was trained at, in µm, when the card states it.
    pub pixel_size_um: Option<f64>,
    /// The model's share of uncertain pixels on images it suits, in percent
    /// (`config.brightseg.uncertain_percent`, measured at export on its test input; see
    /// [`crate::measure::Certainty`]). `None`: the card does not say, and no image is flagged.
    pub uncertain_percent: Option<f64>,
    /// Defaults for threshold, minimum size and tile size.
    pub defaults: ModelDefaults,
}

impl ModelCard {
    /// Reads the description in `path`: a model folder or the YAML file itself.
    pub fn load(path: &Path) -> Result<Self> {
        let card_path = find_card(path)?;
        let text = std::fs::read_to_string(&card_path).map_err(|e| {
            Error::model(format!(
                "cannot read model description {}: {e}",
                card_path.display()
            ))
        })?;
        let folder = card_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::parse(&text, &folder, &card_path)
    }

    /// Parses description `text` of a model living in `folder`.
    pub fn parse(text: &str, folder: &Path, card_path: &Path) -> Result<Self> {
        parse::card(text, folder, card_path)
    }

    /// The (height, width) of the tiles to run for an image of `height × width` pixels: at most
    /// the preferred tile size, shrunk as far as the same number of tiles still covers the
    /// image (see [`crate::tiling::even_tile`]).
    pub fn tile_shape(&self, height: usize, width: usize) -> (usize, usize) {
        let preferred = self.defaults.tile_size;
        let fit = |size: &AxisSize, extent: usize, halo: usize| {
            let largest = size.choose(extent, preferred);
            crate::tiling::even_tile(extent, largest, size.min, size.step, halo, size.alignment())
        };
        (
            fit(&self.size_y, height, self.halo.0),
            fit(&self.size_x, width, self.halo.1),
        )
    }

    /// The input tensor shape for a tile of `h × w` pixels, in the model's axis order.
    pub fn input_shape(&self, h: usize, w: usize) -> Vec<usize> {
        self.input_axes
            .iter()
            .map(|a| match a {
                Axis::Batch | Axis::Channel => 1,
                Axis::Y => h,
                Axis::X => w,
            })
            .collect()
    }

    /// The probability of an `h × w` tile (row-major, post-processing applied) from the
    /// network's output `values` of shape `out_shape`, in the model's output axis order.
    pub fn tile_probability(
        &self,
        values: &[f32],
        out_shape: &[usize],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>> {
        if out_shape.len() != self.output_axes.len() {
            return Err(Error::model(format!(
                "the model output has {} axes but its description lists {}",
                out_shape.len(),
                self.output_axes.len()
            )));
        }
        if values.len() != out_shape.iter().product::<usize>() {
            return Err(Error::backend(format!(
                "the model returned {} values for shape {out_shape:?}",
                values.len()
            )));
        }
        let mut strides = vec![1usize; out_shape.len()];
        for i in (0..out_shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * out_shape[i + 1];
        }
        let (mut sy, mut sx, mut base) = (0, 0, 0);
        for (i, axis) in self.output_axes.iter().enumerate() {
            match axis {
                Axis::Y if out_shape[i] == h => sy = strides[i],
                Axis::X if out_shape[i] == w => sx = strides[i],
                Axis::Y | Axis::X => {
                    return Err(Error::model(format!(
                        "for a {h}×{w} tile the model returned shape {out_shape:?}: the \
                         description's output shape does not match the network"
                    )))
                }
                Axis::Channel if self.output_channel < out_shape[i] => {
                    base = self.output_channel * strides[i]
                }
                Axis::Channel => {
                    return Err(Error::model(
                        "the model output has fewer channels than described",
                    ))
                }
                Axis::Batch => {}
            }
        }
        let post = Normalizer::for_postprocessing(&self.postprocessing);
        Ok((0..h * w)
            .map(|i| post.apply(values[base + (i / w) * sy + (i % w) * sx]))
            .collect())
    }
}

pub(crate) fn find_card(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(Error::model(format!(
            "model {} not found: give a model folder (with bioimageio.yaml or rdf.yaml and an \
             ONNX file) or the name of a model listed by `brightseg models`",
            path.display()
        )));
    }
    for name in CARD_FILE_NAMES {
        let p = path.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io("list", path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("bioimageio.yaml"))
        .collect();
    others.sort();
    others.into_iter().next().ok_or_else(|| {
        Error::model(format!(
            "{} holds no model description: expected bioimageio.yaml or rdf.yaml",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V05: &str = r#"
format_version: 0.5.4
type: model
name: Test net
inputs:
  - id: raw
    axes:
      - type: batch
      - type: channel
        channel_names: [bf]
      - {type: space, id: y, size: {min: 64, step: 16}, unit: micrometer, scale: 0.62}
      - {type: space, id: x, size: {min: 64, step: 16}, unit: micrometer, scale: 0.62}
    preprocessing:
      - id: scale_range
        kwargs: {min_percentile: 1, max_percentile: 99.8}
outputs:
  - id: prob
    axes:
      - type: batch
      - type: channel
        channel_names: [nuclei]
      - {type: space, id: y, halo: 16, size: {tensor_id: raw, axis_id: y}}
      - {type: space, halo: 16, size: {tensor_id: raw, axis_id: x}}
    postprocessing:
      - id: sigmoid
weights:
  onnx: {source: model.onnx}
config:
  brightseg: {threshold: 0.4, min_size_um2: 12}
"#;

    fn parse(text: &str) -> Result<ModelCard> {
        ModelCard::parse(text, Path::new("/m"), Path::new("/m/bioimageio.yaml"))
    }

    #[test]
    fn parses_v05_card() {
        let c = parse(V05).expect("valid card");
        assert_eq!(
            c.input_axes,
            vec![Axis::Batch, Axis::Channel, Axis::Y, Axis::X]
        );
        assert_eq!(c.size_y, AxisSize { min: 64, step: 16 });
        assert_eq!(c.halo, (16, 16));
        assert_eq!(c.pixel_size_um, Some(0.62));
        assert_eq!(c.defaults.threshold, 0.4);
        assert_eq!(c.defaults.min_size_um2, 12.0);
        assert_eq!(c.defaults.refine, Refinement::None);
        assert_eq!(c.defaults.split_depth_px, DEFAULT_SPLIT_DEPTH_PX);
        let deeper = parse(&V05.replace("min_size_um2: 12", "min_size_um2: 12, split_depth_px: 2"))
            .expect("card with a split depth");
        assert_eq!(deeper.defaults.split_depth_px, 2.0);
        for bad in ["0", "-1", ".nan"] {
            let e = parse(&V05.replace(
                "min_size_um2: 12",
                &format!("min_size_um2: 12, split_depth_px: {bad}"),
            ))
            .expect_err("not a split depth");
            assert!(e.to_string().contains("split_depth_px"), "{e}");
        }
        let refined = parse(&V05.replace("min_size_um2: 12", "min_size_um2: 12, refine: dark"))
            .expect("refined card");
        assert_eq!(refined.defaults.refine, Refinement::Dark);
        let wrong = parse(&V05.replace("min_size_um2: 12", "min_size_um2: 12, refine: sharp"))
            .expect_err("unknown refinement");
        assert!(wrong.to_string().contains("refinement 'sharp'"), "{wrong}");
        assert_eq!(c.onnx_path, Path::new("/m/model.onnx"));
        assert_eq!(c.postprocessing, vec![Postprocessing::Sigmoid]);
        assert!(matches!(
            c.preprocessing[0],
            Preprocessing::ScaleRange { .. }
        ));
        assert_eq!(c.input_shape(96, 128), vec![1, 1, 96, 128]);
    }

    #[test]
    fn tile_probability_picks_the_described_channel_and_applies_postprocessing() {
        let mut c = parse(V05).expect("valid card");
        c.output_axes = vec![Axis::Batch, Axis::Y, Axis::X, Axis::Channel];
        c.output_channel = 1;
        // 2 × 3 tile, 2 channels last: channel 1 holds 0, 1, …, 5; channel 0 holds -9.
        let values: Vec<f32> = (0..6).flat_map(|i| [-9.0, i as f32]).collect();
        let p = c
            .tile_probability(&values, &[1, 2, 3, 2], 2, 3)
            .expect("matching shape");
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let expected: Vec<f32> = (0..6).map(|i| sigmoid(i as f32)).collect();
        for (a, b) in p.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6, "{p:?} vs {expected:?}");
        }
        let wrong = c
            .tile_probability(&values, &[1, 3, 2, 2], 2, 3)
            .expect_err("transposed output");
        assert!(wrong.to_string().contains("does not match"), "{wrong}");
        assert!(c
            .tile_probability(&values[1..], &[1, 2, 3, 2], 2, 3)
            .is_err());
        c.output_channel = 2;
        assert!(c.tile_probability(&values, &[1, 2, 3, 2], 2, 3).is_err());
    }

    #[test]
    fn parses_v04_card() {
        let text = r#"
format_version: 0.4.9
type: model
name: old
inputs:
  - name: raw
    axes: bcyx
    data_type: float32
    shape: {min: [1, 1, 32, 32], step: [0, 0, 8, 8]}
    preprocessing:
      - name: zero_mean_unit_variance
        kwargs: {mode: per_sample, axes: yx}
outputs:
  - name: out
    axes: bcyx
    halo: [0, 0, 8, 8]
    shape: {reference_tensor: raw, scale: [1, 1, 1, 1], offset: [0, 0, 0, 0]}
weights:
  onnx: {source: w.onnx}
"#;
        let c = parse(text).expect("valid 0.4 card");
        assert_eq!(c.size_x, AxisSize { min: 32, step: 8 });
        assert_eq!(c.halo, (8, 8));
        assert_eq!(
            c.preprocessing,
            vec![Preprocessing::ZeroMeanUnitVariance {
                fixed: None,
                eps: 1e-6
            }]
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let cases = [
            (
                V05.replace("model.onnx}", "../../etc/x.onnx}"),
                "outside the model folder",
            ),
            (
                V05.replace("onnx: {source: model.onnx}", "torchscript: {source: w.pt}"),
                "ONNX",
            ),
            (V05.replace("id: sigmoid", "id: binarize"), "binarize"),
            (
                V05.replace("channel_names: [bf]", "channel_names: [r, g, b]"),
                "3 input channels",
            ),
            ("[1, 2".to_owned(), "not valid YAML"),
            (
                V05.replace("{min: 64, step: 16}", "1000000"),
                "tiles of 1 to 4096 pixels",
            ),
            (
                V05.replace("{min: 64, step: 16}", "{min: 0, step: 16}"),
                "has size 0",
            ),
            (
                V05.replace("threshold: 0.4", "threshold: 0.4, tile_size: 1.0e12"),
                "tile_size",
            ),
            (
                V05.replace("threshold: 0.4", "threshold: .nan"),
                "not a probability",
            ),
            (
                V05.replace("min_size_um2: 12", "min_size_um2: -4"),
                "not a size",
            ),
            (
                V05.replace("threshold: 0.4", "threshold: 0.4, pixel_size_um: 0"),
                "not a positive number",
            ),
            (
                V05.replace("threshold: 0.4", "threshold: 0.4, halo: 5000"),
                "leaves nothing",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(&text).expect_err(expected);
            assert!(
                e.to_string().contains(expected),
                "{e} should mention {expected}"
            );
        }
    }

    #[test]
    fn tile_size_choice() {
        let s = AxisSize { min: 64, step: 16 };
        assert_eq!(s.choose(100, 512), 112, "smallest size holding the image");
        assert_eq!(
            s.choose(2000, 512),
            512,
            "largest size not above the preference"
        );
        assert_eq!(s.choose(10, 512), 64);
        let fixed = AxisSize { min: 512, step: 0 };
        assert_eq!(fixed.choose(100, 256), 512);
        assert_eq!(fixed.alignment(), 32);
    }
}
