//! Inference backends: the [`Backend`] trait the pipeline runs tiles through, the user's
//! [`BackendChoice`], and [`open_backend`], which turns that choice into a running backend.
//!
//! tract (pure Rust, CPU) is the default and is always built. ONNX Runtime (CPU or CUDA) is
//! built with the Cargo feature `ort`; its shared library is loaded at run time from a path the
//! user gives or from an installed `onnxruntime` / `onnxruntime-gpu` Python wheel, never
//! downloaded. No tract or ort type leaves this module.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

mod locate;
#[cfg(feature = "ort")]
mod onnxruntime;
mod tract;

pub use locate::{find_onnxruntime, OrtLibrary, ORT_LIB_ENV};
pub use tract::TractBackend;

/// Runs a model on one tile at a time. Implementations are shared between threads.
pub trait Backend: Send + Sync {
    /// What ran, for logs and result records (e.g. "tract 0.23.9 (CPU)",
    /// "onnxruntime 1.31.1 on CUDA device 0"); never contains a comma, so CSV cells stay plain.
    fn describe(&self) -> String;

    /// Runs one input tensor of `shape` (row-major, the model's axis order) and hands the
    /// output values (row-major) and the output shape to `read` where the backend holds them,
    /// so that nothing is copied on the way (a 768² tile's output is 2.4 MB).
    fn run_with(&self, input: &[f32], shape: &[usize], read: &mut OutputReader<'_>) -> Result<()>;

    /// The network's working memory for one input of `shape`, in bytes, where the backend can
    /// estimate it; `None` (the default) makes the memory budget assume
    /// [`crate::budget::TILE_BYTES_AT_512`].
    fn working_bytes(&self, _shape: &[usize]) -> Option<u64> {
        None
    }

    /// Runs one input tensor of `shape`; returns a copy of the output values and the output
    /// shape.
    fn run(&self, input: &[f32], shape: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        let mut output = None;
        self.run_with(input, shape, &mut |values, out_shape| {
            output = Some((values.to_vec(), out_shape.to_vec()));
            Ok(())
        })?;
        output.ok_or_else(|| Error::backend("the model produced no output"))
    }
}

/// What reads a backend's output in place: the values (row-major) and the shape.
pub type OutputReader<'a> = dyn FnMut(&[f32], &[usize]) -> Result<()> + 'a;

/// Which inference engine the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// ONNX Runtime on the GPU when an `onnxruntime-gpu` library and a CUDA device are found,
    /// else tract; the log says which ran and why.
    #[default]
    Auto,
    /// tract, pure Rust on the CPU.
    Tract,
    /// ONNX Runtime on the CPU.
    OrtCpu,
    /// ONNX Runtime with the CUDA execution provider (falls back to its CPU provider, with a
    /// warning that says why, when CUDA cannot start).
    OrtCuda,
}

impl BackendChoice {
    /// Every choice, in the order menus list them.
    pub const ALL: [BackendChoice; 4] = [
        BackendChoice::Auto,
        BackendChoice::Tract,
        BackendChoice::OrtCpu,
        BackendChoice::OrtCuda,
    ];

    /// The name used on the command line, in macros and in the Java API.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Tract => "tract",
            BackendChoice::OrtCpu => "ort-cpu",
            BackendChoice::OrtCuda => "ort-cuda",
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendChoice {
    type Err = Error;

    /// Accepts the names of [`BackendChoice::name`] in any case, plus "cpu" (tract) and "gpu"
    /// / "cuda" (ort-cuda) as the Fiji dialog spells them.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim().to_ascii_lowercase().replace('_', "-");
        match text.as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "tract" | "cpu" => Ok(BackendChoice::Tract),
            "ort-cpu" | "onnxruntime-cpu" => Ok(BackendChoice::OrtCpu),
            "ort-cuda" | "onnxruntime-cuda" | "gpu" | "cuda" => Ok(BackendChoice::OrtCuda),
            _ => Err(Error::invalid(format!(
                "unknown backend \"{text}\": choose one of auto, tract, ort-cpu, ort-cuda"
            ))),
        }
    }
}

/// How a model's backend is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// The engine asked for.
    pub choice: BackendChoice,
    /// Threads one inference call may use (ONNX Runtime's intra-op threads); 0 means one per
    /// core. tract runs one tile per worker thread instead, so the caller's thread pool sets it.
    pub threads: usize,
    /// The ONNX Runtime shared library to use; `None` looks in `BRIGHTSEG_ORT_LIB`, then in the
    /// installed Python wheels (see [`find_onnxruntime`]).
    pub ort_library: Option<PathBuf>,
}

