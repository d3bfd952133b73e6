//! Export of a trained U-Net: an ONNX graph built with the ONNX protobuf types (as tract-onnx
//! defines them, encoded with prost) and a bioimage.io-style model description, written as a
//! model folder that "Find Nuclei DNN" lists.

use std::fmt::Write as _;
use std::path::Path;

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};

use brightseg::{Error, Result};

use crate::data::FloatPlane;
use crate::nets::unet::{Architecture, DoubleConv, UNet};

/// File in a model folder with the trained weights in burn's format (for fine-tuning).
pub const WEIGHTS: &str = "weights.bpk";
/// File in a model folder with the training report.
pub const REPORT: &str = "training.json";

/// ONNX opset the graph is written for.
pub const OPSET: i64 = 17;
/// Name of the graph's input.
pub const INPUT: &str = "input";
/// Name of the graph's output (probabilities).
pub const OUTPUT: &str = "probability";

fn values<const D: usize>(p: &Param<Tensor<D>>) -> (Vec<i64>, Vec<f32>) {
    let t = p.val();
    let dims = t.dims().iter().map(|&d| d as i64).collect();
    let data = t.into_data();
    let v = data
        .as_slice::<f32>()
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    (dims, v)
}

fn initializer(name: &str, dims: Vec<i64>, data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims,
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

/// Builds the node list and the weights while walking the network.
struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    weights: Vec<pb::TensorProto>,
    counter: usize,
}

