//! The ONNX Runtime backend (Cargo feature `ort`): the shared library is loaded at run time
//! (`load-dynamic`), once per process; sessions run on its CPU provider or on CUDA.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::ep;
use ort::session::Session;
use ort::value::TensorRef;

use super::{Backend, OrtLibrary, OutputReader};
use crate::error::{Error, Result};

/// The ONNX Runtime loaded into this process: one library and one environment for its life.
struct Runtime {
    path: PathBuf,
    version: String,
    environment: Environment,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Loads `lib` unless it is loaded already; returns the environment and the version.
fn runtime(lib: &OrtLibrary) -> Result<(Environment, String)> {
    let mut slot = RUNTIME
        .lock()
        .map_err(|_| Error::backend("loading ONNX Runtime failed earlier in this process"))?;
    if let Some(rt) = slot.as_ref() {
        if rt.path != lib.path {
            return Err(Error::backend(format!(
                "ONNX Runtime is already loaded from {} in this process; it cannot load {} as \
                 well: restart and give one library",
                rt.path.display(),
                lib.path.display()
            )));
        }
        return Ok((rt.environment.clone(), rt.version.clone()));
    }
    let builder = ort::init_from(&lib.path).map_err(|e| {
        Error::backend(format!(
            "cannot load ONNX Runtime from {} (found by {}): {e}; give a working \
             libonnxruntime.so (version 1.17 or newer) with --ort-lib or {}",
            lib.path.display(),
            lib.found_by,
            super::ORT_LIB_ENV
        ))
    })?;
    let environment = builder
        .with_name("brightseg")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::backend(format!("cannot start ONNX Runtime: {e}")))?;
    let version = lib
        .version_from_name()
        .or_else(|| version_from_build_info(ort::info()))
        .unwrap_or_else(|| "(version unknown)".to_owned());
    log::info!(
        "loaded ONNX Runtime {version} from {} (found by {})",
        lib.path.display(),
        lib.found_by
    );
    *slot = Some(Runtime {
        path: lib.path.clone(),
        version: version.clone(),
        environment: environment.clone(),
    });
    Ok((environment, version))
}

/// "…git-branch=rel-1.31.1, …" → "1.31.1".
fn version_from_build_info(info: &str) -> Option<String> {
    let start = info.find("rel-")? + 4;
    let version: String = info[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!version.is_empty()).then_some(version)
}

/// A model in an ONNX Runtime session. ONNX Runtime parallelises inside one call, so calls are
/// serialised through the session's lock; tiles queue on it while their neighbours prepare.
pub struct OrtBackend {
    session: Mutex<Session>,
    description: String,
    source: String,
}

impl OrtBackend {
    /// Opens `onnx` on CUDA when `cuda` is set and it starts, else (with a warning saying why)
    /// on ONNX Runtime's CPU provider with `threads` threads (0: one per core).
    pub fn load(
        onnx: &Path,
        first_shape: &[usize],
        lib: &OrtLibrary,
        threads: usize,
        cuda: bool,
    ) -> Result<Self> {
        if cuda {
            match Self::load_cuda_only(onnx, first_shape, lib, threads) {
                Ok(backend) => return Ok(backend),
                Err(e) if e.kind() == crate::ErrorKind::Model => return Err(e),
                Err(e) => {
                    log::warn!("CUDA is not available ({e}); running ONNX Runtime on the CPU")
                }
            }
        }
        Self::open(onnx, first_shape, lib, threads, false)
    }

    /// Opens `onnx` on CUDA or fails, saying why (no GPU wheel, missing CUDA libraries, no
    /// device).
    pub fn load_cuda_only(
        onnx: &Path,
        first_shape: &[usize],
        lib: &OrtLibrary,
        threads: usize,
    ) -> Result<Self> {
        if !lib.has_cuda_provider() {
            return Err(Error::backend(format!(
                "{} has no CUDA provider beside it (it is a CPU build): install the \
                 onnxruntime-gpu wheel or point --ort-lib at a GPU build",
                lib.path.display()
            )));
        }
        Self::open(onnx, first_shape, lib, threads, true)
    }

