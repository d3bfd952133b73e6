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
        let where_ = card_path.display().to_string();
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            Error::model(format!(
                "{where_} is not valid YAML: {e}: fix or replace the file"
            ))
        })?;
        Parser { doc: &doc, where_ }.card(folder, card_path)
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

struct Parser<'a> {
    doc: &'a Value,
    where_: String,
}

fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_mapping()?.get(key)
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_i64().map(|i| i as f64))
        .or_else(|| {
            // A one-element list (per-channel value for our single channel).
            v.as_sequence()
                .filter(|s| s.len() == 1)
                .and_then(|s| as_f64(&s[0]))
        })
}

fn as_usize(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|u| usize::try_from(u).ok())
}

impl Parser<'_> {
    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::model(format!("model description {}: {what}", self.where_))
    }

    fn card(&self, folder: &Path, card_path: &Path) -> Result<ModelCard> {
        let doc = self.doc;
        if doc.as_mapping().is_none() {
            return Err(self.err("is not a YAML mapping"));
        }
        if let Some(t) = get(doc, "type").and_then(Value::as_str) {
            if t != "model" {
                return Err(self.err(format!("describes a {t}, not a model")));
            }
        }
        let name = get(doc, "name")
            .and_then(Value::as_str)
            .unwrap_or("unnamed model")
            .to_owned();
        let description = get(doc, "description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let license = get(doc, "license")
            .and_then(Value::as_str)
            .map(str::to_owned);

        let input = self.single_tensor("inputs")?;
        let output = self.single_tensor("outputs")?;
        let (input_axes, sizes, in_channels, pixel_size_um, _) = self.axes(input, true)?;
        let (output_axes, _, out_channels, _, halo) = self.axes(output, false)?;
        if in_channels != 1 {
            return Err(self.err(format!(
                "the model expects {in_channels} input channels; brightseg feeds one channel \
                 (a model with a single input channel is needed)"
            )));
        }
        if !output_axes.contains(&Axis::Y) || !output_axes.contains(&Axis::X) {
            return Err(self.err("the output has no y and x axes: not a segmentation model"));
        }
        if let Some(dt) = get(input, "data_type").and_then(Value::as_str) {
            if dt != "float32" {
                return Err(self.err(format!(
                    "input data type {dt} is not supported (float32 is)"
                )));
            }
        }
        let (size_y, size_x) = sizes;
        let preprocessing = self.preprocessing(input)?;
        let postprocessing = self.postprocessing(output)?;
        let onnx_path = self.onnx_weights(folder)?;
        let config = get(doc, "config").and_then(|c| get(c, "brightseg"));
        let conf_f64 = |key: &str| config.and_then(|c| get(c, key)).and_then(as_f64);
        let refine = match config
            .and_then(|c| get(c, "refine"))
            .and_then(Value::as_str)
        {
            Some(name) => name
                .parse::<Refinement>()
                .map_err(|e| self.err(format!("config.brightseg.{e}")))?,
            None => Refinement::None,
        };
        let defaults = ModelDefaults {
            threshold: conf_f64("threshold").map_or(DEFAULT_THRESHOLD, |t| t as f32),
            min_size_um2: conf_f64("min_size_um2").unwrap_or(DEFAULT_MIN_SIZE_UM2),
            split_depth_px: conf_f64("split_depth_px").map_or(DEFAULT_SPLIT_DEPTH_PX, |d| d as f32),
            tile_size: conf_f64("tile_size").map_or(DEFAULT_TILE_SIZE, |t| t as usize),
            refine,
        };
        let pixel_size_um = conf_f64("pixel_size_um").or(pixel_size_um);
        let halo = match conf_f64("halo") {
            Some(h) => (h as usize, h as usize),
            None if halo == (0, 0) => (DEFAULT_HALO, DEFAULT_HALO),
            None => halo,
        };
        self.check_ranges(size_y, size_x, &defaults, pixel_size_um, halo)?;
        let uncertain_percent = conf_f64("uncertain_percent").filter(|p| (0.0..=100.0).contains(p));
        Ok(ModelCard {
            uncertain_percent,
            name,
            description,
            license,
            folder: folder.to_path_buf(),
            card_path: card_path.to_path_buf(),
            onnx_path,
            input_axes,
            output_axes,
            output_channel: out_channels.saturating_sub(1).min(
                config
                    .and_then(|c| get(c, "output_channel"))
                    .and_then(as_usize)
                    .unwrap_or(0),
            ),
            size_y,
            size_x,
            halo,
            preprocessing,
            postprocessing,
            pixel_size_um,
            defaults,
        })
    }

    fn single_tensor(&self, key: &str) -> Result<&Value> {
        let list = get(self.doc, key)
            .and_then(Value::as_sequence)
            .ok_or_else(|| self.err(format!("has no `{key}` list")))?;
        match list.len() {
            1 => Ok(&list[0]),
            0 => Err(self.err(format!("`{key}` is empty"))),
            n => Err(self.err(format!(
                "has {n} {key}; brightseg supports models with one input and one output"
            ))),
        }
    }

    /// Axes, (y, x) sizes, channel count, pixel size (µm) and (y, x) halo of a tensor.
    #[allow(clippy::type_complexity)]
    fn axes(
        &self,
        tensor: &Value,
        is_input: bool,
    ) -> Result<(
        Vec<Axis>,
        (AxisSize, AxisSize),
        usize,
        Option<f64>,
        (usize, usize),
    )> {
        let axes_v = get(tensor, "axes").ok_or_else(|| self.err("a tensor has no `axes`"))?;
        let mut axes = Vec::new();
        let mut sizes: Vec<Option<AxisSize>> = Vec::new();
        let mut halos = Vec::new();
        let mut channels = 1usize;
        let mut pixel_size = None;
        if let Some(letters) = axes_v.as_str() {
            // Format 0.4: "bcyx", shape list or {min, step}, halo list.
            let shape = get(tensor, "shape");
            let fixed: Option<Vec<usize>> = shape
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(as_usize).collect());
            let min: Option<Vec<usize>> = shape
                .and_then(|s| get(s, "min"))
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(as_usize).collect());
            let step: Option<Vec<usize>> = shape
                .and_then(|s| get(s, "step"))
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(as_usize).collect());
            let halo: Vec<usize> = get(tensor, "halo")
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(as_usize).collect())
                .unwrap_or_default();
            for (i, ch) in letters.chars().enumerate() {
                let axis = self.axis_from_letter(ch)?;
                let size = match (&fixed, &min, &step) {
                    (Some(f), _, _) if f.len() > i => Some(AxisSize { min: f[i], step: 0 }),
                    (_, Some(m), Some(s)) if m.len() > i && s.len() > i => Some(AxisSize {
                        min: m[i],
                        step: s[i],
                    }),
                    _ => None,
                };
                if axis == Axis::Channel {
                    channels = size.map_or(1, |s| s.min);
                }
                axes.push(axis);
                sizes.push(size);
                halos.push(halo.get(i).copied().unwrap_or(0));
            }
        } else {
            let list = axes_v
                .as_sequence()
                .ok_or_else(|| self.err("`axes` is neither a string nor a list"))?;
            for a in list {
                let kind = get(a, "type").and_then(Value::as_str).unwrap_or("");
                let id = get(a, "id").and_then(Value::as_str);
                let axis = match kind {
                    "batch" => Axis::Batch,
                    "channel" => Axis::Channel,
                    "space" => match id.unwrap_or("x") {
                        "x" => Axis::X,
                        "y" => Axis::Y,
                        other => {
                            return Err(self.err(format!(
                                "space axis `{other}` is not supported: brightseg runs 2-D \
                                 models (axes y and x)"
                            )))
                        }
                    },
                    other => {
                        return Err(self.err(format!(
                            "axis type `{other}` is not supported: brightseg runs 2-D models \
                             with batch, channel, y and x axes"
                        )))
                    }
                };
                let size_v = get(a, "size");
                let size = match size_v {
                    Some(v) if as_usize(v).is_some() => {
                        as_usize(v).map(|n| AxisSize { min: n, step: 0 })
                    }
                    Some(v) if get(v, "min").is_some() => Some(AxisSize {
                        min: get(v, "min").and_then(as_usize).unwrap_or(1),
                        step: get(v, "step").and_then(as_usize).unwrap_or(0),
                    }),
                    _ => None,
                };
                if axis == Axis::Channel {
                    channels = get(a, "channel_names")
                        .and_then(Value::as_sequence)
                        .map_or(size.map_or(1, |s| s.min), |s| s.len());
                }
                if matches!(axis, Axis::X | Axis::Y) && is_input && pixel_size.is_none() {
                    let unit = get(a, "unit").and_then(Value::as_str);
                    let scale = get(a, "scale").and_then(as_f64);
                    pixel_size = match (unit, scale) {
                        (Some("micrometer" | "µm" | "um" | "micron"), Some(s)) => Some(s),
                        (Some("nanometer" | "nm"), Some(s)) => Some(s / 1000.0),
                        (Some("millimeter" | "mm"), Some(s)) => Some(s * 1000.0),
                        _ => None,
                    };
                }
                axes.push(axis);
                sizes.push(size);
                halos.push(get(a, "halo").and_then(as_usize).unwrap_or(0));
            }
        }
        let pos = |target: Axis| axes.iter().position(|&a| a == target);
        if axes
            .iter()
            .any(|a| axes.iter().filter(|b| *b == a).count() > 1)
        {
            return Err(self.err("an axis appears twice"));
        }
        let (Some(iy), Some(ix)) = (pos(Axis::Y), pos(Axis::X)) else {
            return Err(self.err("a tensor lacks a y or x axis"));
        };
        let any = AxisSize { min: 16, step: 16 };
        let size_of = |i: usize| sizes[i].unwrap_or(any);
        if is_input {
            for (label, s) in [("y", size_of(iy)), ("x", size_of(ix))] {
                if s.min == 0 {
                    return Err(self.err(format!("input axis {label} has size 0")));
                }
            }
        }
        Ok((
            axes,
            (size_of(iy), size_of(ix)),
            channels,
            pixel_size,
            (halos[iy], halos[ix]),
        ))
    }

    fn axis_from_letter(&self, ch: char) -> Result<Axis> {
        Ok(match ch {
            'b' => Axis::Batch,
            'c' => Axis::Channel,
            'y' => Axis::Y,
            'x' => Axis::X,
            other => {
                return Err(self.err(format!(
                    "axis `{other}` is not supported: brightseg runs 2-D models with axes b, c, \
                     y, x"
                )))
            }
        })
    }

    fn steps<'v>(&self, tensor: &'v Value, key: &str) -> Vec<(String, Option<&'v Value>)> {
        get(tensor, key)
            .and_then(Value::as_sequence)
            .map(|list| {
                list.iter()
                    .map(|step| {
                        let id = get(step, "id")
                            .or_else(|| get(step, "name"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        (id, get(step, "kwargs"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn kw(&self, kwargs: Option<&Value>, key: &str) -> Option<f64> {
        kwargs.and_then(|k| get(k, key)).and_then(as_f64)
    }

    fn ensure_float32(&self, kwargs: Option<&Value>) -> Result<()> {
        match kwargs.and_then(|k| get(k, "dtype")).and_then(Value::as_str) {
            None | Some("float32") => Ok(()),
            Some(other) => Err(self.err(format!(
                "ensure_dtype {other} is not supported: brightseg computes in float32"
            ))),
        }
    }

    fn preprocessing(&self, tensor: &Value) -> Result<Vec<Preprocessing>> {
        let mut out = Vec::new();
        for (id, kwargs) in self.steps(tensor, "preprocessing") {
            let mode = kwargs.and_then(|k| get(k, "mode")).and_then(Value::as_str);
            let step = match id.as_str() {
                "ensure_dtype" => {
                    self.ensure_float32(kwargs)?;
                    continue;
                }
                "zero_mean_unit_variance" | "fixed_zero_mean_unit_variance" => {
                    let eps = self.kw(kwargs, "eps").unwrap_or(1e-6);
                    let fixed = match (self.kw(kwargs, "mean"), self.kw(kwargs, "std")) {
                        (Some(m), Some(s)) => Some((m, s)),
                        _ if id == "fixed_zero_mean_unit_variance" || mode == Some("fixed") => {
                            return Err(self.err(format!("{id} needs scalar `mean` and `std`")))
                        }
                        _ => None,
                    };
                    if mode == Some("per_dataset") {
                        return Err(self.err(
                            "zero_mean_unit_variance per_dataset is not supported: give fixed \
                             mean and std",
                        ));
                    }
                    Preprocessing::ZeroMeanUnitVariance { fixed, eps }
                }
                "scale_range" => {
                    if mode == Some("per_dataset") {
                        return Err(self.err("scale_range per_dataset is not supported"));
                    }
                    if kwargs.and_then(|k| get(k, "reference_tensor")).is_some() {
                        return Err(
                            self.err("scale_range with a reference_tensor is not supported")
                        );
                    }
                    let lo = self.kw(kwargs, "min_percentile").unwrap_or(0.0);
                    let hi = self.kw(kwargs, "max_percentile").unwrap_or(100.0);
                    if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo >= hi {
                        return Err(
                            self.err(format!("scale_range percentiles {lo}, {hi} are invalid"))
                        );
                    }
                    Preprocessing::ScaleRange {
                        min_percentile: lo,
                        max_percentile: hi,
                        eps: self.kw(kwargs, "eps").unwrap_or(1e-6),
                    }
                }
                "scale_linear" => Preprocessing::ScaleLinear {
                    gain: self.kw(kwargs, "gain").unwrap_or(1.0),
                    offset: self.kw(kwargs, "offset").unwrap_or(0.0),
                },
                "clip" => Preprocessing::Clip {
                    min: self.kw(kwargs, "min").unwrap_or(f64::NEG_INFINITY),
                    max: self.kw(kwargs, "max").unwrap_or(f64::INFINITY),
                },
                "sigmoid" => Preprocessing::Sigmoid,
                other => {
                    return Err(self.err(format!(
                        "pre-processing `{other}` is not supported (supported: \
                         zero_mean_unit_variance, scale_range, scale_linear, clip, sigmoid, \
                         ensure_dtype float32)"
                    )))
                }
            };
            out.push(step);
        }
        Ok(out)
    }

    fn postprocessing(&self, tensor: &Value) -> Result<Vec<Postprocessing>> {
        let mut out = Vec::new();
        for (id, kwargs) in self.steps(tensor, "postprocessing") {
            let step = match id.as_str() {
                "ensure_dtype" => {
                    self.ensure_float32(kwargs)?;
                    continue;
                }
                "sigmoid" => Postprocessing::Sigmoid,
                "scale_linear" => Postprocessing::ScaleLinear {
                    gain: self.kw(kwargs, "gain").unwrap_or(1.0),
                    offset: self.kw(kwargs, "offset").unwrap_or(0.0),
                },
                "clip" => Postprocessing::Clip {
                    min: self.kw(kwargs, "min").unwrap_or(f64::NEG_INFINITY),
                    max: self.kw(kwargs, "max").unwrap_or(f64::INFINITY),
                },
                other => {
                    return Err(self.err(format!(
                        "post-processing `{other}` is not supported (supported: sigmoid, \
                         scale_linear, clip, ensure_dtype float32)"
                    )))
                }
            };
            out.push(step);
        }
        Ok(out)
    }

    /// Refuses values a description may not set: tiles larger than [`MAX_TILE_EDGE`], halos that
    /// leave no tile, and defaults outside their meaning (probabilities, sizes, pixel sizes).
    fn check_ranges(
        &self,
        size_y: AxisSize,
        size_x: AxisSize,
        defaults: &ModelDefaults,
        pixel_size_um: Option<f64>,
        halo: (usize, usize),
    ) -> Result<()> {
        for (axis, size) in [("y", size_y), ("x", size_x)] {
            if size.min == 0 || size.min > MAX_TILE_EDGE || size.step > MAX_TILE_EDGE {
                return Err(self.err(format!(
                    "input axis {axis} asks for tiles of {} pixels (step {}): brightseg runs \
                     tiles of 1 to {MAX_TILE_EDGE} pixels",
                    size.min, size.step
                )));
            }
        }
        if !(1..=MAX_TILE_EDGE).contains(&defaults.tile_size) {
            return Err(self.err(format!(
                "config.brightseg.tile_size {} is outside 1 to {MAX_TILE_EDGE} pixels",
                defaults.tile_size
            )));
        }
        if halo.0.max(halo.1) >= MAX_TILE_EDGE / 2 {
            return Err(self.err(format!(
                "a halo of {} pixels leaves nothing of a tile",
                halo.0.max(halo.1)
            )));
        }
        if !(0.0..=1.0).contains(&defaults.threshold) {
            return Err(self.err(format!(
                "config.brightseg.threshold {} is not a probability in [0, 1]",
                defaults.threshold
            )));
        }
        if !(defaults.min_size_um2.is_finite() && defaults.min_size_um2 >= 0.0) {
            return Err(self.err(format!(
                "config.brightseg.min_size_um2 {} is not a size (0 or more µm²)",
                defaults.min_size_um2
            )));
        }
        if crate::objects::check_split_depth(defaults.split_depth_px).is_err() {
            return Err(self.err(format!(
                "config.brightseg.split_depth_px {} is not a positive number of pixels",
                defaults.split_depth_px
            )));
        }
        if let Some(px) = pixel_size_um.filter(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(self.err(format!("pixel size {px} µm is not a positive number")));
        }
        Ok(())
    }

    fn onnx_weights(&self, folder: &Path) -> Result<PathBuf> {
        let weights = get(self.doc, "weights").ok_or_else(|| self.err("has no `weights`"))?;
        let Some(onnx) = get(weights, "onnx") else {
            let formats: Vec<String> = weights
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            return Err(self.err(format!(
                "has no ONNX weights (it has: {}); export the model to ONNX first",
                formats.join(", ")
            )));
        };
        let source = get(onnx, "source")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err("onnx weights have no `source`"))?;
        if source.contains("://") {
            return Err(self.err(format!(
                "onnx weights point to {source}: brightseg never downloads; put the file in the \
                 model folder and name it relative to the description"
            )));
        }
        let rel = Path::new(source);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(self.err(format!(
                "onnx weights source `{source}` points outside the model folder: it must be a \
                 file inside the folder"
            )));
        }
        Ok(folder.join(rel))
    }
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
