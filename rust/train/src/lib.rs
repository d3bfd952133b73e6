//! brightseg training toolkit: nucleus targets derived from a fluorescence channel, a U-Net
//! trained on CPU in pure Rust, and its export to ONNX with a model description that the
//! inference core (and any bioimage.io consumer) reads.
//!
//! Errors are the core's [`brightseg::Error`], so the CLI, JNI and Fiji adapters report them the
//! same way as inference errors.

pub mod artifacts;
pub mod data;
pub mod dataset;
pub mod export;
pub mod filters;
pub mod nuclei;
pub mod register;
pub mod targets;
pub mod trainer;
pub mod unet;

/// The automatic thresholds live in the core crate (inference refines artifact masks with Otsu's
/// threshold too); re-exported here, where targets are made with them.
pub use brightseg::threshold;
