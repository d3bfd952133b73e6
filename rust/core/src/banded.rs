//! Find Nuclei on planes too large to hold a probability and a label plane in memory: the plane
//! is predicted top to bottom ([`Model::predict_rows`]) and its objects are found band by band,
//! and finished rows go to the caller (to a file, say) as soon as they are final.
//!
//! The probability is exactly the whole-plane one (same tiles, same blending). A band keeps the
//! objects whose connected component starts on one of its rows; it sees `BAND_MARGIN` rows
//! below itself, so such a component is whole unless it is taller than the margin (counted in
//! [`BandedOutcome::cut_objects`]). Objects are numbered in raster order of their first pixel,
//! as in the whole-plane result, which a band-by-band run equals for objects that are not cut.

use crate::error::{Error, Result};
use crate::image::{Calibration, Plane};
use crate::measure::{measure_objects_from, ObjectMeasurement};
use crate::objects::find_objects_keeping;
use crate::pipeline::{Findings, Model, NucleiParams, Plan, Progress, Resolved, Stage};
use crate::refine::Refinement;
use crate::timing::{self, TimedStage};

/// Rows a band looks below itself so that the objects starting in it are whole.
pub const BAND_MARGIN: usize = 256;

/// Pixels a band holds by default (its rows are this divided by the width, at least twice
/// the margin): memory stays near 20 bytes per band pixel whatever the plane's size.
pub const BAND_PIXELS: usize = 16 << 20;

/// Finished rows handed to the caller, top to bottom, each row once.
#[derive(Debug, Clone, Copy)]
pub struct FinishedRows<'a> {
    /// Index of the first row.
    pub first_row: usize,
    /// Object labels of the rows (0 = background), numbered as in the whole plane.
    pub labels: &'a [u32],
    /// The probability of the rows.
    pub probability: &'a [f32],
}

/// What a band-by-band Find Nuclei found in one plane (its pixel rows went to the caller).
#[derive(Debug, Clone)]
pub struct BandedOutcome {
    /// Measurements, statistics and the settings used.
    pub findings: Findings,
    /// Objects taller than [`BAND_MARGIN`] rows that were cut at a band's lower edge.
    pub cut_objects: usize,
    /// Pixels covered by objects.
    pub covered_pixels: u64,
}

/// Planes larger than this are processed band by band by default (CLI): 64 megapixels, about
/// an 8000 × 8000 image, whose whole-plane maps alone take 0.8 GB.
pub const BANDS_ABOVE_PIXELS: usize = 64 << 20;

/// Band height (rows) for a plane `width` pixels wide holding about `pixels` per band.
pub fn band_rows_for(width: usize, pixels: usize) -> usize {
    (pixels / width.max(1)).max(2 * BAND_MARGIN)
}

/// Whether `plane` can be processed band by band with `model`: only without image refinement
/// of the mask (its background and threshold are taken over the whole plane). A plane at
/// another pixel size than the model's is resampled band by band too.
pub fn supports(model: &Model, calibration: Calibration, params: &NucleiParams) -> Result<bool> {
    let resolved = Resolved::new(model, calibration, params)?;
    Ok(resolved.refine == Refinement::None)
}

/// The band height Find Nuclei uses by default for a `width × height` plane, or `None` to
/// process it whole: planes over [`BANDS_ABOVE_PIXELS`], or whose whole-plane run would not fit
/// the model's memory budget, go band by band ([`band_rows_for`] rows of [`BAND_PIXELS`])
/// where the settings allow it ([`supports`]).
pub fn default_band_rows(
    model: &Model,
    (width, height): (usize, usize),
    calibration: Calibration,
    params: &NucleiParams,
) -> Result<Option<usize>> {
    let large = width.saturating_mul(height) > BANDS_ABOVE_PIXELS;
    if !large && model.check_memory(width, height).is_ok() {
        return Ok(None);
    }
    Ok(supports(model, calibration, params)?.then(|| band_rows_for(width, BAND_PIXELS)))
}

