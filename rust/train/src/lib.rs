//! brightseg training toolkit: nucleus targets derived from a fluorescence channel, networks
//! trained on CPU in pure Rust, and their export to ONNX with a model description that the
//! inference core (and any bioimage.io consumer) reads.
//!
//! In the order data flows through a training run:
//! - [`data`]: float planes, fields read from files, normalised samples and their patches;
//! - [`targets`]: nucleus targets from a stain (filters, threshold, registration check);
//! - [`nets`]: the networks (U-Net, artifact classifier) and their seeded initialisation;
//! - [`compute`]: the one place a device is made;
//! - [`loss`]: every loss, used by training and validation alike;
//! - [`fit`]: the generic fit loop (epochs, early stop, time budget, cancel, resume, best by
//!   score), driven by a task of [`tasks`] (segmentation, classification);
//! - [`export`]: ONNX and the model description;
//! - [`nuclei`] and [`artifacts`]: the two recipes that compose the above into a model folder.
//!
//! Errors are the core's [`brightseg::Error`], so the CLI, JNI and Fiji adapters report them the
//! same way as inference errors.

pub mod artifacts;
pub mod compute;
pub mod data;
pub mod export;
pub mod fit;
pub mod loss;
pub mod nets;
pub mod nuclei;
pub mod targets;
pub mod tasks;

/// The automatic thresholds live in the core crate (inference refines artifact masks with Otsu's
/// threshold too); re-exported here, where targets are made with them.
pub use brightseg::threshold;
