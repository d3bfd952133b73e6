//! Nucleus targets from a fluorescence (Hoechst/DAPI) plane, with no hand labelling:
//! background subtraction (white top-hat), Gaussian smoothing, an automatic threshold, hole
//! filling, a seeded watershed split of touching nuclei and a size filter (the core's object
//! step), then an "uncertain" band around every object boundary where the loss should not
//! insist, as a weight map.

use brightseg::objects::{distance_transform, find_objects, Labels, ObjectParams};

use crate::data::FloatPlane;

pub mod filters;
pub mod incomplete;
pub mod register;

use crate::threshold::ThresholdMethod;
use brightseg::{Error, Result};
use filters::{gaussian, top_hat};

/// Settings of target generation; sizes in µm so one setting fits any magnification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetParams {
    /// Radius of the top-hat window (background varying more slowly than this is removed);
    /// about twice a nucleus diameter. 0 turns background subtraction off.
    pub background_radius_um: f64,
    /// Standard deviation of the Gaussian smoothing before thresholding.
    pub smoothing_um: f64,
    /// Automatic threshold method.
    pub method: ThresholdMethod,
    /// Objects below this area are dropped (and marked uncertain, see `weights`).
    pub min_area_um2: f64,
    /// Depth in pixels a distance-transform peak needs to seed a nucleus of its own.
    pub split_depth_px: f32,
    /// Pixels closer than this to an object boundary are "uncertain" (weight 0).
    pub uncertain_um: f64,
}

impl Default for TargetParams {
    fn default() -> Self {
        TargetParams {
            background_radius_um: 25.0,
            smoothing_um: 1.0,
            method: ThresholdMethod::Otsu,
            min_area_um2: 10.0,
            split_depth_px: 2.0,
            uncertain_um: 1.0,
        }
    }
}

impl TargetParams {
    /// Checks ranges before any work is done.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("background radius", self.background_radius_um),
            ("smoothing", self.smoothing_um),
            ("minimum area", self.min_area_um2),
            ("uncertain band", self.uncertain_um),
        ];
        for (name, v) in sizes {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid(format!(
                    "{name} {v} must be a finite number of 0 or more (µm)"
                )));
            }
        }
        brightseg::objects::check_split_depth(self.split_depth_px)
    }
}

/// Targets of one plane.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Nucleus instances (0 = background).
    pub labels: Labels,
    /// Per-pixel loss weight: 0 in the uncertain band and on objects too small to trust, else 1.
    pub weights: Vec<f32>,
    /// Threshold applied to the background-subtracted, smoothed plane.
    pub threshold: f32,
}

impl Targets {
    /// The binary target (1 inside a nucleus).
    pub fn mask(&self) -> Vec<f32> {
        self.labels
            .data
            .iter()
            .map(|&l| if l != 0 { 1.0 } else { 0.0 })
            .collect()
    }

    /// Fraction of pixels with weight 0.
    pub fn uncertain_fraction(&self) -> f64 {
        let n = self.weights.len().max(1);
        self.weights.iter().filter(|&&w| w == 0.0).count() as f64 / n as f64
    }
}

