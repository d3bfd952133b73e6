//! Model folders as the bioimage.io model zoo checks them: the test tensors, sample tensors and
//! cover picture an exported model carries, and the checks a zoo upload runs (format, files,
//! the test output reproduced from the test input), reported in the specification's words
//! where it has any.
//!
//! The zoo's own tools (`bioimageio.spec` validation, `bioimageio.core`'s `test_model`) stay
//! the judge: `tests/e2e/zoo.rs` runs them on every shipped and every freshly trained model.
//! This module lets a user see the same verdict without Python.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::image::{Calibration, PixelData, Plane};
use crate::io::{write_png_rgb, write_tiff, OutputPlane};
use crate::model::{Axis, AxisSize, ModelCard};
use crate::normalize::Normalizer;
use crate::pipeline::Model;
use crate::{Error, Result};

/// Test input a model folder carries (`.npy`, the raw image before preprocessing).
pub const TEST_INPUT: &str = "test_input.npy";
/// Expected model output for [`TEST_INPUT`] (`.npy`, after postprocessing).
pub const TEST_OUTPUT: &str = "test_output.npy";
/// The test input as a TIFF that image viewers open (the zoo's `sample_tensor`).
pub const SAMPLE_INPUT: &str = "sample_input.tif";
/// The expected output as a TIFF (the zoo's `sample_tensor`).
pub const SAMPLE_OUTPUT: &str = "sample_output.tif";
/// Cover picture: the test input beside the objects the model finds in it (2:1).
pub const COVER: &str = "cover.png";
/// Largest edge of a test input, in pixels: enough to hold several objects, small enough that
/// a zoo test runs in seconds.
pub const TEST_EDGE: usize = 256;

/// How far a reproduced output may differ from the expected one: the zoo's
/// `reproducibility_tolerance` (an element mismatches when `|out − expected| > absolute +
/// relative · |expected|`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part.
    pub relative: f64,
    /// Absolute part.
    pub absolute: f64,
    /// Mismatched elements tolerated per million.
    pub mismatched_per_million: f64,
}

impl Default for Tolerance {
    /// The zoo's defaults (bioimageio.spec 0.5).
    fn default() -> Self {
        Tolerance {
            relative: 1e-3,
            absolute: 1e-3,
            mismatched_per_million: 100.0,
        }
    }
}

/// The smallest size a spatial axis may declare when its output crops `halo` pixels per side:
/// the zoo requires more than `2 · halo`, and every size must be a multiple of `multiple`.
pub fn min_size_for_halo(multiple: usize, halo: usize) -> usize {
    let multiple = multiple.max(1);
    (2 * halo + 1).div_ceil(multiple) * multiple
}

/// The largest valid size of `axis` not above `extent` (nor [`TEST_EDGE`]), or its minimum
/// when `extent` is smaller.
fn test_edge(axis: &AxisSize, extent: usize) -> usize {
    let limit = extent.min(TEST_EDGE);
    if limit <= axis.min || axis.step == 0 {
        return axis.min;
    }
    axis.min + (limit - axis.min) / axis.step * axis.step
}

/// A test input for a model with these valid sizes: the centre of `plane` cut to a valid size of
/// at most [`TEST_EDGE`] per side, or, for a plane smaller than the model's minimum, the plane
/// mirrored out to that minimum. Values are kept as they are (raw, before preprocessing).
pub fn test_input_from(plane: &Plane, size_y: AxisSize, size_x: AxisSize) -> Result<Plane> {
    let (w, h) = (plane.width(), plane.height());
    let (tw, th) = (test_edge(&size_x, w), test_edge(&size_y, h));
    let x0 = w.saturating_sub(tw) / 2;
    let y0 = h.saturating_sub(th) / 2;
    let mut out = Vec::with_capacity(tw * th);
    for y in 0..th {
        let sy = crate::tiling::mirror((y0 + y) as isize, h);
        for x in 0..tw {
            let sx = crate::tiling::mirror((x0 + x) as isize, w);
            out.push(plane.value(sy * w + sx));
        }
    }
    Plane::new(tw, th, PixelData::F32(out))
}

/// The output a model gives for `input` as the zoo computes it: the description's
/// preprocessing over the whole input, the network on the whole input in one piece (no tiles),
/// then its postprocessing, for the channel brightseg reads.
pub fn expected_output(model: &Model, input: &Plane) -> Result<Vec<f32>> {
    let card = model.card();
    let mut values = raw_values(input);
    Normalizer::for_plane(input, &card.preprocessing).apply_all(&mut values);
    model.run_tile(&values, input.height(), input.width())
}

/// The pixel values of `plane` as `f32`, row-major.
fn raw_values(plane: &Plane) -> Vec<f32> {
    (0..plane.width() * plane.height())
        .map(|i| plane.value(i))
        .collect()
}

/// The shape a one-channel tensor of `h × w` has on `axes` (batch and channel 1).
fn shape_on(axes: &[Axis], h: usize, w: usize) -> Vec<u64> {
    axes.iter()
        .map(|a| match a {
            Axis::Batch | Axis::Channel => 1,
            Axis::Y => h as u64,
            Axis::X => w as u64,
        })
        .collect()
}

