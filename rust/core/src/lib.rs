//! # brightseg
//!
//! Turns an image plane into labelled nuclei: reads microscopy images, runs a U-Net described in
//! the bioimage.io style over overlapping tiles, thresholds and splits the probability into
//! objects, and measures them with Harmony's population statistics. It knows nothing of JNI,
//! ImageJ or the command line; those are thin adapters over this crate. The network runs behind
//! the [`backend::Backend`] trait (tract by default), whose types never appear in this API.
//!
//! The data flow, one module per step: [`io`] → [`image`] → [`normalize`] → [`tiling`] →
//! [`backend`] → [`objects`] → [`measure`], composed by [`pipeline::find_nuclei`]; [`model`]
//! reads the model description that drives it and [`error`] is the error every step returns.
//!
//! ```no_run
//! use brightseg::{io, pipeline::{find_nuclei, Model, NucleiParams}};
//! # fn main() -> brightseg::Result<()> {
//! let image = io::read_image("cells.tif".as_ref())?;
//! let model = Model::load("models/unet2d_nuclei_broad".as_ref())?;
//! let plane = image.plane(image.resolve_channel(None)?, 0, 0);
//! let result = find_nuclei(&model, plane, image.calibration, &NucleiParams::default(), &|_| {})?;
//! println!("{} nuclei, mean size {:.1} µm²", result.found.stats.count, result.found.stats.size_mean);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod backend;
pub mod banded;
pub mod budget;
pub mod catalog;
pub mod error;
pub mod harmony;
pub mod image;
pub mod inference;
pub mod io;
pub mod measure;
pub mod metaxpress;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod objects;
pub mod ome_zarr;
pub mod pipeline;
pub mod plate_map;
pub mod refine;
pub mod render;
pub mod resample;
pub mod threshold;
pub mod tiling;
pub mod timing;
pub mod zoo;

pub use error::{Error, ErrorKind, Result};

/// Files of the repository (and `../shared` beside it) that unit tests read.
#[cfg(test)]
pub(crate) mod test_files {
    use std::path::{Path, PathBuf};

    /// `relative` to the repository root, when it exists; outside CI a missing file skips the
    /// test (`None`), in CI (`CI` set) it fails it.
    pub(crate) fn existing(relative: &str) -> Option<PathBuf> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(relative);
        if path.exists() {
            return Some(path);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing",
            path.display()
        );
        None
    }

    /// The oblique-light channel of frame `t` of ndev's scratch assay (576 × 210, 0.619 µm,
    /// ~70 nuclei) and the shipped brightfield model, or `None` (outside CI) without the data.
    pub(crate) fn scratch_assay_frame(
        t: usize,
    ) -> Option<(crate::image::Plane, crate::pipeline::Model)> {
        let image_path = existing("data/ndev/scratch-assay-labeled-10T-2Ch.tiff")?;
        let image = crate::io::read_image(&image_path).expect("ndev image");
        let model_dir =
            existing("models/nuclei-brightfield").expect("the shipped model is in the repository");
        let model = crate::pipeline::Model::load(&model_dir).expect("shipped model");
        let channel = image.resolve_channel(Some("oblique")).expect("channel");
        Some((image.plane(channel, 0, t).clone(), model))
    }
}
