//! "Find Nuclei DNN" as one function: probability by tiled inference, objects, measurements and
//! population statistics.

use crate::budget::{self, Holding};
use crate::error::{Error, Result};
use crate::image::{pixel_sizes_differ, Calibration, PixelData, Plane};
use crate::measure::{measure_objects, Certainty, ObjectMeasurement, PopulationStats};
use crate::objects::{find_objects, Labels, ObjectParams};
use crate::refine::{departing_pixels, refine_mask, Refinement};
use crate::timing::{self, TimedStage};

pub use crate::inference::{Model, Progress, Stage, MAX_TILE_SIZE};

/// Planning a Find Nuclei run: the size the network sees and the memory it needs, checked
/// before anything large is allocated.
impl Model {
    /// Works out how Find Nuclei will process a `width × height` plane with `calibration` and
    /// `params` (the size the network sees, the memory needed) and refuses, before anything
    /// large is allocated, an implausible pixel size (see [`check_pixel_size`]) or a plan over
    /// the memory budget. [`find_nuclei`] plans first; adapters may plan earlier to refuse
    /// before reading pixels. Run it on the thread pool that will do the work: the workers
    /// count.
    pub fn plan(
        &self,
        width: usize,
        height: usize,
        calibration: Calibration,
        params: &NucleiParams,
    ) -> Result<Plan> {
        let resolved = Resolved::new(self, calibration, params)?;
        self.plan_resolved(width, height, &resolved)
    }

    fn plan_resolved(&self, width: usize, height: usize, resolved: &Resolved) -> Result<Plan> {
        self.plan_rows(width, height, resolved, Holding::Whole)
    }

    /// [`Model::plan`] for a plane processed band by band, `window_rows` rows of it (a band and
    /// the rows below it) held at a time.
    pub(crate) fn plan_in_bands(
        &self,
        width: usize,
        height: usize,
        resolved: &Resolved,
        window_rows: usize,
    ) -> Result<Plan> {
        let (tile_rows, _) = self.card.tile_shape(height, width);
        let held_rows = window_rows.saturating_add(tile_rows).min(height);
        self.plan_rows(width, height, resolved, Holding::Bands { held_rows })
    }

    /// The plan when the plane's maps are held as `holding` says.
    fn plan_rows(
        &self,
        width: usize,
        height: usize,
        resolved: &Resolved,
        holding: Holding,
    ) -> Result<Plan> {
        if width == 0 || height == 0 {
            return Err(Error::image(format!(
                "the image is {width} × {height} pixels: there is nothing to segment"
            )));
        }
        let Some(model_px) = resolved.resample_to_um else {
            let need = self.memory_need(width, height, holding);
            self.check_need(&need)?;
            return Ok(Plan {
                network_width: width,
                network_height: height,
                bytes: need.bytes,
            });
        };
        let (pw, ph) = (resolved.pixel_width_um, resolved.pixel_height_um);
        // Saturating: an absurd calibration gives an absurd size, refused below, not a wrap.
        let scaled = |n: usize, px: f64| ((n as f64 * px / model_px).round() as usize).max(1);
        let (nw, nh) = (scaled(width, pw), scaled(height, ph));
        // The maps at the image's size, and the network's tiles, as without resampling; beyond
        // them, the resampled rows that one round of tiles reads and the probability rows it
        // blends, at the network's width.
        let image_side = self.memory_need(width, height, holding);
        let one_worker_side = image_side
            .one_worker
            .saturating_add(self.resampled_round_bytes(nw, nh, 1));
        let bytes = image_side.bytes.saturating_add(self.resampled_round_bytes(
            nw,
            nh,
            rayon::current_num_threads(),
        ));
        let what = format!(
            "finding nuclei in a {width} × {height} plane at {pw} µm per pixel, resampled to \
             {nw} × {nh} for the model's {model_px} µm pixels,"
        );
        let options = self.memory_options(one_worker_side);
        self.memory_budget.check_with(
            bytes,
            &what,
            &format!("check the image's pixel size, or {options}"),
        )?;
        Ok(Plan {
            network_width: nw,
            network_height: nh,
            bytes,
        })
    }