/// Writes an `f32` array as a NumPy `.npy` file, atomically.
pub fn write_npy(path: &Path, shape: &[u64], values: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    let mut bytes = Vec::with_capacity(128 + 4 * values.len());
    let encoded = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()
        .and_then(|mut writer| {
            writer.extend(values.iter().copied())?;
            writer.finish()
        });
    encoded.map_err(|e| Error::io("encode", path, e))?;
    crate::io::write_bytes_atomically(path, &bytes)
}

/// A NumPy array read from a `.npy` file, as `f32` values with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<f32>,
}

/// Reads a `.npy` file of any real number type (or bool) as `f32`.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let bad =
        |e: std::io::Error| Error::invalid(format!("{} is not a NumPy array: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    if npy.order() != npyz::Order::C {
        return Err(Error::invalid(format!(
            "{} is stored in Fortran order; brightseg reads C-order arrays",
            path.display()
        )));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let npyz::DType::Plain(type_str) = npy.dtype() else {
        return Err(Error::invalid(format!(
            "{} holds a structured array, not numbers",
            path.display()
        )));
    };
    let size = type_str.size_field();
    let values: Vec<f32> = match (type_str.type_char(), size) {
        (npyz::TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(bad)?,
        (npyz::TypeChar::Float, 8) => to_f32(npy.into_vec::<f64>().map_err(bad)?),
        (npyz::TypeChar::Uint, 1) => to_f32(npy.into_vec::<u8>().map_err(bad)?),
        (npyz::TypeChar::Uint, 2) => to_f32(npy.into_vec::<u16>().map_err(bad)?),
        (npyz::TypeChar::Uint, 4) => to_f32(npy.into_vec::<u32>().map_err(bad)?),
        (npyz::TypeChar::Int, 1) => to_f32(npy.into_vec::<i8>().map_err(bad)?),
        (npyz::TypeChar::Int, 2) => to_f32(npy.into_vec::<i16>().map_err(bad)?),
        (npyz::TypeChar::Int, 4) => to_f32(npy.into_vec::<i32>().map_err(bad)?),
        (npyz::TypeChar::Bool, 1) => npy
            .into_vec::<bool>()
            .map_err(bad)?
            .into_iter()
            .map(|v| f32::from(u8::from(v)))
            .collect(),
        _ => {
            return Err(Error::invalid(format!(
                "{} holds values of type {type_str}, which brightseg does not read",
                path.display()
            )))
        }
    };
    if values.len() != shape.iter().product::<usize>() {
        return Err(Error::invalid(format!(
            "{} is truncated: its shape {shape:?} needs more values",
            path.display()
        )));
    }
    Ok(NpyArray { shape, values })
}

/// Numbers of any type that converts to `f64` without loss, as `f32` (rounded to nearest).
fn to_f32<T: Into<f64>>(values: Vec<T>) -> Vec<f32> {
    values.into_iter().map(|v| v.into() as f32).collect()
}

/// Writes the files a zoo test needs into the model's folder ([`TEST_INPUT`], [`TEST_OUTPUT`],
/// [`SAMPLE_INPUT`], [`SAMPLE_OUTPUT`], [`COVER`]): `input` (raw values, a valid size: see
/// [`test_input_from`]) and the output the model gives for it here ([`expected_output`]); the
/// cover outlines the objects above `threshold`. Returns the expected output.
pub fn write_test_files(model: &Model, input: &Plane, threshold: f32) -> Result<Vec<f32>> {
    let card = model.card();
    let (w, h) = (input.width(), input.height());
    let output = expected_output(model, input)?;
    let raw = raw_values(input);
    let folder = &card.folder;
    write_npy(
        &folder.join(TEST_INPUT),
        &shape_on(&card.input_axes, h, w),
        &raw,
    )?;
    write_npy(
        &folder.join(TEST_OUTPUT),
        &shape_on(&card.output_axes, h, w),
        &output,
    )?;
    let calibration = card
        .pixel_size_um
        .map(Calibration::square)
        .unwrap_or_default();
    write_tiff(
        &folder.join(SAMPLE_INPUT),
        w,
        h,
        &[OutputPlane::Float(&raw)],
        1,
        calibration,
    )?;
    write_tiff(
        &folder.join(SAMPLE_OUTPUT),
        w,
        h,
        &[OutputPlane::Float(&output)],
        1,
        calibration,
    )?;
    let (cover_w, cover) = cover_rgb(input, &output, threshold);
    write_png_rgb(&folder.join(COVER), cover_w, h, &cover)?;
    Ok(output)
}

/// The cover picture: `input` on the left, and on the right the same with the outline of every
/// object of `probability` above `threshold` (2:1, the zoo's preferred aspect for a square input).
fn cover_rgb(input: &Plane, probability: &[f32], threshold: f32) -> (usize, Vec<u8>) {
    let (w, h) = (input.width(), input.height());
    let mask: Vec<bool> = probability.iter().map(|&p| p > threshold).collect();
    let objects = crate::objects::label_components(&mask, w, h, false);
    let none = crate::objects::Labels {
        width: w,
        height: h,
        data: vec![0; w * h],
        count: 0,
    };
    let left = crate::render::overlay_rgb(input, &none);
    let right = crate::render::overlay_rgb(input, &objects);
    let mut rgb = Vec::with_capacity(6 * w * h);
    for y in 0..h {
        rgb.extend_from_slice(&left[3 * y * w..3 * (y + 1) * w]);
        rgb.extend_from_slice(&right[3 * y * w..3 * (y + 1) * w]);
    }
    (2 * w, rgb)
}

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The zoo would accept it but asks for more (FAIR metadata, documentation).
    Warning,
    /// The zoo's validation or test would reject the model.
    Error,
}

/// One thing a zoo upload would object to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the description (`inputs.0.test_tensor`), as the zoo's validator names it;
    /// empty for the model as a whole.
    pub location: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

/// The test output reproduced from the test input.
#[derive(Debug, Clone, PartialEq)]
pub struct Reproduction {
    /// Elements compared.
    pub elements: usize,
    /// Elements outside the tolerance.
    pub mismatched: usize,
    /// Largest absolute difference.
    pub max_difference: f64,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// Which backend ran the model.
    pub backend: String,
}

/// What [`check_model`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooReport {
    /// The description file checked.
    pub card_path: PathBuf,
    /// Format version it declares.
    pub format_version: String,
    /// Everything a zoo upload would object to, errors first.
    pub findings: Vec<Finding>,
    /// The test run, when the model could run and carries test tensors.
    pub reproduction: Option<Reproduction>,
}

