//! What the fit loop ([`crate::fit`]) learns: each task draws batches, computes its loss with
//! [`crate::loss`] and scores a network on validation data.
//!
//! - [`segmentation`]: a U-Net predicting a probability per pixel (nuclei, artifacts), scored by
//!   object F1 against instance labels;
//! - [`classification`]: the artifact classifier, one "artifact" probability per tile from
//!   image-level labels, scored by accuracy.

pub mod classification;
pub mod segmentation;