    /// Reserves what `plan` needs to find nuclei in `plane`, and the plane's own pixels, from
    /// the process-wide pool (see [`crate::budget::MemoryBudget::reserve`]): adapters that run
    /// calls at once (the Java API) hold it for the call, so that together the calls stay within
    /// the budget.
    /// Call it outside the thread pool the work runs on.
    pub fn reserve(&self, plane: &Plane, plan: &Plan) -> Result<budget::Reservation> {
        let pixel_bytes = match plane.data() {
            PixelData::U8(_) => 1,
            PixelData::U16(_) => 2,
            PixelData::F32(_) => 4,
        };
        let pixels = (plane.width() as u64 * plane.height() as u64).saturating_mul(pixel_bytes);
        self.memory_budget.reserve(
            plan.bytes.saturating_add(pixels),
            &format!(
                "finding nuclei in a {} × {} plane",
                plane.width(),
                plane.height()
            ),
            &self.memory_options(plan.bytes),
        )
    }

    /// Memory of one round of tiles on a resampled `nw × nh` plane with `workers` threads: the
    /// input rows the round reads and the probability rows it blends (f32 each).
    fn resampled_round_bytes(&self, nw: usize, nh: usize, workers: usize) -> u64 {
        let (th, tw) = self.card.tile_shape(nh, nw);
        let per_row = nw.div_ceil(tw.max(1)).max(1);
        let round = (4 * workers.max(1)).div_ceil(per_row).max(1);
        let rows = round.saturating_add(1).saturating_mul(th).min(nh) as u64;
        rows.saturating_mul(nw as u64).saturating_mul(8)
    }
}

/// How Find Nuclei will process one plane, worked out (and checked against the memory budget)
/// before anything large is allocated: see [`Model::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Width of the plane the network runs on: the image's, or the image's resampled to the
    /// model's pixel size.
    pub network_width: usize,
    /// Height of that plane.
    pub network_height: usize,
    /// Memory the run needs beyond the decoded image, bytes.
    pub bytes: u64,
}

/// Parameters of Find Nuclei. `None` takes the model card's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NucleiParams {
    /// Probability threshold in [0, 1].
    pub threshold: Option<f32>,
    /// Minimum nucleus area in µm².
    pub min_size_um2: Option<f64>,
    /// Split touching nuclei.
    pub split: bool,
    /// Depth in pixels of the image a distance peak needs to seed its own nucleus (see
    /// [`ObjectParams`]); none given: the model card's, scaled to the image when the image is
    /// resampled to the model's pixel size.
    pub split_depth_px: Option<f32>,
    /// How the image refines the thresholded mask (none given: the model's
    /// `config.brightseg.refine`, see [`crate::refine`]).
    pub refine: Option<Refinement>,
    /// Run even when the image's pixel size is more than [`PLAUSIBLE_SCALE`] times larger or
    /// smaller than the model's (refused by default: such a calibration is nearly always a unit
    /// mix-up, and resampling to it can need more memory than any machine has).
    pub accept_any_pixel_size: bool,
}

impl Default for NucleiParams {
    fn default() -> Self {
        NucleiParams {
            threshold: None,
            min_size_um2: None,
            split: true,
            split_depth_px: None,
            refine: None,
            accept_any_pixel_size: false,
        }
    }
}

/// How many times larger or smaller than the model's an image's pixel size may be before Find
/// Nuclei refuses it as an implausible calibration (see [`check_pixel_size`]).
pub const PLAUSIBLE_SCALE: f64 = 8.0;