impl ZooReport {
    /// True when no finding is an error.
    pub fn passes(&self) -> bool {
        self.findings.iter().all(|f| f.severity < Severity::Error)
    }
}

fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

/// Collects findings while walking a description.
struct Checker<'a> {
    folder: &'a Path,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            location: location.into(),
            message: message.into(),
        });
    }

    fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, location, message);
    }

    fn warn(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, location, message);
    }

    fn required(&mut self, doc: &Value, key: &str, location: &str) -> bool {
        if get(doc, key).is_none() {
            self.error(location, "Field required");
            return false;
        }
        true
    }

    /// A file named relative to the description must exist (URLs are the zoo's to check).
    fn file(&mut self, source: Option<&Value>, location: &str) -> Option<PathBuf> {
        let Some(name) = source.and_then(Value::as_str) else {
            self.error(location, "Field required");
            return None;
        };
        if name.contains("://") {
            return None;
        }
        let path = self.folder.join(name);
        if !path.is_file() {
            self.error(
                location,
                format!("file not found: {name} (next to the description)"),
            );
            return None;
        }
        Some(path)
    }

    fn extra_keys(&mut self, node: &Value, allowed: &[&str], location: &str, hint: &str) {
        let Some(map) = node.as_mapping() else { return };
        for key in map.keys().filter_map(Value::as_str) {
            if !allowed.contains(&key) {
                self.error(
                    format!("{location}.{key}"),
                    format!("Extra inputs are not permitted{hint}"),
                );
            }
        }
    }
}

/// Allowed keys of a 0.5 tensor description.
const TENSOR_KEYS: &[&str] = &[
    "id",
    "description",
    "axes",
    "test_tensor",
    "sample_tensor",
    "data",
    "optional",
    "preprocessing",
    "postprocessing",
];

/// Allowed kwargs of each 0.5 processing step.
fn step_kwargs(id: &str) -> Option<&'static [&'static str]> {
    Some(match id {
        "scale_range" => &[
            "axes",
            "min_percentile",
            "max_percentile",
            "eps",
            "reference_tensor",
        ],
        "zero_mean_unit_variance" => &["axes", "eps"],
        "fixed_zero_mean_unit_variance" => &["axis", "mean", "std", "eps"],
        "scale_linear" => &["axis", "gain", "offset"],
        "scale_mean_variance" => &["reference_tensor", "axes", "eps"],
        "clip" => &["min", "max", "min_percentile", "max_percentile", "axes"],
        "ensure_dtype" => &["dtype"],
        "binarize" => &["axis", "threshold"],
        "sigmoid" | "softmax" => &["axis"],
        _ => return None,
    })
}

