//! The default backend: tract (pure Rust, CPU). No tract type leaves this module.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::tract_data::knobs::KnobScope;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Backend, OutputReader};
use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// tract's switch for its direct spatial convolution (see [`TractBackend::plan`]).
const DIRECT_SPATIAL_KNOB: &str = "TRACT_DISABLE_DIRECT_SPATIAL";

/// The tract backend: the ONNX graph is parsed once; one optimised plan is built per tile shape
/// (tract cannot optimise this kind of U-Net with symbolic height and width) and kept.
pub struct TractBackend {
    model: InferenceModel,
    /// The input shape the ONNX file itself declares; `None` for a symbolic dimension.
    declared: Option<Vec<Option<usize>>>,
    plans: Mutex<HashMap<Vec<usize>, Plan>>,
    source: String,
    /// Whether tract's direct spatial convolution is kept (see [`direct_convolution_suits`]).
    direct_convolution: bool,
}

impl TractBackend {
    /// Loads and checks the ONNX file at `path`; `first_shape` is compiled immediately so that a
    /// model whose description does not match its weights is refused at load time.
    pub fn load(path: &Path, first_shape: &[usize]) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::model(format!(
                "cannot read the model weights {}: {e}",
                path.display()
            ))
        })?;
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(|e| {
                Error::model(format!(
                    "{} is not a valid ONNX model ({e}): re-export or re-download the weights",
                    path.display()
                ))
            })?;
        if model.inputs.len() != 1 {
            return Err(Error::model(format!(
                "{} has {} inputs; brightseg runs models with exactly one input",
                path.display(),
                model.inputs.len()
            )));
        }
        let declared = model.input_fact(0).ok().and_then(|f| {
            f.shape.is_open().then_some(()).map_or_else(
                || {
                    Some(
                        f.shape
                            .dims()
                            .map(|d| {
                                d.concretize()
                                    .and_then(|d| d.as_i64())
                                    .and_then(|d| usize::try_from(d).ok())
                            })
                            .collect(),
                    )
                },
                |()| None,
            )
        });
        let direct_convolution = direct_convolution_suits(&bytes);
        log::debug!(
            "tract: {} convolutions for {}",
            if direct_convolution {
                "direct spatial"
            } else {
                "im2col + matrix product"
            },
            path.display()
        );
        let backend = TractBackend {
            model,
            declared,
            plans: Mutex::new(HashMap::new()),
            source: path.display().to_string(),
            direct_convolution,
        };
        backend.plan(first_shape)?;
        Ok(backend)
    }

    fn plan(&self, shape: &[usize]) -> Result<Plan> {
        if let Some(plan) = self.plans.lock().map_err(|_| poisoned())?.get(shape) {
            return Ok(plan.clone());
        }
        let shape_text = shape
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("×");
        let mismatch = |e: TractError| {
            Error::model(format!(
                "the ONNX file {} does not accept a {shape_text} input, which its description \
                 allows: the description (bioimageio.yaml/rdf.yaml) does not match the weights \
                 ({e})",
                self.source
            ))
        };
        if let Some(declared) = &self.declared {
            let fits = declared.len() == shape.len()
                && declared
                    .iter()
                    .zip(shape)
                    .all(|(d, s)| d.is_none_or(|d| d == *s));
            if !fits {
                let text: Vec<String> = declared
                    .iter()
                    .map(|d| d.map_or_else(|| "?".to_owned(), |d| d.to_string()))
                    .collect();
                return Err(Error::model(format!(
                    "the model description asks for a {shape_text} input but the ONNX file {} \
                     declares {}: the description (bioimageio.yaml/rdf.yaml) does not match the \
                     weights; fix its input sizes",
                    self.source,
                    text.join("×")
                )));
            }
        }
        let optimise = || {
            self.model
                .clone()
                .with_input_fact(0, f32::fact(shape).into())
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
        };
        // tract 0.23 turns 3×3 convolutions with few input channels into a "direct spatial"
        // kernel. Whether that pays depends on the network (see `direct_convolution_suits`);
        // the environment variable of the same name still decides when it is set.
        let plan = if std::env::var_os(DIRECT_SPATIAL_KNOB).is_some() {
            optimise()
        } else {
            let disable = if self.direct_convolution {
                "false"
            } else {
                "true"
            };
            KnobScope::new([(DIRECT_SPATIAL_KNOB, disable)]).and_then(|scope| scope.enter(optimise))
        }
        .map_err(mismatch)?;
        self.plans
            .lock()
            .map_err(|_| poisoned())?
            .insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }

    /// The most bytes of intermediate tensors alive at once while the optimised plan for `shape`
    /// runs, in tract's own evaluation order (a value is freed after its last reader, as tract
    /// does): the network's working memory for one tile, without the weights and without the
    /// scratch buffers of individual operators.
    pub fn activation_peak_bytes(&self, shape: &[usize]) -> Result<u64> {
        let plan = self.plan(shape)?;
        let graph = plan.model();
        let order = plan.order_without_consts();
        let bytes_of = |node: usize| -> u64 {
            graph
                .node(node)
                .outputs
                .iter()
                .map(|o| {
                    let elements: usize = o
                        .fact
                        .shape
                        .as_concrete()
                        .map_or(0, |dims| dims.iter().product());
                    (elements * o.fact.datum_type.size_of()) as u64
                })
                .sum()
        };
        let mut last_read = vec![None; graph.nodes().len()];
        for (step, &node) in order.iter().enumerate() {
            for input in &graph.node(node).inputs {
                last_read[input.node] = Some(step);
            }
        }
        for output in graph
            .output_outlets()
            .map_err(|e| Error::backend(e.to_string()))?
        {
            last_read[output.node] = Some(order.len());
        }
        let mut freed_after: Vec<Vec<usize>> = vec![Vec::new(); order.len() + 1];
        for &node in order {
            if let Some(step) = last_read[node] {
                freed_after[step].push(node);
            }
        }
        let (mut live, mut peak) = (0u64, 0u64);
        for (step, &node) in order.iter().enumerate() {
            live += bytes_of(node);
            peak = peak.max(live);
            for &done in &freed_after[step] {
                live -= bytes_of(done);
            }
        }
        Ok(peak)
    }

    /// Runs `input` once, timing every node of the optimised plan; returns seconds per operator
    /// kind (e.g. "Conv", "Resize"), largest first. For `brightseg bench --profile-tract`.
    pub fn profile(&self, input: &[f32], shape: &[usize]) -> Result<Vec<(String, f64)>> {
        let plan = self.plan(shape)?;
        let tensor = input_tensor(input, shape)?;
        let mut state = tract_onnx::tract_core::plan::SimpleState::new(&plan)
            .map_err(|e| Error::backend(format!("cannot start a tract run: {e}")))?;
        let mut seconds: HashMap<String, f64> = HashMap::new();
        state
            .run_plan_with_eval(tvec!(tensor.into()), |ctx, op_state, node, inputs| {
                let start = std::time::Instant::now();
                let outputs = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                *seconds.entry(node.op().name().to_string()).or_default() +=
                    start.elapsed().as_secs_f64();
                outputs
            })
            .map_err(|e| Error::backend(format!("tract failed running the model: {e}")))?;
        let mut by_op: Vec<(String, f64)> = seconds.into_iter().collect();
        by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(by_op)
    }
}