/// Refuses an image pixel size (µm) more than [`PLAUSIBLE_SCALE`] times away from the model's,
/// naming both and, when a factor of 1000 or 10 000 would bring it to the model's scale, the
/// value it probably was meant to be, and the options that accept it anyway.
pub fn check_pixel_size(image_um: f64, model_um: f64) -> Result<()> {
    let ratio = image_um / model_um;
    if (1.0 / PLAUSIBLE_SCALE..=PLAUSIBLE_SCALE).contains(&ratio) {
        return Ok(());
    }
    let (relation, times) = if ratio > 1.0 {
        ("larger", ratio)
    } else {
        ("smaller", 1.0 / ratio)
    };
    // The unit mix-ups seen in practice: nm or mm typed as µm (10³), cm as µm (10⁴).
    let guess = [(1e-3, "nm"), (1e-4, "Å"), (1e3, "mm"), (1e4, "cm")]
        .into_iter()
        .map(|(factor, unit)| (image_um * factor, unit))
        .filter(|(meant, _)| (0.5..=2.0).contains(&(meant / model_um)))
        .map(|(meant, unit)| {
            format!(
                " If {image_um} was a size in {unit}, the pixel size is {meant:.4} µm: set the \
             image's calibration in µm."
            )
        })
        .next()
        .unwrap_or_default();
    Err(Error::invalid(format!(
        "the image's pixel size, {image_um} µm, is {times:.0} times {relation} than the model's \
         {model_um} µm: the calibration's unit is probably wrong, and nuclei would be {times:.0} \
         times the size the model knows.{guess} To run at this pixel size anyway, accept it \
         explicitly (CLI: --accept-pixel-size; Java: NucleiParams.withAnyPixelSize())."
    )))
}

impl NucleiParams {
    /// Checks ranges before any work is done.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(Error::invalid(format!(
                    "threshold {t} is outside [0, 1]: it is a probability (0.5 is usual)"
                )));
            }
        }
        if let Some(m) = self.min_size_um2 {
            if !m.is_finite() || m < 0.0 {
                return Err(Error::invalid(format!(
                    "minimum size {m} µm² is invalid: give an area of 0 or more (10 is usual)"
                )));
            }
        }
        match self.split_depth_px {
            Some(depth) => crate::objects::check_split_depth(depth),
            None => Ok(()),
        }
    }
}

/// Everything Find Nuclei produces for one plane.
#[derive(Debug, Clone)]
pub struct NucleiResult {
    /// Probability map, same size as the input, row-major.
    pub probability: Vec<f32>,
    /// Nucleus labels (0 = background).
    pub labels: Labels,
    /// Measurements, statistics and the settings used.
    pub found: Findings,
}

/// What Find Nuclei found in one plane with its pixel maps left out (see
/// [`NucleiResult::found`] and [`crate::banded`]).
#[derive(Debug, Clone)]
pub struct Findings {
    /// One measurement per nucleus, by label.
    pub objects: Vec<ObjectMeasurement>,
    /// Harmony population statistics of nucleus sizes.
    pub stats: PopulationStats,
    /// Threshold used.
    pub threshold: f32,
    /// Minimum size used, µm².
    pub min_size_um2: f64,
    /// Pixel width used for µm values.
    pub pixel_width_um: f64,
    /// Pixel height used for µm values.
    pub pixel_height_um: f64,
    /// False when the image had no calibration and 1 µm per pixel was assumed.
    pub calibrated: bool,
    /// Which backend ran the model.
    pub backend: String,
    /// How sure the model was of the plane (at the model's pixel size).
    pub certainty: Certainty,
    /// True when the model may not suit the plane: many more uncertain pixels than on images it
    /// suits ([`Certainty::poor_fit`] against the model card's level).
    pub poor_fit: bool,
}

impl NucleiResult {
    /// Share of the plane's pixels inside an object, in percent ("% of image covered").
    pub fn covered_percent(&self) -> f64 {
        let n = self.labels.data.len().max(1);
        100.0 * self.labels.data.iter().filter(|&&l| l != 0).count() as f64 / n as f64
    }

    /// Removes every object with a pixel where `mask` is true (an artifact, say), renumbers the
    /// rest and measures them again on `plane`. Returns how many objects were removed.
    pub fn exclude_overlapping(&mut self, mask: &[bool], plane: &Plane) -> usize {
        let mut hit = vec![false; self.labels.count + 1];
        for (&l, &m) in self.labels.data.iter().zip(mask) {
            if m && l != 0 {
                hit[l as usize] = true;
            }
        }
        let removed = hit.iter().filter(|&&h| h).count();
        if removed == 0 {
            return 0;
        }
        let kept: Vec<u32> = self
            .labels
            .data
            .iter()
            .map(|&l| if hit[l as usize] { 0 } else { l })
            .collect();
        self.labels =
            crate::objects::relabel_and_filter(kept, self.labels.width, self.labels.height, 0.0);
        self.found.objects = measure_objects(
            &self.labels,
            &self.probability,
            plane,
            self.found.pixel_width_um,
            self.found.pixel_height_um,
        );
        let sizes: Vec<f64> = self.found.objects.iter().map(|o| o.area_um2).collect();
        self.found.stats = PopulationStats::from_sizes(&sizes);
        removed
    }
}