/// Runs the checks a bioimage.io zoo upload runs, without Python: the description's format
/// (for 0.5: the fields and values the specification allows), the files it names, and the
/// test output reproduced from the test input by the model here, within the description's
/// reproducibility tolerance. `path` is a model folder or its description file.
pub fn check_model(path: &Path) -> Result<ZooReport> {
    let card_path = crate::model::find_card(path)?;
    let folder = card_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let text = std::fs::read_to_string(&card_path).map_err(|e| Error::io("read", &card_path, e))?;
    let doc: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| Error::model(format!("{} is not valid YAML: {e}", card_path.display())))?;
    let format_version = get(&doc, "format_version")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })
        .unwrap_or_default();
    let mut checker = Checker {
        folder: &folder,
        findings: Vec::new(),
    };
    if format_version.is_empty() {
        checker.error("format_version", "Field required");
    } else if format_version.starts_with("0.5") {
        check_v05(&doc, &mut checker);
    } else if format_version.starts_with("0.4") {
        check_v04(&doc, &mut checker);
    } else {
        checker.error(
            "format_version",
            format!("format {format_version} is not a model format the zoo reads (0.4 or 0.5)"),
        );
    }
    let reproduction = match Model::load(&card_path) {
        Ok(model) => reproduce(&model, &doc, &format_version, &mut checker),
        Err(e) => {
            checker.error("", format!("brightseg cannot run it: {e}"));
            None
        }
    };
    let mut findings = checker.findings;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(ZooReport {
        card_path,
        format_version,
        findings,
        reproduction,
    })
}

/// Fields every model description needs, in format 0.4 and 0.5.
const REQUIRED_FIELDS: [&str; 6] = [
    "name",
    "description",
    "license",
    "inputs",
    "outputs",
    "weights",
];

fn check_v05(doc: &Value, c: &mut Checker<'_>) {
    for key in REQUIRED_FIELDS {
        c.required(doc, key, key);
    }
    match get(doc, "authors").and_then(Value::as_sequence) {
        Some(list) if !list.is_empty() => {
            let has_github = list.iter().any(|a| get(a, "github_user").is_some());
            if !has_github && get(doc, "maintainers").is_none() {
                c.warn(
                    "",
                    "Missing `maintainers` or any author in `authors` with a specified \
                     `github_user` name. (The zoo needs one to accept an upload: add \
                     `maintainers: [{github_user: YOUR-NAME}]`.)",
                );
            }
        }
        _ => c.error("authors", "Field required (at least one author)"),
    }
    match get(doc, "cite").and_then(Value::as_sequence) {
        Some(list) if !list.is_empty() => {
            for (i, entry) in list.iter().enumerate() {
                if get(entry, "text").is_none() {
                    c.error(format!("cite.{i}.text"), "Field required");
                }
                if get(entry, "doi").is_none() && get(entry, "url").is_none() {
                    c.error(format!("cite.{i}"), "Either 'doi' or 'url' is required");
                }
            }
        }
        _ => c.error(
            "cite",
            "Field required (at least one entry with text and a doi or url)",
        ),
    }
    match get(doc, "documentation") {
        Some(doc_file) => {
            if let Some(path) = c.file(Some(doc_file), "documentation") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let has_validation = text.lines().any(|l| {
                    l.trim_start().starts_with('#')
                        && l.trim_start_matches('#')
                            .trim()
                            .eq_ignore_ascii_case("validation")
                });
                if !has_validation {
                    c.warn(
                        "documentation",
                        "No '# Validation' (sub)section found: say how the model was \
                         validated (data, metrics)",
                    );
                }
            }
        }
        None => c.error("documentation", "Field required"),
    }
    match get(doc, "covers").and_then(Value::as_sequence) {
        Some(list) if !list.is_empty() => {
            for (i, cover) in list.iter().enumerate() {
                c.file(Some(cover), &format!("covers.{i}"));
            }
        }
        _ => c.warn("covers", "Needs to be filled for FAIR compliance"),
    }
    if let Some(training_data) = get(doc, "training_data") {
        if !training_data.is_mapping() {
            c.error(
                "training_data",
                "Input should be a valid dictionary (a dataset `id` or a dataset description); \
                 free-text provenance belongs in the documentation or `config`",
            );
        }
    }
    if let Some(weights) = get(doc, "weights").and_then(Value::as_mapping) {
        for (format, entry) in weights {
            let format = format.as_str().unwrap_or("?");
            c.file(get(entry, "source"), &format!("weights.{format}.source"));
            if format == "onnx" && get(entry, "opset_version").is_none() {
                c.error("weights.onnx.opset_version", "Field required");
            }
        }
    }
    let inputs = tensors(doc, "inputs");
    let outputs = tensors(doc, "outputs");
    for (kind, list) in [("inputs", &inputs), ("outputs", &outputs)] {
        for (i, tensor) in list.iter().enumerate() {
            let at = format!("{kind}.{i}");
            c.extra_keys(
                tensor,
                TENSOR_KEYS,
                &at,
                if kind == "inputs" {
                    " (format 0.5 describes the value type under `data: {type: …}`)"
                } else {
                    ""
                },
            );
            c.file(
                get(tensor, "test_tensor").and_then(|t| get(t, "source")),
                &format!("{at}.test_tensor"),
            );
            match get(tensor, "sample_tensor") {
                Some(sample) => {
                    c.file(get(sample, "source"), &format!("{at}.sample_tensor"));
                }
                None => c.warn(
                    format!("{at}.sample_tensor"),
                    "Needs to be filled for FAIR compliance",
                ),
            }
            for key in ["preprocessing", "postprocessing"] {
                let steps = get(tensor, key).and_then(Value::as_sequence);
                for (j, step) in steps.into_iter().flatten().enumerate() {
                    let id = get(step, "id").and_then(Value::as_str).unwrap_or("");
                    let loc = format!("{at}.{key}.{j}");
                    match step_kwargs(id) {
                        Some(allowed) => {
                            if let Some(kwargs) = get(step, "kwargs") {
                                c.extra_keys(
                                    kwargs,
                                    allowed,
                                    &format!("{loc}.kwargs"),
                                    " (format 0.4's `mode` is gone in 0.5: leave the batch \
                                     axis out of `axes` to compute per sample)",
                                );
                            }
                        }
                        None => c.error(
                            format!("{loc}.id"),
                            format!("unknown processing step {id:?}"),
                        ),
                    }
                }
            }
        }
    }
    check_halos(&inputs, &outputs, c);
    check_reference_sizes(&inputs, &outputs, c);
}