/// Widest convolution for which tract's direct spatial kernel still beats im2col and a matrix
/// product: input channels × kernel taps (32 channels of a 3×3 kernel).
const DIRECT_CONVOLUTION_MAX_TAPS: i64 = 32 * 9;

/// Whether tract's direct spatial convolution should run this ONNX network: when every
/// convolution is narrow. Measured with `brightseg bench --profile-tract` (one thread, 512² tile):
/// on the narrow U-Nets brightseg trains (4–32 channels) direct spatial took half the time of
/// im2col; on `unet2d_nuclei_broad` (up to 256 channels) im2col took 0.75 s against 1.36 s.
/// A file whose convolution weights cannot be read keeps tract's im2col.
fn direct_convolution_suits(onnx: &[u8]) -> bool {
    let Ok(proto) = tract_onnx::onnx().proto_model_for_read(&mut &onnx[..]) else {
        return false;
    };
    let Some(graph) = proto.graph else {
        return false;
    };
    let taps: HashMap<&str, i64> = graph
        .initializer
        .iter()
        .filter(|t| t.dims.len() == 4)
        .map(|t| (t.name.as_str(), t.dims[1..].iter().product()))
        .collect();
    let mut widths = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Conv")
        .map(|n| n.input.get(1).and_then(|w| taps.get(w.as_str())).copied());
    let mut any = false;
    let narrow = widths.all(|t| {
        any = true;
        t.is_some_and(|t| t <= DIRECT_CONVOLUTION_MAX_TAPS)
    });
    any && narrow
}

/// `input` as a tract tensor of `shape`.
fn input_tensor(input: &[f32], shape: &[usize]) -> Result<Tensor> {
    Tensor::from_shape(shape, input)
        .map_err(|e| Error::backend(format!("cannot build the input tensor: {e}")))
}