/// Nucleus targets of `fluorescence` (pixel size `pixel_um` µm).
pub fn nucleus_targets(
    fluorescence: &FloatPlane,
    pixel_um: f64,
    params: &TargetParams,
) -> Result<Targets> {
    params.validate()?;
    if !pixel_um.is_finite() || pixel_um <= 0.0 {
        return Err(Error::invalid(format!(
            "pixel size {pixel_um} µm is invalid: set the image's calibration"
        )));
    }
    let (w, h) = (fluorescence.width, fluorescence.height);
    let radius = (params.background_radius_um / pixel_um).round() as usize;
    let flat = top_hat(fluorescence, radius);
    let smooth = gaussian(&flat, params.smoothing_um / pixel_um);
    let threshold = params.method.threshold(&smooth.data).ok_or_else(|| {
        Error::image("the fluorescence plane is flat: no nuclei to derive targets from")
    })?;
    let object_params = ObjectParams {
        threshold,
        min_area_px: brightseg::image::area_in_pixels(params.min_area_um2, pixel_um, pixel_um),
        split: true,
        split_depth_px: params.split_depth_px,
        fill_holes: true,
    };
    let labels = find_objects(&smooth.data, w, h, &object_params);
    // Foreground that did not become an object (below the size filter): uncertain.
    let mut weights: Vec<f32> = smooth
        .data
        .iter()
        .zip(&labels.data)
        .map(|(&v, &l)| if v > threshold && l == 0 { 0.0 } else { 1.0 })
        .collect();
    let band_px = params.uncertain_um / pixel_um;
    if band_px > 0.0 {
        let not_boundary: Vec<bool> = (0..w * h)
            .map(|i| !is_boundary(&labels.data, w, h, i))
            .collect();
        let distance = distance_transform(&not_boundary, w, h);
        for (weight, &d) in weights.iter_mut().zip(&distance) {
            if f64::from(d) < band_px {
                *weight = 0.0;
            }
        }
    }
    Ok(Targets {
        labels,
        weights,
        threshold,
    })
}

/// True when pixel `i` has a 4-neighbour with another label (object edges on both sides, and
/// the line between touching objects).
fn is_boundary(labels: &[u32], w: usize, h: usize, i: usize) -> bool {
    let (x, y) = (i % w, i / w);
    let l = labels[i];
    (x > 0 && labels[i - 1] != l)
        || (x + 1 < w && labels[i + 1] != l)
        || (y > 0 && labels[i - w] != l)
        || (y + 1 < h && labels[i + w] != l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two bright discs, one small speck, on a sloping background.
    fn synthetic() -> FloatPlane {
        let (w, h) = (80, 60);
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let disc = |cx: f64, cy: f64, r: f64| {
                    if (x - cx).powi(2) + (y - cy).powi(2) <= r * r {
                        100.0
                    } else {
                        0.0
                    }
                };
                (20.0
                    + x * 0.4
                    + disc(20.0, 20.0, 7.0)
                    + disc(55.0, 35.0, 8.0)
                    + disc(40.0, 52.0, 1.0)) as f32
            })
            .collect();
        FloatPlane::new(w, h, data)
    }

    #[test]
    fn finds_the_discs_drops_the_speck_and_marks_edges_uncertain() {
        let params = TargetParams {
            background_radius_um: 20.0,
            smoothing_um: 0.5,
            min_area_um2: 20.0,
            uncertain_um: 1.0,
            ..TargetParams::default()
        };
        let t = nucleus_targets(&synthetic(), 1.0, &params).expect("targets");
        assert_eq!(t.labels.count, 2);
        let w = 80;
        assert_ne!(t.labels.data[20 * w + 20], 0);
        assert_ne!(t.labels.data[35 * w + 55], 0);
        assert_eq!(t.weights[20 * w + 20], 1.0, "disc centre is certain");
        assert_eq!(t.weights[5 * w + 5], 1.0, "far background is certain");
        assert_eq!(t.weights[20 * w + 27], 0.0, "disc edge is uncertain");
        assert_eq!(t.weights[52 * w + 40], 0.0, "a dropped speck is uncertain");
        assert!(t.uncertain_fraction() < 0.2);
    }

    #[test]
    fn refuses_a_flat_plane_and_bad_settings() {
        let flat = FloatPlane::new(10, 10, vec![5.0; 100]);
        assert!(nucleus_targets(&flat, 1.0, &TargetParams::default()).is_err());
        let bad = TargetParams {
            smoothing_um: f64::NAN,
            ..TargetParams::default()
        };
        assert!(nucleus_targets(&synthetic(), 1.0, &bad).is_err());
        assert!(nucleus_targets(&synthetic(), 0.0, &TargetParams::default()).is_err());
    }
}