/// The plan of the run Find Nuclei makes by default on a `width × height` plane: band by band
/// when [`default_band_rows`] says so, else whole. Its bytes are what `brightseg resources`
/// states and what the memory budget is checked against.
pub fn default_plan(
    model: &Model,
    (width, height): (usize, usize),
    calibration: Calibration,
    params: &NucleiParams,
) -> Result<Plan> {
    match default_band_rows(model, (width, height), calibration, params)? {
        Some(rows) => {
            let resolved = Resolved::new(model, calibration, params)?;
            model.plan_in_bands(width, height, &resolved, rows + BAND_MARGIN)
        }
        None => model.plan(width, height, calibration, params),
    }
}

/// Finds nuclei in `plane` a band of `band_rows` rows at a time; `sink` receives the label and
/// probability rows in order. Fails when the mask would be refined by the image (see
/// [`supports`]).
pub fn find_nuclei_in_bands(
    model: &Model,
    plane: &Plane,
    calibration: Calibration,
    params: &NucleiParams,
    band_rows: usize,
    progress: &(dyn Fn(Progress) + Sync),
    sink: &mut dyn FnMut(FinishedRows<'_>) -> Result<()>,
) -> Result<BandedOutcome> {
    in_bands(
        model,
        plane,
        calibration,
        params,
        (band_rows, BAND_MARGIN),
        progress,
        sink,
    )
}

/// [`find_nuclei_in_bands`] with a chosen margin below each band.
fn in_bands(
    model: &Model,
    plane: &Plane,
    calibration: Calibration,
    params: &NucleiParams,
    (band_rows, margin): (usize, usize),
    progress: &(dyn Fn(Progress) + Sync),
    sink: &mut dyn FnMut(FinishedRows<'_>) -> Result<()>,
) -> Result<BandedOutcome> {
    let resolved = Resolved::new(model, calibration, params)?;
    if resolved.refine != Refinement::None {
        return Err(Error::invalid(format!(
            "band-by-band processing cannot refine the mask by the image (refine {}): the \
             plane is processed whole",
            resolved.refine
        )));
    }
    let plan = model.plan_in_bands(plane.width(), plane.height(), &resolved, band_rows + margin)?;
    let mut bands = Bands::new(plane, &resolved, band_rows.max(1), margin);
    let certainty = model.predict_at(
        plane,
        resolved.network_size(&plan),
        progress,
        &mut |first, rows| bands.add_probability(first, rows, sink),
    )?;
    bands.finish()?;
    progress(Progress {
        stage: Stage::Objects,
        done: 1,
        total: 1,
    });
    Ok(BandedOutcome {
        findings: resolved.findings(bands.objects, model, certainty),
        cut_objects: bands.cut_objects,
        covered_pixels: bands.covered_pixels,
    })
}

/// An object found in a band, waiting for its final number.
struct Pending {
    first_pixel: usize,
    provisional: u32,
    measurement: ObjectMeasurement,
}

/// The state of a band-by-band run.
struct Bands<'p> {
    plane: &'p Plane,
    resolved: &'p Resolved,
    width: usize,
    height: usize,
    band_rows: usize,
    margin: usize,
    /// First row of the band being filled.
    band_start: usize,
    /// Probability rows [prob_first, prob_first + prob.len() / width).
    prob: Vec<f32>,
    prob_first: usize,
    /// Provisional object ids of rows [band_start, …) (0 = background).
    pending_labels: Vec<u32>,
    /// Final number of each provisional id (0 until numbered).
    final_of: Vec<u32>,
    waiting: Vec<Pending>,
    objects: Vec<ObjectMeasurement>,
    cut_objects: usize,
    covered_pixels: u64,
}

impl<'p> Bands<'p> {
    fn new(plane: &'p Plane, resolved: &'p Resolved, band_rows: usize, margin: usize) -> Self {
        Bands {
            plane,
            resolved,
            width: plane.width(),
            height: plane.height(),
            band_rows,
            margin,
            band_start: 0,
            prob: Vec::new(),
            prob_first: 0,
            pending_labels: Vec::new(),
            final_of: vec![0],
            waiting: Vec::new(),
            objects: Vec::new(),
            cut_objects: 0,
            covered_pixels: 0,
        }
    }

    fn prob_end(&self) -> usize {
        self.prob_first + self.prob.len() / self.width
    }

    /// Takes finished probability rows; settles every band whose window is complete.
    fn add_probability(
        &mut self,
        first: usize,
        rows: &[f32],
        sink: &mut dyn FnMut(FinishedRows<'_>) -> Result<()>,
    ) -> Result<()> {
        debug_assert_eq!(first, self.prob_end());
        self.prob.extend_from_slice(rows);
        while self.band_start < self.height {
            let band_end = (self.band_start + self.band_rows).min(self.height);
            let window_end = (band_end + self.margin).min(self.height);
            if self.prob_end() < window_end {
                break;
            }
            self.settle_band(band_end, window_end, sink)?;
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        if self.band_start < self.height {
            return Err(Error::backend(
                "the probability map ended before the last row of the image",
            ));
        }
        Ok(())
    }

    /// Finds, measures and numbers the objects starting in rows [band_start, band_end), then
    /// hands rows [band_start, band_end) to the sink.
    fn settle_band(
        &mut self,
        band_end: usize,
        window_end: usize,
        sink: &mut dyn FnMut(FinishedRows<'_>) -> Result<()>,
    ) -> Result<()> {
        let w = self.width;
        let start = self.band_start;
        // One row above the band tells components that began higher up from those that
        // begin in the band.
        let window_start = start.saturating_sub(1);
        let offset = (window_start - self.prob_first) * w;
        let window_prob = &self.prob[offset..offset + (window_end - window_start) * w];
        let window_rows = window_end - window_start;
        let labels =
            find_objects_keeping(window_prob, w, window_rows, &self.resolved.objects, |row| {
                (start..band_end).contains(&(window_start + row))
            });
        let window_plane = self.plane.rows(window_start, window_end)?;
        let measured = timing::time(TimedStage::Measure, || {
            measure_objects_from(
                &labels,
                window_prob,
                &window_plane,
                (self.resolved.pixel_width_um, self.resolved.pixel_height_um),
                window_start,
            )
        });
        // First pixel of each label (labels are numbered in raster order of it).
        let mut first_pixel = vec![usize::MAX; labels.count + 1];
        for (i, &l) in labels.data.iter().enumerate() {
            if l != 0 && first_pixel[l as usize] == usize::MAX {
                first_pixel[l as usize] = i;
            }
        }
        let base_id = self.final_of.len() as u32 - 1;
        self.final_of.resize(self.final_of.len() + labels.count, 0);
        // Objects reaching the window's lower edge inside the plane were cut.
        if window_end < self.height {
            let last_row = &labels.data[(window_rows - 1) * w..];
            let mut cut: Vec<u32> = last_row.iter().copied().filter(|&l| l != 0).collect();
            cut.sort_unstable();
            cut.dedup();
            self.cut_objects += cut.len();
        }
        for (k, m) in measured.into_iter().enumerate() {
            self.waiting.push(Pending {
                first_pixel: window_start * w + first_pixel[k + 1],
                provisional: base_id + k as u32 + 1,
                measurement: m,
            });
        }
        // Provisional ids into the rows from the band's start on.
        let rows_needed = (window_end - start) * w;
        if self.pending_labels.len() < rows_needed {
            self.pending_labels.resize(rows_needed, 0);
        }
        let skip = (start - window_start) * w;
        for (slot, &l) in self.pending_labels.iter_mut().zip(&labels.data[skip..]) {
            if l != 0 && *slot == 0 {
                *slot = base_id + l;
            }
        }
        // Every object with its first pixel above the band's end is final: number them.
        let limit = band_end * w;
        self.waiting.sort_by_key(|p| p.first_pixel);
        let ready = self.waiting.partition_point(|p| p.first_pixel < limit);
        for pending in self.waiting.drain(..ready) {
            let id = self.objects.len() as u32 + 1;
            self.final_of[pending.provisional as usize] = id;
            let mut m = pending.measurement;
            m.id = id;
            self.covered_pixels += m.area_px;
            self.objects.push(m);
        }
        // Hand over the band's rows.
        let n = (band_end - start) * w;
        let finished: Vec<u32> = self.pending_labels[..n]
            .iter()
            .map(|&p| self.final_of[p as usize])
            .collect();
        let prob_offset = (start - self.prob_first) * w;
        sink(FinishedRows {
            first_row: start,
            labels: &finished,
            probability: &self.prob[prob_offset..prob_offset + n],
        })?;
        self.pending_labels.drain(..n);
        // Keep one row above the next band.
        let keep_from = band_end.saturating_sub(1).max(self.prob_first);
        self.prob.drain(..(keep_from - self.prob_first) * w);
        self.prob_first = keep_from;
        self.band_start = band_end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Plane;
    use crate::pipeline::find_nuclei;

    #[test]
    fn bands_give_the_whole_plane_result() {
        let Some((plane, mut model)) = crate::test_files::scratch_assay_frame(0) else {
            return;
        };
        // Small tiles: several rounds of tiles, each reading its own band of input rows.
        model.set_tile_size(128).expect("tile size");
        // At the model's pixel size, and resampled down and up to it band by band.
        for pixel_size in [0.619, 0.5, 0.8] {
            bands_equal_the_whole_plane(&plane, &model, Calibration::square(pixel_size));
        }
    }

    fn bands_equal_the_whole_plane(plane: &Plane, model: &Model, calibration: Calibration) {
        let params = NucleiParams::default();
        let whole = find_nuclei(model, plane, calibration, &params, &|_| {}).expect("whole");
        assert!(
            whole.found.stats.count > 30,
            "{} nuclei",
            whole.found.stats.count
        );
        assert!(supports(model, calibration, &params).expect("params"));
        // Nuclei here are under 40 rows tall: a margin of 40 keeps them whole.
        for (band_rows, margin) in [(16, 40), (50, 40), (300, BAND_MARGIN)] {
            let (mut labels, mut probability, mut next_row) = (Vec::new(), Vec::new(), 0);
            let outcome = in_bands(
                model,
                plane,
                calibration,
                &params,
                (band_rows, margin),
                &|_| {},
                &mut |rows| {
                    assert_eq!(rows.first_row, next_row, "rows arrive in order, once");
                    next_row += rows.labels.len() / plane.width();
                    labels.extend_from_slice(rows.labels);
                    probability.extend_from_slice(rows.probability);
                    Ok(())
                },
            )
            .expect("banded");
            assert_eq!(next_row, plane.height());
            assert_eq!(probability, whole.probability, "band rows {band_rows}");
            assert_eq!(labels, whole.labels.data, "band rows {band_rows}");
            assert_eq!(outcome.cut_objects, 0);
            assert_eq!(outcome.findings.objects.len(), whole.found.objects.len());
            // Bit for bit: every sum is taken in the same order as on the whole plane.
            assert_eq!(outcome.findings.objects, whole.found.objects);
            assert_eq!(outcome.findings.stats, whole.found.stats);
            assert_eq!(outcome.findings.certainty, whole.found.certainty);
        }
        // A margin shorter than the nuclei cuts some of them, and says so.
        let cut = in_bands(
            model,
            plane,
            calibration,
            &params,
            (16, 4),
            &|_| {},
            &mut |_| Ok(()),
        )
        .expect("banded");
        assert!(cut.cut_objects > 0);
        // Refining the mask by the image needs the whole plane.
        let refined = NucleiParams {
            refine: Some(Refinement::Dark),
            ..NucleiParams::default()
        };
        assert!(!supports(model, calibration, &refined).expect("params"));
    }
}