    fn open(
        onnx: &Path,
        first_shape: &[usize],
        lib: &OrtLibrary,
        threads: usize,
        cuda: bool,
    ) -> Result<Self> {
        let (environment, version) = runtime(lib)?;
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let setup = |e: ort::Error| Error::backend(format!("cannot configure ONNX Runtime: {e}"));
        let mut builder = Session::builder(&environment)
            .map_err(setup)?
            .with_intra_threads(threads)
            .map_err(|e| setup(e.into()))?
            // ONNX Runtime's default: its threads spin a moment after a run instead of sleeping
            // at once. Measured (BENCHMARKS.md): with spinning off, one 512² tile took 10.2–10.6
            // ms on 2 threads against 5.8–6.6 with it, and Find Nuclei ran 16 MP/s against 17–18.
            .with_intra_op_spinning(true)
            .map_err(|e| setup(e.into()))?;
        if cuda {
            builder = builder
                .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| {
                    Error::backend(format!("the CUDA execution provider did not start: {e}"))
                })?;
        }
        let session = builder.commit_from_file(onnx).map_err(|e| {
            let message = e.to_string();
            if cuda && (message.contains("CUDA") || message.contains("cuda")) {
                Error::backend(format!(
                    "the CUDA execution provider did not start: {message}"
                ))
            } else {
                Error::model(format!(
                    "ONNX Runtime cannot load {} ({message}): re-export or re-download the \
                     weights",
                    onnx.display()
                ))
            }
        })?;
        if session.inputs().len() != 1 {
            return Err(Error::model(format!(
                "{} has {} inputs; brightseg runs models with exactly one input",
                onnx.display(),
                session.inputs().len()
            )));
        }
        let description = if cuda {
            format!("onnxruntime {version} on CUDA device 0")
        } else {
            format!(
                "onnxruntime {version} on CPU ({threads} thread{})",
                if threads == 1 { "" } else { "s" }
            )
        };
        let backend = OrtBackend {
            session: Mutex::new(session),
            description,
            source: onnx.display().to_string(),
        };
        let zeros = vec![0.0f32; first_shape.iter().product()];
        backend.run(&zeros, first_shape).map_err(|e| {
            Error::model(format!(
                "the ONNX file {} does not run on a {} input, which its description allows: the \
                 description (bioimageio.yaml/rdf.yaml) does not match the weights ({})",
                backend.source,
                first_shape
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("×"),
                e.message()
            ))
        })?;
        Ok(backend)
    }
}

impl Backend for OrtBackend {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn run_with(&self, input: &[f32], shape: &[usize], read: &mut OutputReader<'_>) -> Result<()> {
        let tensor = TensorRef::from_array_view((shape.to_vec(), input))
            .map_err(|e| Error::backend(format!("cannot build the input tensor: {e}")))?;
        // The first output is taken out of the run's outputs (it is reference-counted), so the
        // session is free for the next tile while the caller reads this one.
        let mut session = self.session.lock().map_err(|_| {
            Error::backend("a previous inference failed inside ONNX Runtime; reopen the model")
        })?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| Error::backend(format!("ONNX Runtime failed running the model: {e}")))?;
        let output = outputs.into_iter().next().map(|(_, value)| value);
        drop(session);
        let output = output.ok_or_else(|| Error::backend("the model produced no output"))?;
        let (out_shape, values) = output.try_extract_tensor::<f32>().map_err(|e| {
            Error::backend(format!(
                "the model output is not float32 ({e}): not supported"
            ))
        })?;
        let dims = out_shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::backend("the model returned a negative output size"))?;
        read(values, &dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_the_build_info() {
        assert_eq!(
            version_from_build_info("ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc")
                .as_deref(),
            Some("1.31.1")
        );
        assert_eq!(version_from_build_info("no branch"), None);
    }
}
