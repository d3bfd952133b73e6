//! Reading images (TIFF incl. ImageJ hyperstacks and OME-TIFF, PNG, JPEG) and writing label and
//! probability images as TIFF files that ImageJ opens with the right calibration.
//!
//! Decoding is done by the `tiff` and `image` crates; this module only interprets metadata
//! (ImageJ description, OME-XML, resolution tags) and lays planes out as an [`Image`](crate::image::Image).

mod atomic;
mod metadata;
mod read;
mod spool;
mod write;

use std::path::Path;

pub use atomic::{remove_stale_partials, temp_path_for, write_atomically, write_bytes_atomically};
pub use read::{
    list_series, read_image, read_image_from_bytes, read_image_within, read_series_within,
    SeriesInfo, MAX_PLANE_BYTES,
};
pub use spool::{RawKind, RawPlanes};
pub use write::{write_png_rgb, write_tiff, OutputPlane, PngRows};

/// True for file names brightseg can read (by extension), used when expanding folders.
pub fn is_supported_image_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(
        ext.as_deref(),
        Some("tif" | "tiff" | "png" | "jpg" | "jpeg")
    )
}

#[cfg(test)]
mod tests;