/// Opens the backend `options` ask for on the ONNX file `onnx`; `first_shape` runs (or compiles)
/// once at once, so that weights that do not match their description are refused at load time.
pub fn open_backend(
    onnx: &Path,
    first_shape: &[usize],
    options: &BackendOptions,
) -> Result<Box<dyn Backend>> {
    match options.choice {
        BackendChoice::Tract => Ok(Box::new(TractBackend::load(onnx, first_shape)?)),
        BackendChoice::Auto => open_auto(onnx, first_shape, options),
        BackendChoice::OrtCpu | BackendChoice::OrtCuda => open_ort(onnx, first_shape, options),
    }
}

/// Auto: ONNX Runtime on CUDA when a GPU build of it is found and starts; tract otherwise.
fn open_auto(
    onnx: &Path,
    first_shape: &[usize],
    options: &BackendOptions,
) -> Result<Box<dyn Backend>> {
    if let Some(cuda) = cuda_if_available(onnx, first_shape, options) {
        return Ok(cuda);
    }
    Ok(Box::new(TractBackend::load(onnx, first_shape)?))
}

/// ONNX Runtime on CUDA when a GPU build of it is found and starts; `None` (and a log line
/// saying why) otherwise.
#[cfg(feature = "ort")]
fn cuda_if_available(
    onnx: &Path,
    first_shape: &[usize],
    options: &BackendOptions,
) -> Option<Box<dyn Backend>> {
    match find_onnxruntime(options.ort_library.as_deref()) {
        Ok(lib) if lib.has_cuda_provider() => {
            match onnxruntime::OrtBackend::load_cuda_only(onnx, first_shape, &lib, options.threads)
            {
                Ok(backend) => return Some(Box::new(backend)),
                Err(e) => log::info!("backend auto: CUDA did not start ({e}); using tract"),
            }
        }
        Ok(lib) => log::debug!(
            "backend auto: {} has no CUDA provider (CPU wheel); using tract",
            lib.path.display()
        ),
        Err(e) => log::debug!("backend auto: {e}; using tract"),
    }
    None
}

/// Without ONNX Runtime built in there is no CUDA to try.
#[cfg(not(feature = "ort"))]
fn cuda_if_available(
    _onnx: &Path,
    _first_shape: &[usize],
    _options: &BackendOptions,
) -> Option<Box<dyn Backend>> {
    None
}

#[cfg(feature = "ort")]
fn open_ort(
    onnx: &Path,
    first_shape: &[usize],
    options: &BackendOptions,
) -> Result<Box<dyn Backend>> {
    let lib = find_onnxruntime(options.ort_library.as_deref())?;
    let cuda = options.choice == BackendChoice::OrtCuda;
    Ok(Box::new(onnxruntime::OrtBackend::load(
        onnx,
        first_shape,
        &lib,
        options.threads,
        cuda,
    )?))
}

#[cfg(not(feature = "ort"))]
fn open_ort(
    _onnx: &Path,
    _first_shape: &[usize],
    options: &BackendOptions,
) -> Result<Box<dyn Backend>> {
    Err(not_built(options.choice))
}

#[cfg(not(feature = "ort"))]
fn not_built(choice: BackendChoice) -> Error {
    Error::backend(format!(
        "backend {choice} needs ONNX Runtime, but this build of brightseg has none: use \
         --backend tract, or rebuild with `cargo build --features ort`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_from_their_names_and_aliases() {
        for choice in BackendChoice::ALL {
            assert_eq!(choice.name().parse::<BackendChoice>().ok(), Some(choice));
            assert_eq!(
                choice.name().to_uppercase().parse::<BackendChoice>().ok(),
                Some(choice)
            );
        }
        assert_eq!(
            "CPU".parse::<BackendChoice>().ok(),
            Some(BackendChoice::Tract)
        );
        assert_eq!(
            "GPU".parse::<BackendChoice>().ok(),
            Some(BackendChoice::OrtCuda)
        );
        let e = "tensorrt".parse::<BackendChoice>().expect_err("unknown");
        assert!(e.to_string().contains("ort-cuda"), "{e}");
    }
}
