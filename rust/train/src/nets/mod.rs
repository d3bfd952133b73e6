//! The networks the toolkit trains, and how their weights are drawn reproducibly.
//!
//! [`unet`] segments (nuclei, artifacts); [`classifier`] says "artifact" or "clean" for a
//! whole tile. A network knows its layers and its forward pass, nothing of data or losses.

pub mod classifier;
pub mod unet;

use burn::module::Module;
use burn::tensor::Device;

pub use classifier::Classifier;
pub use unet::{Architecture, UNet};

/// Runs `init` right after seeding `device`'s random generator with `seed`, with no other
/// seeded initialisation in this process in between, and draws every weight of the network it
/// builds before letting go. burn's generator is shared by the whole process and burn draws a
/// parameter's initial values lazily, on first use: without both, two trainings (or tests)
/// starting at once would draw each other's numbers and the same seed would not give the same
/// network.
pub fn seeded<T: DrawWeights>(device: &Device, seed: u64, init: impl FnOnce() -> T) -> T {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let network = init();
    network.draw_weights(device);
    network
}

/// A network whose lazily initialised weights can be drawn on demand (see [`seeded`]).
pub trait DrawWeights: Module {
    /// Draws every initial weight now, in the order a forward pass first uses them (the order
    /// in which a training run that started alone always drew them).
    fn draw_weights(&self, device: &Device);
}
