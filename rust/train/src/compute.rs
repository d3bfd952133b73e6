//! Where networks run: the one place in the training toolkit that makes a burn device.
//!
//! Training, validation, prediction, ScoreCAM and model loading all ask here, so moving the
//! trainer to another engine (a GPU, a faster CPU backend) is a change to this file alone.
//! Code that already holds a network asks [`device_of`] instead, so validation and prediction
//! run where the network lives, never on a second, default device.

use burn::module::Module;
use burn::tensor::Device;

/// The device networks are built, loaded and run on for inference: burn's `flex` CPU backend
/// (pure Rust, threads from the caller's rayon pool).
pub fn device() -> Device {
    Device::flex()
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