fn poisoned() -> Error {
    Error::backend("a previous inference failed inside tract and left its plan cache unusable")
}

/// Peak resident memory per tile over [`TractBackend::activation_peak_bytes`]: measured 2.0–2.7
/// (2026-12-07; the shipped `fast` model at 768², `unet2d_nuclei_broad` at 512²), the rest being
/// the operators' own scratch buffers (im2col, packed panels) and allocator slack.
const ACTIVATION_TO_RESIDENT: u64 = 3;

impl Backend for TractBackend {
    fn describe(&self) -> String {
        "tract 0.23.9 (CPU)".to_owned()
    }

    fn working_bytes(&self, shape: &[usize]) -> Option<u64> {
        self.activation_peak_bytes(shape)
            .ok()
            .map(|bytes| bytes.saturating_mul(ACTIVATION_TO_RESIDENT))
    }

    fn run_with(&self, input: &[f32], shape: &[usize], read: &mut OutputReader<'_>) -> Result<()> {
        let plan = self.plan(shape)?;
        let tensor = input_tensor(input, shape)?;
        let outputs = plan
            .run(tvec!(tensor.into()))
            .map_err(|e| Error::backend(format!("tract failed running the model: {e}")))?;
        let out = outputs
            .first()
            .ok_or_else(|| Error::backend("the model produced no output"))?;
        let view = out.to_plain_array_view::<f32>().map_err(|e| {
            Error::backend(format!(
                "the model output is not float32 ({e}): not supported"
            ))
        })?;
        match view.as_slice() {
            Some(values) => read(values, view.shape()),
            // Not in row-major order in memory: a row-major copy.
            None => read(&view.iter().copied().collect::<Vec<_>>(), view.shape()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped model's live tensors at its 768² tile, walked in tract's order: 23.6 MB
    /// (the first layer's 16 channels at half resolution and its skip connection dominate),
    /// four times that of a 384² tile. Catches an estimate that stops counting freed values
    /// (it would grow with the network's depth) or reads shapes wrongly.
    #[test]
    fn activation_memory_follows_the_network_and_the_tile_area() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/nuclei-brightfield/model.onnx");
        let big = [1, 1, 768, 768];
        let backend = TractBackend::load(&path, &big).expect("load");
        let at_768 = backend.activation_peak_bytes(&big).expect("768");
        assert_eq!(at_768, 23_592_960, "{at_768}");
        let at_384 = backend
            .activation_peak_bytes(&[1, 1, 384, 384])
            .expect("384");
        assert_eq!(at_384 * 4, at_768);
        assert_eq!(backend.working_bytes(&big), Some(3 * at_768));
    }

    #[test]
    fn corrupt_onnx_is_a_model_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("w.onnx");
        std::fs::write(&p, b"definitely not protobuf \x00\x01\x02").expect("write");
        let e = TractBackend::load(&p, &[1, 1, 64, 64])
            .err()
            .expect("must fail");
        assert_eq!(e.kind(), crate::error::ErrorKind::Model);
        let missing = TractBackend::load(&dir.path().join("none.onnx"), &[1, 1, 64, 64]);
        assert!(missing
            .err()
            .expect("must fail")
            .to_string()
            .contains("cannot read"));
    }

    #[test]
    fn narrow_networks_get_direct_convolution_and_the_same_numbers() {
        let onnx = crate::test_files::existing("models/nuclei-brightfield/model.onnx")
            .expect("the shipped model is part of the repository");
        let bytes = std::fs::read(&onnx).expect("shipped model");
        assert!(direct_convolution_suits(&bytes));
        assert!(!direct_convolution_suits(b"not onnx"));
        // Both kinds of plan compute the same map.
        let shape = [1, 1, 64, 96];
        let input: Vec<f32> = (0..64 * 96)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let mut backend = TractBackend::load(&onnx, &shape).expect("load");
        assert!(backend.direct_convolution);
        let (direct, _) = backend.run(&input, &shape).expect("direct");
        backend.direct_convolution = false;
        backend.plans = Mutex::new(HashMap::new());
        let (im2col, _) = backend.run(&input, &shape).expect("im2col");
        let worst = direct
            .iter()
            .zip(&im2col)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "direct and im2col differ by {worst}");
    }

    #[test]
    fn wide_networks_keep_im2col() {
        let Some(onnx) =
            crate::test_files::existing("../shared/models/unet2d_nuclei_broad/weights.onnx")
        else {
            return;
        };
        let bytes = std::fs::read(&onnx).expect("broad model");
        assert!(!direct_convolution_suits(&bytes));
    }
}
