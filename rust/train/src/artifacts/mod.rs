//! Artifact segmentation from image-level labels only (the ArtSeg method): a classifier learns
//! "artifact" vs "clean" per tile ([`crate::tasks::classification`]), ScoreCAM turns it into
//! per-pixel maps, thresholds chosen by mutual information with the image make pseudo-masks,
//! and a U-Net trained on those ([`crate::tasks::segmentation`]) segments artifacts. [`synth`]
//! builds the synthetic evaluation set.

pub mod pseudo;
pub mod scorecam;
pub mod synth;
pub mod train;