impl GraphBuilder {
    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, attrs: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.nodes.push(pb::NodeProto {
            name: out.clone(),
            op_type: op.to_owned(),
            input: inputs,
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn weights_of(
        &mut self,
        stem: &str,
        weight: &Param<Tensor<4>>,
        bias: Option<&Param<Tensor<1>>>,
    ) -> Vec<String> {
        let (dims, data) = values(weight);
        let w = self.fresh(&format!("{stem}.weight"));
        self.weights.push(initializer(&w, dims, data));
        let mut names = vec![w];
        if let Some(b) = bias {
            let (dims, data) = values(b);
            let name = self.fresh(&format!("{stem}.bias"));
            self.weights.push(initializer(&name, dims, data));
            names.push(name);
        }
        names
    }

    fn conv(&mut self, input: String, conv: &Conv2d, pad: i64) -> String {
        self.strided_conv(input, conv, pad, 1)
    }

    fn strided_conv(&mut self, input: String, conv: &Conv2d, pad: i64, stride: i64) -> String {
        let [_, _, kh, kw] = conv.weight.dims();
        let mut inputs = vec![input];
        inputs.extend(self.weights_of("conv", &conv.weight, conv.bias.as_ref()));
        self.node(
            "Conv",
            inputs,
            vec![
                ints("kernel_shape", &[kh as i64, kw as i64]),
                ints("pads", &[pad, pad, pad, pad]),
                ints("strides", &[stride, stride]),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        )
    }

    fn double_conv(&mut self, input: String, block: &DoubleConv) -> String {
        let a = self.conv(input, &block.first, 1);
        let a = self.node("Relu", vec![a], vec![]);
        let b = self.conv(a, &block.second, 1);
        self.node("Relu", vec![b], vec![])
    }

    /// A transposed convolution whose stride is its kernel size (2×2 stride 2 in the U-Net).
    fn up(&mut self, input: String, up: &ConvTranspose2d) -> String {
        let [_, _, k, _] = up.weight.dims();
        let k = k as i64;
        let mut inputs = vec![input];
        inputs.extend(self.weights_of("up", &up.weight, up.bias.as_ref()));
        self.node(
            "ConvTranspose",
            inputs,
            vec![
                ints("kernel_shape", &[k, k]),
                ints("strides", &[k, k]),
                ints("pads", &[0, 0, 0, 0]),
                int("group", 1),
            ],
        )
    }
}

fn value_info(name: &str) -> pb::ValueInfoProto {
    let dim = |d: dimension::Value| Dimension {
        value: Some(d),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimValue(1)),
                        dim(dimension::Value::DimValue(1)),
                        dim(dimension::Value::DimParam("height".into())),
                        dim(dimension::Value::DimParam("width".into())),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The network as an ONNX model: input `input` `[1, 1, height, width]` (normalised image),
/// output `probability` of the same shape (sigmoid included).
pub fn onnx_model(model: &UNet, description: &str) -> pb::ModelProto {
    let mut g = GraphBuilder {
        nodes: Vec::new(),
        weights: Vec::new(),
        counter: 0,
    };
    let depth = model.down.len();
    let mut x = INPUT.to_owned();
    if let Some(stem) = &model.stem {
        let stride = stem.down.weight.dims()[2] as i64;
        x = g.strided_conv(x, &stem.down, 0, stride);
    }
    let mut skips = Vec::new();
    for (level, block) in model.down.iter().enumerate() {
        x = g.double_conv(x, block);
        if level + 1 < depth {
            skips.push(x.clone());
            x = g.node(
                "MaxPool",
                vec![x],
                vec![
                    ints("kernel_shape", &[2, 2]),
                    ints("strides", &[2, 2]),
                    ints("pads", &[0, 0, 0, 0]),
                ],
            );
        }
    }
    for level in (0..depth - 1).rev() {
        let up = g.up(x, &model.up[level]);
        let skip = skips.pop().unwrap_or_default();
        let cat = g.node("Concat", vec![skip, up], vec![int("axis", 1)]);
        x = g.double_conv(cat, &model.decode[level]);
    }
    if let Some(stem) = &model.stem {
        let up = g.up(x, &stem.up);
        let cat = g.node("Concat", vec![INPUT.to_owned(), up], vec![int("axis", 1)]);
        let finish = g.conv(cat, &stem.finish, 1);
        x = g.node("Relu", vec![finish], vec![]);
    }
    let logits = g.conv(x, &model.head, 0);
    // The last node writes the graph output under its public name.
    g.nodes.push(pb::NodeProto {
        name: "sigmoid".into(),
        op_type: "Sigmoid".into(),
        input: vec![logits],
        output: vec![OUTPUT.into()],
        ..Default::default()
    });
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "brightseg-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: description.to_owned(),
        graph: Some(pb::GraphProto {
            name: "unet".into(),
            node: g.nodes,
            initializer: g.weights,
            input: vec![value_info(INPUT)],
            output: vec![value_info(OUTPUT)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Writes the ONNX file of `model` to `path` (atomically).
pub fn write_onnx(model: &UNet, description: &str, path: &Path) -> Result<()> {
    let bytes = onnx_model(model, description).encode_to_vec();
    brightseg::io::write_bytes_atomically(path, &bytes)
}

/// Tile edge written into the description of the full-resolution models brightseg trains. Our
/// narrow U-Nets run fastest on 512² tiles: 2048² end to end took 1.8 s with 512² tiles, 2.9 s
/// with 256² (a 32-pixel halo wastes 44 % of a 256² tile, 23 % of a 512² one) and 3.4 s with
/// 1024² (cache misses); release build, tract, 2 threads.
pub const TILE_SIZE: usize = 512;

/// Tile edge written for half-resolution models (a stem): they do a quarter of the work per
/// pixel, so larger tiles pay. With tiles spread evenly, the `fast` network ran Find Nuclei on
/// 2048² at 24.4–24.6 MP/s with 768² tiles against 20–21 with 512² (1024²: 24.3 against 18.7;
/// 4096²: 24.0 against 19.5), and tract took 0.65–0.80× onnxruntime's time per 768² tile
/// against 0.87–0.98× per 512² one (BENCHMARKS.md); release build, 2 threads.
pub const HALF_RESOLUTION_TILE_SIZE: usize = 768;

/// The tile edge a model of `arch` is described with (see [`TILE_SIZE`]).
pub fn tile_size_for(arch: &Architecture) -> usize {
    if arch.stem > 1 {
        HALF_RESOLUTION_TILE_SIZE
    } else {
        TILE_SIZE
    }
}

/// What the model description states besides the network.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Display name.
    pub name: String,
    /// One-paragraph description.
    pub description: String,
    /// Pixel size of the training data, µm.
    pub pixel_um: f64,
    /// Default probability threshold (chosen on validation data).
    pub threshold: f32,
    /// Default minimum nucleus area, µm².
    pub min_size_um2: f64,
    /// Default split depth in pixels (chosen on validation data).
    pub split_depth_px: f32,
    /// Preferred tile edge for inference.
    pub tile_size: usize,
    /// Input sizes must be multiples of this.
    pub size_multiple: usize,
    /// Lines describing the training data (source, split, targets).
    pub training_data: Vec<String>,
    /// Measured metrics: (name, value).
    pub metrics: Vec<(String, f64)>,
    /// SPDX licence of the weights.
    pub license: String,
    /// Free-form training details (architecture, epochs, seed…): (key, value).
    pub training: Vec<(String, String)>,
    /// What the model finds, singular ("nucleus", "artifact"): output channel name and tag.
    pub object: String,
    /// Input normalisation: the lower and upper percentiles mapped to 0 and 1.
    pub percentiles: (f64, f64),
    /// How inference refines the thresholded mask by the image (as the training targets were).
    pub refine: brightseg::refine::Refinement,
    /// The model's share of uncertain pixels on images it suits, percent (see
    /// [`brightseg::measure::Certainty`]); filled in at export from the test input.
    pub uncertain_percent: Option<f64>,
}

impl ModelInfo {
    /// What the description in `folder` says, for a model brightseg-train wrote (this or an
    /// earlier version, whose description the zoo may reject): to write it again in the
    /// current format with [`upgrade_model_folder`].
    pub fn from_folder(folder: &Path) -> Result<ModelInfo> {
        use brightseg::normalize::Preprocessing;
        use serde_yaml_ng::Value;
        let card = brightseg::model::ModelCard::load(folder)?;
        let text = std::fs::read_to_string(&card.card_path)
            .map_err(|e| Error::io("read", &card.card_path, e))?;
        let doc: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| Error::model(format!("{}: {e}", card.card_path.display())))?;
        let get = |v: &Value, k: &str| v.as_mapping().and_then(|m| m.get(k)).cloned();
        let config = get(&doc, "config").and_then(|c| get(&c, "brightseg"));
        let not_ours = || {
            Error::model(format!(
                "{} was not written by brightseg-train (it has no config.brightseg settings or \
                 a preprocessing other than scale_range): only brightseg's own models can be \
                 upgraded",
                card.card_path.display()
            ))
        };
        let config = config.ok_or_else(not_ours)?;
        let [Preprocessing::ScaleRange {
            min_percentile,
            max_percentile,
            ..
        }] = card.preprocessing[..]
        else {
            return Err(not_ours());
        };
        let pixel_um = card.pixel_size_um.ok_or_else(not_ours)?;
        let text_of = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        let pairs = |key: &str| -> Vec<(String, Value)> {
            get(&config, key)
                .and_then(|m| m.as_mapping().cloned())
                .map(|m| m.into_iter().map(|(k, v)| (text_of(&k), v)).collect())
                .unwrap_or_default()
        };
        let strings = |v: Option<Value>| -> Vec<String> {
            v.and_then(|l| l.as_sequence().cloned())
                .map(|l| l.iter().map(text_of).collect())
                .unwrap_or_default()
        };
        let training_data = match get(&config, "training_data") {
            Some(list) => strings(Some(list)),
            // Before format-valid descriptions: a top-level list of strings.
            None => strings(get(&doc, "training_data")),
        };
        let object = get(&doc, "outputs")
            .and_then(|o| o.as_sequence()?.first().cloned())
            .and_then(|o| get(&o, "axes"))
            .and_then(|axes| {
                axes.as_sequence()?
                    .iter()
                    .find_map(|a| get(a, "channel_names")?.as_sequence()?.first().map(text_of))
            })
            .unwrap_or_else(|| "nucleus".into());
        Ok(ModelInfo {
            name: card.name.clone(),
            description: card.description.clone(),
            pixel_um,
            threshold: card.defaults.threshold,
            min_size_um2: card.defaults.min_size_um2,
            split_depth_px: card.defaults.split_depth_px,
            tile_size: card.defaults.tile_size,
            size_multiple: card.size_y.step.max(1),
            training_data,
            metrics: pairs("metrics")
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_f64()?)))
                .collect(),
            license: card.license.clone().unwrap_or_else(|| "MIT".into()),
            training: pairs("training")
                .into_iter()
                .map(|(k, v)| (k, text_of(&v)))
                .collect(),
            object,
            percentiles: (min_percentile, max_percentile),
            refine: card.defaults.refine,
            uncertain_percent: card.uncertain_percent,
        })
    }
}

/// Rewrites the description of a model folder brightseg-train wrote (this or an earlier
/// version) in the current, zoo-valid format, with new test tensors, sample tensors and cover
/// from `test_image` (raw values at the model's pixel size). The ONNX file and the weights are
/// left as they are, so the model computes exactly what it did; a README without a Validation
/// section gets one listing the metrics the description records.
pub fn upgrade_model_folder(folder: &Path, test_image: &FloatPlane) -> Result<ModelInfo> {
    let info = ModelInfo::from_folder(folder)?;
    let info = write_description_and_tests(&info, folder, test_image)?;
    let readme_path = folder.join("README.md");
    let text = std::fs::read_to_string(&readme_path).unwrap_or_default();
    let has_validation = text
        .lines()
        .any(|l| l.starts_with('#') && l.trim_start_matches('#').trim() == "Validation");
    if text.is_empty() {
        brightseg::io::write_bytes_atomically(&readme_path, readme(&info, "").as_bytes())?;
    } else if !has_validation {
        let section = validation_section(&info);
        brightseg::io::write_bytes_atomically(
            &readme_path,
            format!("{}\n\n{section}", text.trim_end()).as_bytes(),
        )?;
    }
    Ok(info)
}

fn yaml_string(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// Overlap each output tile crops per side (the description's output `halo`), in pixels.
pub const HALO: usize = 32;

/// Where brightseg lives (the models' `git_repo` and citation).
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// The bioimage.io (format 0.5) description of a model exported by [`write_model_folder`]:
/// valid for the zoo's validator (`bioimageio.spec`) and test (`bioimageio.core`), with the
/// test tensors, sample tensors and cover that [`brightseg::zoo::write_test_files`] writes, and
/// brightseg's own settings under `config.brightseg`.
pub fn model_description(info: &ModelInfo) -> String {
    use brightseg::zoo::{COVER, SAMPLE_INPUT, SAMPLE_OUTPUT, TEST_INPUT, TEST_OUTPUT};
    let mut y = String::new();
    let m = info.size_multiple;
    let min = brightseg::zoo::min_size_for_halo(m, HALO);
    let px = zoo_scale(info.pixel_um);
    let _ = writeln!(
        y,
        "# Written by brightseg-train {}.",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(y, "format_version: 0.5.4");
    let _ = writeln!(y, "type: model");
    let _ = writeln!(y, "name: {}", yaml_string(&info.name));
    let _ = writeln!(y, "description: {}", yaml_string(&info.description));
    let _ = writeln!(y, "license: {}", info.license);
    let _ = writeln!(y, "authors:\n  - name: brightseg contributors");
    let _ = writeln!(
        y,
        "cite:\n  - text: \"brightseg: nucleus and artifact segmentation in transmitted-light \
         images\"\n    url: {REPOSITORY}"
    );
    let _ = writeln!(y, "git_repo: {REPOSITORY}");
    let _ = writeln!(
        y,
        "tags: [unet2d, {}, segmentation, brightfield, brightseg]",
        info.object
    );
    let _ = writeln!(y, "documentation: README.md");
    let _ = writeln!(y, "covers: [{COVER}]");
    let _ = writeln!(y, "inputs:");
    let _ = writeln!(y, "  - id: {INPUT}");
    let _ = writeln!(
        y,
        "    description: one image channel, normalised by its percentiles"
    );
    let _ = writeln!(y, "    axes:");
    let _ = writeln!(y, "      - type: batch\n        size: 1");
    let _ = writeln!(
        y,
        "      - type: channel\n        channel_names: [brightfield]"
    );
    // The axes' scale is the pixel size to 16 significant bits (config.brightseg.pixel_size_um
    // holds it exactly); see zoo_scale.
    for axis in ["y", "x"] {
        let _ = writeln!(
            y,
            "      - type: space\n        id: {axis}\n        size: {{min: {min}, step: {m}}}\n        \
             unit: micrometer\n        scale: {px}"
        );
    }
    let _ = writeln!(y, "    test_tensor:\n      source: {TEST_INPUT}");
    let _ = writeln!(y, "    sample_tensor:\n      source: {SAMPLE_INPUT}");
    let _ = writeln!(y, "    data:\n      type: float32");
    let _ = writeln!(y, "    preprocessing:");
    let _ = writeln!(y, "      - id: scale_range");
    let _ = writeln!(
        y,
        "        kwargs: {{axes: [y, x], min_percentile: {:?}, max_percentile: {:?}, eps: \
         1.0e-6}}",
        info.percentiles.0, info.percentiles.1
    );
    let _ = writeln!(y, "outputs:");
    let _ = writeln!(y, "  - id: {OUTPUT}");
    let _ = writeln!(y, "    description: {} probability in [0, 1]", info.object);
    let _ = writeln!(y, "    axes:");
    let _ = writeln!(y, "      - type: batch\n        size: 1");
    let _ = writeln!(
        y,
        "      - type: channel\n        channel_names: [{}]",
        info.object
    );
    for axis in ["y", "x"] {
        let _ = writeln!(
            y,
            "      - type: space\n        id: {axis}\n        size: {{tensor_id: {INPUT}, axis_id: {axis}}}\n        \
             halo: {HALO}\n        unit: micrometer\n        scale: {px}"
        );
    }
    let _ = writeln!(y, "    test_tensor:\n      source: {TEST_OUTPUT}");
    let _ = writeln!(y, "    sample_tensor:\n      source: {SAMPLE_OUTPUT}");
    let _ = writeln!(y, "    data:\n      type: float32\n      range: [0.0, 1.0]");
    let _ = writeln!(y, "weights:");
    let _ = writeln!(
        y,
        "  onnx:\n    source: model.onnx\n    opset_version: {OPSET}"
    );
    let _ = writeln!(y, "config:");
    let _ = writeln!(y, "  brightseg:");
    let _ = writeln!(y, "    threshold: {}", info.threshold);
    let _ = writeln!(y, "    min_size_um2: {}", info.min_size_um2);
    let _ = writeln!(y, "    split_depth_px: {}", info.split_depth_px);
    let _ = writeln!(y, "    tile_size: {}", info.tile_size);
    if info.refine != brightseg::refine::Refinement::None {
        let _ = writeln!(y, "    refine: {}", info.refine);
    }
    let _ = writeln!(y, "    pixel_size_um: {}", info.pixel_um);
    let _ = writeln!(y, "    halo: {HALO}");
    if let Some(percent) = info.uncertain_percent {
        // On the test input: find-nuclei flags images far above it (Certainty::poor_fit).
        let _ = writeln!(y, "    uncertain_percent: {percent:.2}");
    }
    let _ = writeln!(y, "    metrics:");
    for (k, v) in &info.metrics {
        let _ = writeln!(y, "      {k}: {v:.4}");
    }
    let _ = writeln!(y, "    training:");
    for (k, v) in &info.training {
        let _ = writeln!(y, "      {k}: {}", yaml_string(v));
    }
    // Free-text provenance: the zoo's `training_data` takes a dataset id or description only.
    let _ = writeln!(y, "    training_data:");
    for line in &info.training_data {
        let _ = writeln!(y, "      - {}", yaml_string(line));
    }
    y
}

/// The pixel size written as the axes' `scale`: `pixel_um` to 16 significant bits. The zoo sizes
/// an output axis from its input axis as `size · scale_in / scale_out`, in floating point, and
/// rejects the model unless that is exactly the integer size; with a scale like 0.619 it is
/// not (208 · 0.619 / 0.619 = 208.00000000000003). A scale of 16 significant bits times any
/// tile size is exact in a double, so the division gives the size back exactly. It differs
/// from `pixel_um` by less than 0.002 %.
pub fn zoo_scale(pixel_um: f64) -> f64 {
    if !(pixel_um.is_finite() && pixel_um > 0.0) {
        return pixel_um;
    }
    let unit = (pixel_um.log2().floor() - 15.0).exp2();
    (pixel_um / unit).round() * unit
}

/// Writes a model folder: `model.onnx`, `bioimageio.yaml`, `LICENSE`, and the zoo's test
/// tensors, sample tensors and cover made from `test_image` (raw values, at the model's pixel
/// size: its centre is cut to a valid input size, see [`brightseg::zoo::test_input_from`]),
/// the expected output computed by the inference core from the written ONNX file. The folder is
/// created when missing; existing files of the same names are replaced.
pub fn write_model_folder(
    model: &UNet,
    info: &ModelInfo,
    folder: &Path,
    test_image: &FloatPlane,
) -> Result<ModelInfo> {
    if info.size_multiple != model.architecture().size_multiple() {
        return Err(Error::invalid("size multiple does not match the network"));
    }
    std::fs::create_dir_all(folder).map_err(|e| Error::io("create", folder, e))?;
    write_onnx(model, &info.description, &folder.join("model.onnx"))?;
    write_description_and_tests(info, folder, test_image)
}

/// Writes `bioimageio.yaml` and `LICENSE` for the ONNX file already in `folder`, then the test
/// files from `test_image`, and the description again with the model's level of uncertain
/// pixels (`info`'s when given, else on the test input). Returns `info` with that level.
fn write_description_and_tests(
    info: &ModelInfo,
    folder: &Path,
    test_image: &FloatPlane,
) -> Result<ModelInfo> {
    brightseg::io::write_bytes_atomically(
        &folder.join("bioimageio.yaml"),
        model_description(info).as_bytes(),
    )?;
    let licence = format!(
        "The weights in this folder were trained with brightseg-train and are released under \
         {}.\nTraining data: see README.md and bioimageio.yaml (config.brightseg.training_data).\n",
        info.license
    );
    brightseg::io::write_bytes_atomically(&folder.join("LICENSE"), licence.as_bytes())?;
    let core = brightseg::pipeline::Model::load(folder)?;
    let card = core.card();
    let image = brightseg::image::Plane::new(
        test_image.width,
        test_image.height,
        brightseg::image::PixelData::F32(test_image.data.clone()),
    )?;
    let input = brightseg::zoo::test_input_from(&image, card.size_y, card.size_x)?;
    let output = brightseg::zoo::write_test_files(&core, &input, info.threshold)?;
    // The model's own level of uncertain pixels, so that find-nuclei can tell images it does
    // not suit (the network is unchanged by it): the level the trainer measured on its
    // validation data when it did, else the level on the test input.
    let on_test_input = brightseg::measure::Certainty::of(&output).uncertain_percent();
    let info = ModelInfo {
        uncertain_percent: info
            .uncertain_percent
            .or(on_test_input.is_finite().then_some(on_test_input)),
        ..info.clone()
    };
    brightseg::io::write_bytes_atomically(
        &folder.join("bioimageio.yaml"),
        model_description(&info).as_bytes(),
    )?;
    Ok(info)
}

/// Writes everything a trained model's folder holds: [`write_model_folder`]'s files, the burn
/// weights (`weights.bpk`, for fine-tuning), the training report as `training.json`, and a
/// README.md (the description's `documentation`): the description, `summary` (how it was
/// trained), a Validation section with the measured metrics, and the training data.
pub fn write_trained_model<R: serde::Serialize>(
    model: &UNet,
    info: &ModelInfo,
    folder: &Path,
    report: &R,
    summary: &str,
    test_image: &FloatPlane,
) -> Result<()> {
    use burn::module::Module;
    let info = &write_model_folder(model, info, folder, test_image)?;
    let weights = folder.join(WEIGHTS);
    model.clone().save_file(&weights).map_err(|e| {
        Error::new(
            brightseg::ErrorKind::Io,
            format!("cannot write {}: {e}", weights.display()),
        )
    })?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::invalid(format!("cannot encode the training report: {e}")))?;
    brightseg::io::write_bytes_atomically(&folder.join(REPORT), json.as_bytes())?;
    brightseg::io::write_bytes_atomically(
        &folder.join("README.md"),
        readme(info, summary).as_bytes(),
    )
}

/// The README's Validation section (the zoo asks for one): the metrics and how they were got.
fn validation_section(info: &ModelInfo) -> String {
    let metrics = info
        .metrics
        .iter()
        .map(|(k, v)| format!("- {k}: {v:.4}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "## Validation\n\n{metrics}\n\nMeasured by brightseg on data held out from training \
         (object F1 counts an object as found when it overlaps a true one with IoU ≥ 0.5). The \
         zoo's test tensors (`{}`, `{}`) were computed by brightseg's inference core; \
         `brightseg validate-model` reruns them.\n",
        brightseg::zoo::TEST_INPUT,
        brightseg::zoo::TEST_OUTPUT,
    )
}

/// The model card README: description, how it was trained, validation, training data.
fn readme(info: &ModelInfo, summary: &str) -> String {
    let training_data = info
        .training_data
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "# {}\n\n{}\n\n{summary}\n\n{}\n## Training data\n\n{training_data}\n\nSee \
         training.json for the epoch history and bioimageio.yaml for the description \
         (brightseg's settings are under `config.brightseg`).\n",
        info.name,
        info.description,
        validation_section(info),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::segmentation::predict;

    fn info(multiple: usize) -> ModelInfo {
        ModelInfo {
            name: "test \"model\"".into(),
            description: "a test".into(),
            pixel_um: 0.65,
            threshold: 0.45,
            min_size_um2: 12.0,
            split_depth_px: 2.0,
            tile_size: 64,
            size_multiple: multiple,
            training_data: vec!["synthetic".into()],
            metrics: vec![("f1".into(), 0.5)],
            license: "CC-BY-4.0".into(),
            training: vec![("seed".into(), "1".into())],
            object: "nucleus".into(),
            percentiles: crate::data::samples::NORMALIZATION_PERCENTILES,
            refine: brightseg::refine::Refinement::None,
            uncertain_percent: None,
        }
    }

    /// The exported graph, read by the inference core (description and ONNX through tract),
    /// gives the trainer's own probabilities.
    #[test]
    fn exported_model_runs_in_the_core_with_the_trainers_numbers() {
        for stem in [1, 2] {
            exported_model_equals_the_trainer(Architecture {
                depth: 3,
                width: 4,
                stem,
            });
        }
    }

    /// Gives every bias (the only one-dimensional parameters) random values: a fresh network's
    /// are all 0, which would hide a bias the export drops or misplaces.
    struct RandomBiases;

    impl burn::module::ModuleMapper for RandomBiases {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if D != 1 {
                return param;
            }
            param.map(|bias| bias.random_like(burn::tensor::Distribution::Uniform(-0.5, 0.5)))
        }
    }

    fn exported_model_equals_the_trainer(arch: Architecture) {
        let device = crate::compute::device();
        let net = burn::module::Module::map(
            crate::nets::seeded(&device, 3, || UNet::new(arch, &device)),
            &mut RandomBiases,
        );
        let dir = tempfile::tempdir().expect("tmp");
        let image = crate::data::FloatPlane::new(
            100,
            90,
            (0..9000).map(|i| ((i * 7919) % 1000) as f32).collect(),
        );
        write_model_folder(&net, &info(arch.size_multiple()), dir.path(), &image).expect("export");

        let model = brightseg::pipeline::Model::load(dir.path()).expect("core reads the folder");
        let card = model.card();
        assert_eq!(card.name, "test \"model\"");
        assert_eq!(card.defaults.threshold, 0.45);
        assert_eq!(card.defaults.min_size_um2, 12.0);
        assert_eq!(card.defaults.split_depth_px, 2.0);
        assert_eq!(card.pixel_size_um, Some(0.65));
        assert_eq!(card.size_y.step, arch.size_multiple());

        let (w, h) = (40usize, 24usize);
        let tile: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let ours = predict(&net, &crate::data::FloatPlane::new(w, h, tile.clone()));
        let theirs = model.run_tile(&tile, h, w).expect("tract runs it");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{arch:?}: max difference {worst}");

        // The zoo's files: the test output is the trainer's prediction on the test input
        // normalised as the description says, and our zoo checks pass.
        use brightseg::zoo;
        let input = zoo::read_npy(&dir.path().join(zoo::TEST_INPUT)).expect("test input");
        let output = zoo::read_npy(&dir.path().join(zoo::TEST_OUTPUT)).expect("test output");
        let min = zoo::min_size_for_halo(arch.size_multiple(), HALO);
        assert_eq!(input.shape[..2], [1, 1]);
        assert_eq!(input.shape, output.shape);
        let (th, tw) = (input.shape[2], input.shape[3]);
        assert!(
            th >= min && tw >= min && th % arch.size_multiple() == 0,
            "{:?}",
            input.shape
        );
        let raw = brightseg::image::Plane::new(
            tw,
            th,
            brightseg::image::PixelData::F32(input.values.clone()),
        )
        .expect("plane");
        let normalizer = brightseg::normalize::Normalizer::for_plane(&raw, &card.preprocessing);
        let normalised = input.values.iter().map(|&v| normalizer.apply(v)).collect();
        let trainer = predict(&net, &crate::data::FloatPlane::new(tw, th, normalised));
        let worst = trainer
            .iter()
            .zip(&output.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{arch:?}: test output differs by {worst}");
        for file in [zoo::COVER, zoo::SAMPLE_INPUT, zoo::SAMPLE_OUTPUT] {
            assert!(dir.path().join(file).is_file(), "{file} missing");
        }
        let report = zoo::check_model(dir.path()).expect("checked");
        // README.md is written by write_trained_model, not here.
        let errors: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == zoo::Severity::Error && f.location != "documentation")
            .collect();
        assert!(errors.is_empty(), "{arch:?}: {errors:#?}");
        assert_eq!(report.reproduction.map(|r| r.mismatched), Some(0));

        // What the description says reads back as what was written.
        let back = ModelInfo::from_folder(dir.path()).expect("read back");
        let mut want = info(arch.size_multiple());
        want.metrics = vec![("f1".into(), 0.5)];
        let level = back
            .uncertain_percent
            .expect("the model's level of uncertain pixels");
        let measured = brightseg::measure::Certainty::of(&output.values).uncertain_percent();
        assert!((level - measured).abs() < 0.005, "{level} vs {measured}");
        want.uncertain_percent = back.uncertain_percent;
        assert_eq!(back, want);
    }

    #[test]
    fn axis_scales_are_the_pixel_size_to_16_significant_bits() {
        for px in [0.619, 0.6190000000032596, 0.1083, 6.5, 0.000_25] {
            let scale = zoo_scale(px);
            assert!((scale / px - 1.0).abs() < 2e-5, "{px} -> {scale}");
            for size in [16usize, 80, 208, 768, 4096] {
                assert_eq!(size as f64 * scale / scale, size as f64, "{px} at {size}");
            }
        }
    }

    #[test]
    fn refuses_a_description_that_does_not_fit_the_network() {
        let device = crate::compute::device();
        let net = crate::nets::seeded(&device, 4, || {
            UNet::new(
                Architecture {
                    depth: 3,
                    width: 4,
                    stem: 1,
                },
                &device,
            )
        });
        let dir = tempfile::tempdir().expect("tmp");
        let image = crate::data::FloatPlane::new(96, 96, vec![0.0; 96 * 96]);
        assert!(write_model_folder(&net, &info(8), dir.path(), &image).is_err());
    }
}