/// The zoo sizes an output axis from the input axis it references as `size · scale_in /
/// scale_out + offset`, in floating point, and rejects the model unless that is exactly the
/// size: checked for the test input's size and the first three sizes of a parameterised axis
/// (the sizes `test_model` runs).
fn check_reference_sizes(inputs: &[&Value], outputs: &[&Value], c: &mut Checker<'_>) {
    let axis_list = |t: &Value| -> Vec<Value> {
        get(t, "axes")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default()
    };
    let scale = |a: &Value| get(a, "scale").and_then(Value::as_f64).unwrap_or(1.0);
    let unit = |a: &Value| get(a, "unit").and_then(Value::as_str).map(str::to_owned);
    for (i, output) in outputs.iter().enumerate() {
        for axis in axis_list(output) {
            let Some(size) = get(&axis, "size") else {
                continue;
            };
            let (Some(t), Some(a)) = (
                get(size, "tensor_id").and_then(Value::as_str),
                get(size, "axis_id").and_then(Value::as_str),
            ) else {
                continue;
            };
            let offset = get(size, "offset").and_then(Value::as_f64).unwrap_or(0.0);
            let id = axis_id(&axis);
            let Some(input) = inputs
                .iter()
                .find(|x| get(x, "id").and_then(Value::as_str) == Some(t))
            else {
                continue;
            };
            let input_axes = axis_list(input);
            let Some(position) = input_axes.iter().position(|x| axis_id(x) == a) else {
                c.error(
                    format!("outputs.{i}.axes.{id}.size.axis_id"),
                    format!("Unknown tensor axis reference '{t}.{a}'"),
                );
                continue;
            };
            let reference = &input_axes[position];
            if unit(&axis) != unit(reference) {
                c.error(
                    format!("outputs.{i}.axes.{id}.size"),
                    format!(
                        "`SizeReference` requires axis and reference axis to have the same \
                         `unit`, but {:?}!={:?}",
                        unit(&axis),
                        unit(reference)
                    ),
                );
                continue;
            }
            let mut sizes: Vec<u64> = Vec::new();
            if let Some(ref_size) = get(reference, "size") {
                if let Some(n) = ref_size.as_u64() {
                    sizes.push(n);
                } else if let Some(min) = get(ref_size, "min").and_then(Value::as_u64) {
                    let step = get(ref_size, "step").and_then(Value::as_u64).unwrap_or(0);
                    sizes.extend((0..3).map(|k| min + k * step));
                }
            }
            let test_input = get(input, "test_tensor")
                .and_then(|f| get(f, "source"))
                .and_then(Value::as_str)
                .and_then(|name| read_npy(&c.folder.join(name)).ok());
            if let Some(n) = test_input.and_then(|t| t.shape.get(position).copied()) {
                sizes.push(n as u64);
            }
            for n in sizes {
                let expected = n as f64 * scale(reference) / scale(&axis) + offset;
                if expected != expected.round() {
                    c.error(
                        "outputs",
                        format!(
                            "axis '{id}' invalid for referenced size {n}; expected {expected:?} \
                             (the zoo computes size · scale of {t}.{a} / scale of {id} in \
                             floating point: give both axes scales whose ratio is exact, e.g. \
                             the same number with few significant bits)"
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// An axis's id; format 0.5 gives axes without one the id of their type (`x` for space).
fn axis_id(axis: &Value) -> String {
    if let Some(id) = get(axis, "id").and_then(Value::as_str) {
        return id.to_owned();
    }
    match get(axis, "type").and_then(Value::as_str) {
        Some("space") => "x".into(),
        Some(other) => other.into(),
        None => "?".into(),
    }
}

fn tensors<'d>(doc: &'d Value, key: &str) -> Vec<&'d Value> {
    get(doc, key)
        .and_then(Value::as_sequence)
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

/// The zoo requires every output axis with a halo to be larger than twice the halo at its
/// smallest size (for an axis sized from an input axis: the input's minimum).
fn check_halos(inputs: &[&Value], outputs: &[&Value], c: &mut Checker<'_>) {
    let min_of = |tensor: &Value, axis_id: &str| -> Option<u64> {
        let axis = get(tensor, "axes")?
            .as_sequence()?
            .iter()
            .find(|a| self::axis_id(a) == axis_id)?;
        let size = get(axis, "size")?;
        size.as_u64()
            .or_else(|| get(size, "min").and_then(Value::as_u64))
    };
    for (i, output) in outputs.iter().enumerate() {
        let axes = get(output, "axes").and_then(Value::as_sequence);
        for (j, axis) in axes.into_iter().flatten().enumerate() {
            let Some(halo) = get(axis, "halo").and_then(Value::as_u64) else {
                continue;
            };
            let id = get(axis, "id").and_then(Value::as_str).unwrap_or("?");
            let Some(size) = get(axis, "size") else {
                continue;
            };
            let min = match (get(size, "tensor_id"), get(size, "axis_id")) {
                (Some(t), Some(a)) => {
                    let (t, a) = (t.as_str().unwrap_or(""), a.as_str().unwrap_or(""));
                    match inputs
                        .iter()
                        .find(|x| get(x, "id").and_then(Value::as_str) == Some(t))
                    {
                        Some(input) => min_of(input, a),
                        None => {
                            c.error(
                                format!("outputs.{i}.axes.{j}.size.tensor_id"),
                                format!("no input tensor has id {t:?}"),
                            );
                            continue;
                        }
                    }
                }
                _ => size
                    .as_u64()
                    .or_else(|| get(size, "min").and_then(Value::as_u64)),
            };
            if let Some(min) = min {
                if min <= 2 * halo {
                    c.error(
                        "outputs",
                        format!(
                            "axis {id} with minimum size {min} is too small for halo {halo} \
                             (the minimum must exceed 2 × halo)"
                        ),
                    );
                }
            }
        }
    }
}

fn check_v04(doc: &Value, c: &mut Checker<'_>) {
    for key in REQUIRED_FIELDS.into_iter().chain(["authors"]) {
        c.required(doc, key, key);
    }
    for key in ["test_inputs", "test_outputs"] {
        match get(doc, key).and_then(Value::as_sequence) {
            Some(list) if !list.is_empty() => {
                for (i, f) in list.iter().enumerate() {
                    c.file(Some(f), &format!("{key}.{i}"));
                }
            }
            _ => c.error(key, "Field required"),
        }
    }
}

/// The test tensor files a description names: (input, output).
fn test_tensor_paths(
    doc: &Value,
    format_version: &str,
    folder: &Path,
) -> Option<(PathBuf, PathBuf)> {
    let first = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| folder.join(s));
    if format_version.starts_with("0.4") {
        let input = first(get(doc, "test_inputs").and_then(|l| l.as_sequence()?.first()))?;
        let output = first(get(doc, "test_outputs").and_then(|l| l.as_sequence()?.first()))?;
        return Some((input, output));
    }
    let of = |key: &str| {
        let tensor = get(doc, key)?.as_sequence()?.first()?;
        first(get(get(tensor, "test_tensor")?, "source"))
    };
    Some((of("inputs")?, of("outputs")?))
}

fn tolerance_of(doc: &Value) -> Tolerance {
    let entry = get(doc, "config")
        .and_then(|c| get(c, "bioimageio"))
        .and_then(|b| get(b, "reproducibility_tolerance"))
        .and_then(|t| t.as_sequence()?.first().cloned());
    let mut tolerance = Tolerance::default();
    if let Some(entry) = entry {
        let f = |k: &str| get(&entry, k).and_then(Value::as_f64);
        tolerance.relative = f("relative_tolerance").unwrap_or(tolerance.relative);
        tolerance.absolute = f("absolute_tolerance").unwrap_or(tolerance.absolute);
        tolerance.mismatched_per_million =
            f("mismatched_elements_per_million").unwrap_or(tolerance.mismatched_per_million);
    }
    tolerance
}

/// Runs the model on the test input and compares with the test output, as `test_model` does.
fn reproduce(
    model: &Model,
    doc: &Value,
    format_version: &str,
    c: &mut Checker<'_>,
) -> Option<Reproduction> {
    let card = model.card();
    let (input_path, output_path) = test_tensor_paths(doc, format_version, &card.folder)?;
    let (input, expected) = match (read_npy(&input_path), read_npy(&output_path)) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => {
            if input_path.is_file() && output_path.is_file() {
                c.error("", format!("the test tensors cannot be read: {e}"));
            }
            return None;
        }
    };
    let Some((h, w)) = plane_size(&card.input_axes, &input.shape) else {
        c.error(
            "inputs.0.test_tensor",
            format!(
                "the test input's shape {:?} does not fit the input axes {:?} with one batch \
                 and one channel",
                input.shape, card.input_axes
            ),
        );
        return None;
    };
    let fits = |s: &AxisSize, n: usize| {
        n >= s.min
            && (if s.step == 0 {
                n == s.min
            } else {
                (n - s.min).is_multiple_of(s.step)
            })
    };
    if !fits(&card.size_y, h) || !fits(&card.size_x, w) {
        c.error(
            "inputs.0.test_tensor",
            format!(
                "the test input is {h} × {w}, not a size the input axes allow (y: {:?}, x: {:?})",
                card.size_y, card.size_x
            ),
        );
        return None;
    }
    let plane = Plane::new(w, h, PixelData::F32(input.values)).ok()?;
    let ours = match expected_output(model, &plane) {
        Ok(v) => v,
        Err(e) => {
            c.error(
                "weights.onnx",
                format!("the model does not run on the test input: {e}"),
            );
            return None;
        }
    };
    let Some(expected) = channel_of(card, &expected, h, w) else {
        c.error(
            "outputs.0.test_tensor",
            format!(
                "the test output's shape {:?} does not fit the output axes {:?} for a {h} × {w} \
                 input",
                expected.shape, card.output_axes
            ),
        );
        return None;
    };
    let tolerance = tolerance_of(doc);
    let mut mismatched = 0;
    let mut max_difference = 0f64;
    for (&a, &b) in ours.iter().zip(&expected) {
        let (a, b) = (f64::from(a), f64::from(b));
        let d = (a - b).abs();
        max_difference = max_difference.max(if d.is_nan() { f64::INFINITY } else { d });
        if d.is_nan() || d > tolerance.absolute + tolerance.relative * b.abs() {
            mismatched += 1;
        }
    }
    let allowed = (tolerance.mismatched_per_million * ours.len() as f64 / 1e6).floor() as usize;
    if mismatched > allowed {
        c.error(
            "weights.onnx",
            format!(
                "Output disagrees with the test output: {mismatched} of {} elements differ by \
                 more than {} + {} × |expected| (largest difference {max_difference:.3e}; {allowed} \
                 tolerated)",
                ours.len(),
                tolerance.absolute,
                tolerance.relative
            ),
        );
    }
    Some(Reproduction {
        elements: ours.len(),
        mismatched,
        max_difference,
        tolerance,
        backend: model.backend_description(),
    })
}

/// `(h, w)` of an array on `axes` whose batch and channel are 1.
fn plane_size(axes: &[Axis], shape: &[usize]) -> Option<(usize, usize)> {
    if axes.len() != shape.len() {
        return None;
    }
    let (mut h, mut w) = (None, None);
    for (axis, &n) in axes.iter().zip(shape) {
        match axis {
            Axis::Batch | Axis::Channel if n != 1 => return None,
            Axis::Y => h = Some(n),
            Axis::X => w = Some(n),
            _ => {}
        }
    }
    Some((h?, w?))
}

/// The `h × w` plane of the channel brightseg reads from an expected output (postprocessing is
/// already in it).
fn channel_of(card: &ModelCard, array: &NpyArray, h: usize, w: usize) -> Option<Vec<f32>> {
    if array.shape.len() != card.output_axes.len() {
        return None;
    }
    let mut strides = vec![1usize; array.shape.len()];
    for i in (0..array.shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * array.shape[i + 1];
    }
    let (mut sy, mut sx, mut base) = (0, 0, 0);
    for (i, axis) in card.output_axes.iter().enumerate() {
        match axis {
            Axis::Y if array.shape[i] == h => sy = strides[i],
            Axis::X if array.shape[i] == w => sx = strides[i],
            Axis::Channel if card.output_channel < array.shape[i] => {
                base = card.output_channel * strides[i]
            }
            Axis::Batch if array.shape[i] == 1 => {}
            _ => return None,
        }
    }
    Some(
        (0..h * w)
            .map(|i| array.values[base + (i / w) * sy + (i % w) * sx])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description brightseg 0.1.0 wrote, which the zoo's validator rejects.
    const OLD_CARD: &str =
        include_str!("../../../tests/fixtures/nuclei-brightfield-0.1.0.bioimageio.yaml");

    fn plane(w: usize, h: usize) -> Plane {
        let values = (0..w * h).map(|i| i as f32).collect();
        Plane::new(w, h, PixelData::F32(values)).expect("plane")
    }

    #[test]
    fn npy_files_round_trip_and_other_number_types_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.npy");
        let values = [0.5f32, -1.25, 3.0e6, f32::MIN_POSITIVE, 7.0, 8.0];
        write_npy(&path, &[1, 2, 3], &values).expect("write");
        let back = read_npy(&path).expect("read");
        assert_eq!(back.shape, vec![1, 2, 3]);
        assert_eq!(back.values, values);

        // uint16, as a camera image would be saved from NumPy.
        use npyz::WriterBuilder;
        let mut bytes = Vec::new();
        let mut writer = npyz::WriteOptions::<u16>::new()
            .default_dtype()
            .shape(&[2, 2])
            .writer(&mut bytes)
            .begin_nd()
            .expect("header");
        writer.extend([0u16, 1, 65535, 42]).expect("values");
        writer.finish().expect("finish");
        let path16 = dir.path().join("b.npy");
        std::fs::write(&path16, &bytes).expect("write");
        assert_eq!(
            read_npy(&path16).expect("read").values,
            [0.0, 1.0, 65535.0, 42.0]
        );

        std::fs::write(dir.path().join("c.npy"), b"not numpy").expect("write");
        let err = read_npy(&dir.path().join("c.npy")).expect_err("garbage");
        assert!(err.to_string().contains("is not a NumPy array"), "{err}");
    }

    #[test]
    fn minimum_sizes_leave_room_for_the_halo() {
        assert_eq!(min_size_for_halo(16, 32), 80);
        assert_eq!(min_size_for_halo(8, 32), 72);
        assert_eq!(min_size_for_halo(32, 32), 96);
        assert_eq!(min_size_for_halo(1, 0), 1);
        assert_eq!(min_size_for_halo(0, 4), 9);
    }

    #[test]
    fn test_inputs_are_centre_crops_of_a_valid_size_or_mirrored_up_to_the_minimum() {
        let axis = AxisSize { min: 80, step: 16 };
        // 300 × 100: the centre 256 × 96.
        let input = test_input_from(&plane(300, 100), axis, axis).expect("crop");
        assert_eq!((input.width(), input.height()), (256, 96));
        let (x0, y0) = ((300 - 256) / 2, (100 - 96) / 2);
        assert_eq!(input.value(0), (y0 * 300 + x0) as f32);
        assert_eq!(
            input.value(96 * 256 - 1),
            ((y0 + 95) * 300 + x0 + 255) as f32
        );
        // 50 × 50: mirrored out to 80 × 80; the plane itself sits at the top left.
        let small = test_input_from(&plane(50, 50), axis, axis).expect("pad");
        assert_eq!((small.width(), small.height()), (80, 80));
        assert_eq!(small.value(49), 49.0);
        assert_eq!(small.value(50), 49.0, "mirrored at the edge");
        assert_eq!(small.value(51), 48.0);
    }

    #[test]
    fn the_old_description_is_rejected_for_what_the_zoo_rejects() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("bioimageio.yaml"), OLD_CARD).expect("write");
        std::fs::write(dir.path().join("README.md"), "# a model\n").expect("write");
        let report = check_model(dir.path()).expect("checked");
        assert!(!report.passes());
        assert_eq!(report.format_version, "0.5.4");
        let has = |location: &str, words: &str| {
            report
                .findings
                .iter()
                .any(|f| f.location == location && f.message.contains(words))
        };
        assert!(has("training_data", "valid dictionary"), "{report:#?}");
        assert!(has("inputs.0.data_type", "Extra inputs are not permitted"));
        assert!(has("inputs.0.preprocessing.0.kwargs.mode", "Extra inputs"));
        assert!(has("inputs.0.test_tensor", "Field required"));
        assert!(has("outputs.0.test_tensor", "Field required"));
        assert!(has("outputs", "minimum size 16 is too small for halo 32"));
        assert!(has("cite", "Field required"));
        assert!(has("weights.onnx.source", "file not found: model.onnx"));
        assert!(has("documentation", "No '# Validation'"));
        assert!(has("covers", "FAIR"));
        // Errors come first.
        let first_warning = report
            .findings
            .iter()
            .position(|f| f.severity == Severity::Warning)
            .expect("warnings");
        assert!(report.findings[first_warning..]
            .iter()
            .all(|f| f.severity == Severity::Warning));
    }

    /// The zoo computes referenced sizes in floating point; scales whose ratio is not exact
    /// fail for some sizes (the shipped model's 0.619 at 208 pixels did).
    #[test]
    fn referenced_sizes_must_come_out_whole_in_floating_point() {
        let card = |scale: f64| {
            format!(
                "format_version: 0.5.4\ninputs:\n  - id: input\n    axes:\n      - type: space\n        \
                 id: y\n        size: {{min: 80, step: 16}}\n        unit: micrometer\n        scale: \
                 {scale}\n    test_tensor: {{source: t.npy}}\noutputs:\n  - id: p\n    axes:\n      \
                 - type: space\n        id: y\n        size: {{tensor_id: input, axis_id: y}}\n        \
                 unit: micrometer\n        scale: {scale}\n"
            )
        };
        let dir = tempfile::tempdir().expect("tmp");
        write_npy(&dir.path().join("t.npy"), &[208], &[0.0; 208]).expect("npy");
        let findings = |scale: f64| {
            let doc: Value = serde_yaml_ng::from_str(&card(scale)).expect("yaml");
            let mut checker = Checker {
                folder: dir.path(),
                findings: Vec::new(),
            };
            check_reference_sizes(
                &tensors(&doc, "inputs"),
                &tensors(&doc, "outputs"),
                &mut checker,
            );
            checker.findings
        };
        let bad = findings(0.619);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].message.contains("208.00000000000003"), "{bad:?}");
        // The same pixel size to 16 significant bits (what the exporter writes) is exact.
        assert!(findings(40567.0 / 65536.0).is_empty());
    }
}
