//! Where networks run: the one place in the training toolkit that makes a burn device.
//!
//! Training, validation, prediction, ScoreCAM and model loading all ask here, so moving the
//! trainer to another engine (a GPU, a faster CPU backend) is a change to this file alone.
//! Code that already holds a network asks [`device_of`] instead, so validation and prediction
//! run where the network lives, never on a second, default device.
//!
//! Two engines: burn's `flex` (pure Rust, always built, threads from the caller's rayon pool)
//! and, with the Cargo feature `libtorch`, LibTorch through burn's `tch` backend (the library
//! inside PyPI's `torch` wheel, on the CPU or a CUDA GPU). The adapters choose one per process
//! with [`select_engine`] before training; results are seeded and reproducible per engine.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use brightseg::{Error, Result};
use burn::module::Module;
use burn::tensor::Device;

/// An engine networks train and run on.
/// (The numbers are how [`select_engine`] stores the choice.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Engine {
    /// burn's `flex` CPU backend: pure Rust, nothing to install.
    #[default]
    Flex = 0,
    /// LibTorch on the CPU (its own threads, as many as the job's).
    LibTorch = 1,
    /// LibTorch on the first CUDA GPU.
    LibTorchCuda = 2,
}

impl Engine {
    /// The name users type (`--engine`) and reports show.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Flex => "flex",
            Engine::LibTorch => "libtorch",
            Engine::LibTorchCuda => "libtorch-cuda",
        }
    }

    /// Whether this build can run the engine.
    pub fn is_built(self) -> bool {
        match self {
            Engine::Flex => true,
            Engine::LibTorch | Engine::LibTorchCuda => cfg!(feature = "libtorch"),
        }
    }

    /// Parses an engine name; an engine this build lacks is refused with how to get it.
    pub fn parse(text: &str) -> Result<Self> {
        let engine = match text.trim().to_ascii_lowercase().as_str() {
            "flex" => Engine::Flex,
            "libtorch" | "torch" | "tch" => Engine::LibTorch,
            "libtorch-cuda" | "cuda" => Engine::LibTorchCuda,
            other => {
                return Err(Error::invalid(format!(
                    "unknown training engine {other:?}: choose flex, libtorch or libtorch-cuda"
                )))
            }
        };
        if !engine.is_built() {
            return Err(Error::invalid(format!(
                "this brightseg was built without the {} engine: build it with `--features \
                 libtorch` and PyPI's torch 2.9.0 installed (docs/training.md, \"Training \
                 engines\"), or train with --engine flex",
                engine.name()
            )));
        }
        Ok(engine)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static ENGINE: AtomicU8 = AtomicU8::new(Engine::Flex as u8);

/// Chooses the engine every later [`device`] call of this process uses, with `threads` for
/// LibTorch's own thread pool (0: one per core). Call it before training starts.
pub fn select_engine(engine: Engine, threads: usize) -> Result<()> {
    if !engine.is_built() {
        return Err(Error::invalid(format!(
            "this brightseg was built without the {engine} engine"
        )));
    }
    #[cfg(feature = "libtorch")]
    if engine != Engine::Flex && threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
    #[cfg(not(feature = "libtorch"))]
    let _ = threads;
    ENGINE.store(engine as u8, Ordering::SeqCst);
    Ok(())
}

/// The engine [`device`] uses now.
pub fn engine() -> Engine {
    match ENGINE.load(Ordering::SeqCst) {
        x if x == Engine::LibTorch as u8 => Engine::LibTorch,
        x if x == Engine::LibTorchCuda as u8 => Engine::LibTorchCuda,
        _ => Engine::Flex,
    }
}

/// The device networks are built, loaded and run on for inference, on the selected engine.
// burn 0.22 marks its LibTorch devices deprecated in favour of its CubeCL backends; its CPU one
// (burn-cpu) fetches an LLVM build from outside the registries at build time, so LibTorch is
// the faster CPU engine we can build here (docs/training.md, "Training engines").
#[cfg_attr(feature = "libtorch", allow(deprecated))]
pub fn device() -> Device {
    match engine() {
        #[cfg(feature = "libtorch")]
        Engine::LibTorch => Device::libtorch(),
        #[cfg(feature = "libtorch")]
        Engine::LibTorchCuda => Device::libtorch_cuda(0),
        _ => Device::flex(),
    }
}

/// The device a network trains on: [`device`] with automatic differentiation.
pub fn training_device() -> Device {
    device().autodiff()
}

/// The device `network`'s weights live on, without automatic differentiation: where to put the
/// inputs of a forward pass that only predicts. Falls back to [`device`] for a network without
/// parameters.
pub fn device_of<M: Module>(network: &M) -> Device {
    network
        .devices()
        .into_iter()
        .next()
        .map_or_else(device, Device::without_autodiff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    #[test]
    fn a_network_reports_the_device_it_lives_on_without_autodiff() {
        let training = training_device();
        assert!(training.is_autodiff());
        let net = LinearConfig::new(2, 1).init(&training);
        let inference = device_of(&net.valid());
        assert!(!inference.is_autodiff());
        assert_eq!(inference, device());
        assert!(!device_of(&LinearConfig::new(2, 1).init(&device())).is_autodiff());
    }
}
