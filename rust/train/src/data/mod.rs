//! Training data: float planes, the fields read from image files (with their stain, labels and
//! pixel size), and the normalised samples with targets and loss weights that tasks cut
//! augmented patches from.

pub mod fields;
pub mod plane;
pub mod samples;
pub mod sources;

pub use plane::FloatPlane;
pub use samples::{normalize, normalize_with, Sample};