/// The settings of one Find Nuclei run, resolved against the model's defaults and the image's
/// calibration.
pub(crate) struct Resolved {
    pub(crate) threshold: f32,
    pub(crate) min_size_um2: f64,
    pub(crate) pixel_width_um: f64,
    pub(crate) pixel_height_um: f64,
    pub(crate) calibrated: bool,
    pub(crate) objects: ObjectParams,
    /// The model's pixel size when the plane must be resampled to it first.
    pub(crate) resample_to_um: Option<f64>,
    /// How the image refines the thresholded mask.
    pub(crate) refine: Refinement,
}

impl Resolved {
    /// The size the network runs at under `plan` when the plane is resampled for it (`None`:
    /// the plane's own), logging the resampling.
    pub(crate) fn network_size(&self, plan: &Plan) -> Option<(usize, usize)> {
        let model_px = self.resample_to_um?;
        log::info!(
            "resampling from {:.4} µm to the model's {model_px:.4} µm pixels",
            self.pixel_width_um
        );
        Some((plan.network_width, plan.network_height))
    }

    /// The findings of `objects` measured under these settings by `model`.
    pub(crate) fn findings(
        &self,
        objects: Vec<ObjectMeasurement>,
        model: &Model,
        certainty: Certainty,
    ) -> Findings {
        let sizes: Vec<f64> = objects.iter().map(|o| o.area_um2).collect();
        let level = model.card().uncertain_percent;
        let poor_fit = certainty.poor_fit(level);
        if poor_fit {
            log::info!(
                "{:.1} % of the pixels the model gave a chance are uncertain ({:.1} % on images \
                 it suits): {}",
                certainty.uncertain_percent(),
                level.unwrap_or(f64::NAN),
                crate::measure::POOR_FIT_MESSAGE
            );
        }
        Findings {
            certainty,
            poor_fit,
            stats: PopulationStats::from_sizes(&sizes),
            objects,
            threshold: self.threshold,
            min_size_um2: self.min_size_um2,
            pixel_width_um: self.pixel_width_um,
            pixel_height_um: self.pixel_height_um,
            calibrated: self.calibrated,
            backend: model.backend_description(),
        }
    }

    pub(crate) fn new(
        model: &Model,
        calibration: Calibration,
        params: &NucleiParams,
    ) -> Result<Self> {
        params.validate()?;
        let card = model.card();
        let threshold = params.threshold.unwrap_or(card.defaults.threshold);
        let min_size_um2 = params.min_size_um2.unwrap_or(card.defaults.min_size_um2);
        let calibrated = calibration.pixel_area_um2().is_some();
        let pw = calibration.pixel_width_um.unwrap_or(1.0);
        let ph = calibration.pixel_height_um.unwrap_or(pw);
        if !calibrated {
            log::info!("image is not calibrated: assuming 1 µm per pixel for sizes and positions");
        }
        if let (true, false, Some(model_px)) =
            (calibrated, params.accept_any_pixel_size, card.pixel_size_um)
        {
            check_pixel_size(pw, model_px)?;
            check_pixel_size(ph, model_px)?;
        }
        let resample_to_um = card.pixel_size_um.filter(|&model_px| {
            calibrated && (pixel_sizes_differ(pw, model_px) || pixel_sizes_differ(ph, model_px))
        });
        // The card's depth is in the model's pixels; the objects are found at the image's.
        let split_depth_px = params.split_depth_px.unwrap_or_else(|| {
            let model_px_per_image_px = resample_to_um.map_or(1.0, |model_px| model_px / pw);
            card.defaults.split_depth_px * model_px_per_image_px as f32
        });
        Ok(Resolved {
            threshold,
            min_size_um2,
            pixel_width_um: pw,
            pixel_height_um: ph,
            calibrated,
            objects: ObjectParams {
                threshold,
                min_area_px: crate::image::area_in_pixels(min_size_um2, pw, ph),
                split: params.split,
                split_depth_px,
                fill_holes: true,
            },
            resample_to_um,
            refine: params.refine.unwrap_or(card.defaults.refine),
        })
    }
}

