//! The parser of model descriptions: every field brightseg reads, checked, with a message that
//! names what it cannot honour and where.

use super::*;

/// Parses description `text` of a model living in `folder`, read from `card_path`.
pub(super) fn card(text: &str, folder: &Path, card_path: &Path) -> Result<ModelCard> {
    let where_ = card_path.display().to_string();
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        Error::model(format!(
            "{where_} is not valid YAML: {e}: fix or replace the file"
        ))
    })?;
    Parser { doc: &doc, where_ }.card(folder, card_path)
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