/// Finds nuclei in `plane`: probability, objects, measurements and statistics.
pub fn find_nuclei(
    model: &Model,
    plane: &Plane,
    calibration: Calibration,
    params: &NucleiParams,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<NucleiResult> {
    let resolved = Resolved::new(model, calibration, params)?;
    let plan = model.plan_resolved(plane.width(), plane.height(), &resolved)?;
    let (pw, ph) = (resolved.pixel_width_um, resolved.pixel_height_um);
    let started = std::time::Instant::now();
    let mut probability = Vec::with_capacity(plane.width() * plane.height());
    let certainty = model.predict_at(
        plane,
        resolved.network_size(&plan),
        progress,
        &mut |_, rows| {
            probability.extend_from_slice(rows);
            Ok(())
        },
    )?;
    progress(Progress {
        stage: Stage::Objects,
        done: 0,
        total: 1,
    });
    let object_params = resolved.objects;
    let inferred = std::time::Instant::now();
    let labels = match resolved.refine {
        Refinement::None => {
            find_objects(&probability, plane.width(), plane.height(), &object_params)
        }
        refinement => {
            let (w, h) = (plane.width(), plane.height());
            let mask: Vec<bool> = probability
                .iter()
                .map(|&p| p > object_params.threshold)
                .collect();
            let values: Vec<f32> = (0..w * h).map(|i| plane.value(i)).collect();
            let departing = departing_pixels(&values, w, h, refinement);
            let refined: Vec<f32> = refine_mask(&mask, &departing, w, h)
                .into_iter()
                .map(f32::from)
                .collect();
            log::debug!("mask refined by the image ({refinement})");
            find_objects(
                &refined,
                w,
                h,
                // The refinement drew rings and curves on purpose: their holes stay.
                &ObjectParams {
                    threshold: 0.5,
                    fill_holes: false,
                    ..object_params
                },
            )
        }
    };
    let labelled = std::time::Instant::now();
    let objects = timing::time(TimedStage::Measure, || {
        measure_objects(&labels, &probability, plane, pw, ph)
    });
    log::debug!(
        "{}×{}: probability {:.2} s, objects {:.2} s, measurements {:.2} s",
        plane.width(),
        plane.height(),
        (inferred - started).as_secs_f64(),
        (labelled - inferred).as_secs_f64(),
        labelled.elapsed().as_secs_f64()
    );
    progress(Progress {
        stage: Stage::Objects,
        done: 1,
        total: 1,
    });
    Ok(NucleiResult {
        probability,
        labels,
        found: resolved.findings(objects, model, certainty),
    })
}

#[cfg(test)]
mod resampled_tests {
    use super::*;
    use crate::resample::resample;

    #[test]
    fn a_resampled_plane_gives_what_resampling_it_whole_gave() {
        let Some((plane, mut model)) = crate::test_files::scratch_assay_frame(3) else {
            return;
        };
        // Small tiles: several rounds, each resampling its own band of input rows.
        model.set_tile_size(128).expect("tile size");
        let model_px = model.card().pixel_size_um.expect("the model's pixel size");
        let (w, h) = (plane.width(), plane.height());
        let values: Vec<f32> = (0..w * h).map(|i| plane.value(i)).collect();
        for px in [0.5, 0.8] {
            let result = find_nuclei(
                &model,
                &plane,
                Calibration::square(px),
                &NucleiParams::default(),
                &|_| {},
            )
            .expect("find nuclei");
            assert!(
                result.found.stats.count > 20,
                "{px}: {}",
                result.found.stats.count
            );
            // The way it was done before: the whole plane resampled, predicted, brought back.
            let scaled = |n: usize| ((n as f64 * px / model_px).round() as usize).max(1);
            let (nw, nh) = (scaled(w), scaled(h));
            let resampled =
                Plane::new(nw, nh, PixelData::F32(resample(&values, w, h, nw, nh))).expect("plane");
            let network = model.predict(&resampled, &|_| {}).expect("predict");
            assert_eq!(result.probability, resample(&network, nw, nh, w, h), "{px}");
            assert_eq!(result.found.certainty, Certainty::of(&network), "{px}");
        }
    }
}

#[cfg(test)]
mod exclusion_tests {
    use super::*;

    #[test]
    fn objects_touching_the_mask_are_removed_and_the_rest_measured_again() {
        // Three 2×2 objects in a 8×2 strip; the mask touches one pixel of the second.
        let (w, h) = (8, 2);
        let data = vec![1, 1, 0, 2, 2, 0, 3, 3, 1, 1, 0, 2, 2, 0, 3, 3];
        let mut result = NucleiResult {
            probability: vec![0.9; w * h],
            labels: Labels {
                width: w,
                height: h,
                data,
                count: 3,
            },
            found: Findings {
                objects: Vec::new(),
                stats: PopulationStats::from_sizes(&[4.0, 4.0, 4.0]),
                threshold: 0.5,
                min_size_um2: 0.0,
                pixel_width_um: 1.0,
                pixel_height_um: 1.0,
                calibrated: true,
                backend: "test".into(),
                certainty: Certainty::default(),
                poor_fit: false,
            },
        };
        let plane = Plane::new(w, h, PixelData::F32(vec![1.0; w * h])).expect("plane");
        let mut mask = vec![false; w * h];
        mask[12] = true; // row 1, x 4: object 2
        assert_eq!(result.exclude_overlapping(&mask, &plane), 1);
        assert_eq!(result.labels.count, 2);
        assert_eq!(
            result.labels.data,
            [1, 1, 0, 0, 0, 0, 2, 2, 1, 1, 0, 0, 0, 0, 2, 2]
        );
        assert_eq!(result.found.objects.len(), 2);
        assert_eq!(result.found.stats.count, 2);
        assert!((result.covered_percent() - 50.0).abs() < 1e-9);
        assert_eq!(result.exclude_overlapping(&vec![false; w * h], &plane), 0);
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_pixel_size_far_from_the_models_is_refused_with_the_likely_unit() {
        // 0.0353 cm per pixel typed where µm was meant reads as 353 µm.
        let err = check_pixel_size(353.0, 0.619).expect_err("570 times larger");
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
        let text = err.to_string();
        for part in [
            "353 µm",
            "570 times larger than the model's 0.619 µm",
            "If 353 was a size in nm, the pixel size is 0.3530 µm",
            "--accept-pixel-size",
            "withAnyPixelSize()",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        // mm typed as µm: 1989 times smaller.
        let text = check_pixel_size(0.0003112, 0.619)
            .expect_err("far smaller")
            .to_string();
        assert!(text.contains("1989 times smaller"), "{text}");
        assert!(
            text.contains("in mm, the pixel size is 0.3112 µm"),
            "{text}"
        );
        // No unit makes 40 µm fit: no guess.
        let text = check_pixel_size(40.0, 0.619).expect_err("65×").to_string();
        assert!(!text.contains("If 40 was"), "{text}");
        // Within 8× either way, and the bounds themselves, are fine.
        for ok in [0.619, 0.325, 4.0, 0.619 * 8.0, 0.619 / 8.0] {
            assert!(check_pixel_size(ok, 0.619).is_ok(), "{ok}");
        }
    }

    /// Over extreme sizes, calibrations (NaN, ∞, negative, 0, absurdly small or large) and
    /// budgets, with and without accepting any pixel size: the planner never panics and never
    /// accepts a plan above the budget.
    #[test]
    fn no_size_calibration_or_budget_makes_the_planner_panic_or_exceed_the_budget() {
        let Some((_, mut model)) = crate::test_files::scratch_assay_frame(0) else {
            return;
        };
        let sizes = [
            0,
            1,
            17,
            512,
            65_535,
            1 << 20,
            u32::MAX as usize,
            usize::MAX,
        ];
        let pixels = [
            None,
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(-1.0),
            Some(0.0),
            Some(1e-300),
            Some(0.0003),
            Some(0.077),
            Some(0.619),
            Some(4.9),
            Some(353.0),
            Some(f64::MAX),
        ];
        let budgets = [1, 200 << 20, 8 << 30, u64::MAX];
        let mut accepted = 0;
        for &budget in &budgets {
            model.set_memory_budget(crate::budget::MemoryBudget::bytes(budget));
            for &w in &sizes {
                for &h in &sizes {
                    for &px in &pixels {
                        for accept in [false, true] {
                            let calibration = Calibration {
                                pixel_width_um: px,
                                pixel_height_um: px,
                            };
                            let params = NucleiParams {
                                accept_any_pixel_size: accept,
                                ..NucleiParams::default()
                            };
                            let case = format!("{w} × {h} at {px:?} µm, budget {budget}");
                            let outcome =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    model.plan(w, h, calibration, &params)
                                }));
                            let Ok(Ok(plan)) = outcome else {
                                assert!(outcome.is_ok(), "{case}: panicked");
                                continue;
                            };
                            accepted += 1;
                            assert!(plan.bytes <= budget, "{case}: {plan:?}");
                            assert!(
                                plan.network_width >= 1 && plan.network_height >= 1,
                                "{case}"
                            );
                        }
                    }
                }
            }
        }
        assert!(accepted > 0, "some plans fit");
    }

    #[test]
    fn an_implausible_calibration_is_refused_and_an_accepted_one_is_planned_before_allocating() {
        let Some((plane, mut model)) = crate::test_files::scratch_assay_frame(0) else {
            return;
        };
        let at = |um: f64| Calibration::square(um);
        let err = find_nuclei(&model, &plane, at(353.0), &NucleiParams::default(), &|_| {})
            .expect_err("353 µm for a 0.619 µm model");
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{err}");
        // Uncalibrated images keep the warning and run (1 µm is assumed, not checked).
        let plan = model
            .plan(576, 210, Calibration::default(), &NucleiParams::default())
            .expect("uncalibrated");
        assert_eq!((plan.network_width, plan.network_height), (576, 210));
        // Accepted, the resampled size is planned and refused before it is allocated: this
        // plane at 353 µm is 328 478 × 119 758 pixels at the model's scale; one round of tiles on it
        // alone holds about 4 GB of resampled rows.
        let accepted = NucleiParams {
            accept_any_pixel_size: true,
            ..NucleiParams::default()
        };
        model.set_memory_budget(crate::budget::MemoryBudget::bytes(2 << 30));
        let err =
            find_nuclei(&model, &plane, at(353.0), &accepted, &|_| {}).expect_err("over budget");
        assert_eq!(err.kind(), ErrorKind::ResourceLimit, "{err}");
        let text = err.to_string();
        assert!(text.contains("resampled to 328478 × 119758"), "{text}");
        assert!(text.contains("check the image's pixel size"), "{text}");
        // The plan of a plausible resampled run counts the maps at the image's size and the
        // resampled rows of one round of tiles.
        let plan = model.plan(576, 210, at(0.5), &accepted).expect("fits");
        assert_eq!((plan.network_width, plan.network_height), (465, 170));
        let image_side = model.memory_need(576, 210, Holding::Whole).bytes;
        let threads = rayon::current_num_threads();
        let round = model.resampled_round_bytes(465, 170, threads);
        // One tile covers the resampled plane: its rows, an input and a probability copy.
        assert_eq!(round, 465 * 170 * 8);
        assert_eq!(plan.bytes, image_side + round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        let bad = [
            NucleiParams {
                threshold: Some(1.5),
                ..Default::default()
            },
            NucleiParams {
                threshold: Some(f32::NAN),
                ..Default::default()
            },
            NucleiParams {
                min_size_um2: Some(-1.0),
                ..Default::default()
            },
            NucleiParams {
                split_depth_px: Some(0.0),
                ..Default::default()
            },
        ];
        for p in bad {
            assert_eq!(
                p.validate().expect_err("invalid").kind(),
                crate::error::ErrorKind::InvalidParameter
            );
        }
        assert!(NucleiParams::default().validate().is_ok());
    }
}
