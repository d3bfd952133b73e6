//! Running a model's network over a plane: loading the model on a backend, cutting the plane
//! (or the image resampled to the model's pixel size, band by band) into normalised tiles,
//! running them on the worker threads and blending the outputs into a probability map, within
//! the memory budget. [`crate::pipeline`] composes this into Find Nuclei.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::backend::{open_backend, Backend, BackendOptions};
use crate::budget::{self, Holding, MemoryBudget};
use crate::error::{Error, Result};
use crate::image::{PixelData, Plane};
use crate::measure::Certainty;
use crate::model::ModelCard;
use crate::normalize::Normalizer;
use crate::resample::{ResampledPlane, RowsBack};
use crate::tiling::{mirror, plan_axis};
use crate::timing::{self, TimedStage};

/// Largest tile edge [`Model::set_tile_size`] accepts.
pub const MAX_TILE_SIZE: usize = crate::model::MAX_TILE_EDGE;

/// Progress of a long step, reported after each unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being done.
    pub stage: Stage,
    /// Units done so far.
    pub done: usize,
    /// Units in all.
    pub total: usize,
}

/// The steps of Find Nuclei that report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Running the network tile by tile.
    Inference,
    /// Thresholding, splitting and measuring objects.
    Objects,
}

/// A loaded model: its description and the backend holding the optimised network.
pub struct Model {
    pub(crate) card: ModelCard,
    backend: Box<dyn Backend>,
    pub(crate) memory_budget: MemoryBudget,
    /// The network's working memory per tile pixel, as the backend estimated it at the model's
    /// default tile (None: the budget's default).
    tile_bytes_per_pixel: Option<f64>,
}

impl Model {
    /// Loads the model in `path` (a folder or its description file) on the default backend
    /// choice (auto: CUDA when an ONNX Runtime GPU build and a GPU are found, else tract).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &BackendOptions::default())
    }

    /// Loads the model in `path` on the backend `options` choose.
    pub fn load_with(path: &Path, options: &BackendOptions) -> Result<Self> {
        let card = ModelCard::load(path)?;
        if !card.onnx_path.is_file() {
            return Err(Error::model(format!(
                "the model's ONNX weights {} are missing: the model folder is incomplete",
                card.onnx_path.display()
            )));
        }
        let (th, tw) = card.tile_shape(card.defaults.tile_size, card.defaults.tile_size);
        let backend = open_backend(&card.onnx_path, &card.input_shape(th, tw), options)?;
        Ok(Model::with_backend(card, backend))
    }

    /// A model running on another backend.
    pub fn with_backend(card: ModelCard, backend: Box<dyn Backend>) -> Self {
        let (th, tw) = card.tile_shape(card.defaults.tile_size, card.defaults.tile_size);
        let tile_bytes_per_pixel = backend
            .working_bytes(&card.input_shape(th, tw))
            .map(|bytes| bytes as f64 / (th * tw).max(1) as f64);
        Model {
            card,
            backend,
            memory_budget: MemoryBudget::automatic(),
            tile_bytes_per_pixel,
        }
    }

    /// The network's working memory for one `tile_h × tile_w` tile in flight, in bytes (the
    /// backend's estimate for this network where it has one, see [`budget::tile_bytes`]).
    pub fn tile_bytes(&self, tile_h: usize, tile_w: usize) -> u64 {
        budget::tile_bytes(tile_h, tile_w, self.tile_bytes_per_pixel)
    }

    /// Sets the memory a prediction may use; larger planes are refused with a message instead
    /// of exhausting the machine (default: [`MemoryBudget::automatic`]).
    pub fn set_memory_budget(&mut self, budget: MemoryBudget) {
        self.memory_budget = budget;
    }

    /// The memory a prediction may use.
    pub fn memory_budget(&self) -> MemoryBudget {
        self.memory_budget
    }

    /// Sets the preferred tile edge in pixels (rounded to a size the model accepts). Smaller
    /// tiles need less memory per worker; larger ones waste less work on overlaps.
    pub fn set_tile_size(&mut self, size: usize) -> Result<()> {
        if size > MAX_TILE_SIZE {
            return Err(Error::invalid(format!(
                "tile size {size} is too large: give at most {MAX_TILE_SIZE} pixels"
            )));
        }
        if self.card.size_y.step == 0 || self.card.size_x.step == 0 {
            return Err(Error::invalid(format!(
                "this model takes tiles of exactly {} × {} pixels: its tile size cannot be changed",
                self.card.size_y.min, self.card.size_x.min
            )));
        }
        let mut card = self.card.clone();
        card.defaults.tile_size = size;
        // The tiling's own rules decide (the halo and blending ramp must fit in a tile).
        let far = 4 * MAX_TILE_SIZE;
        let (th, tw) = card.tile_shape(far, far);
        plan_axis(far, th, card.halo.0, card.size_y.alignment())?;
        plan_axis(far, tw, card.halo.1, card.size_x.alignment())?;
        self.card = card;
        Ok(())
    }

    /// Memory to find nuclei in a `width × height` plane held as `holding` says, on the current
    /// thread pool, beyond the plane itself (see [`budget::find_nuclei_bytes`]), with the
    /// check's description.
    pub(crate) fn memory_need(&self, width: usize, height: usize, holding: Holding) -> MemoryNeed {
        let (th, tw) = self.card.tile_shape(height, width);
        let tiles = height
            .div_ceil(th.max(1))
            .saturating_mul(width.div_ceil(tw.max(1)));
        let workers = rayon::current_num_threads().min(tiles).max(1);
        let tile = self.tile_bytes(th, tw);
        MemoryNeed {
            bytes: budget::find_nuclei_bytes(width, height, holding, tile, workers),
            one_worker: budget::find_nuclei_bytes(width, height, holding, tile, 1),
            what: format!(
                "finding nuclei in a {width} × {height} plane with {workers} worker thread(s) \
                 and {th} × {tw} tiles"
            ),
        }
    }

    /// What would make a run fit the budget when one worker thread needs `one` bytes: fewer
    /// worker threads, smaller tiles, or, when even one worker thread needs too much with tiles
    /// that cannot shrink, only a larger budget.
    pub(crate) fn memory_options(&self, one: u64) -> String {
        let fixed = self.card.size_y.step == 0 || self.card.size_x.step == 0;
        let raise = "raise the memory budget";
        match (one <= self.memory_budget.limit(), fixed) {
            (true, true) => format!("use fewer worker threads, or {raise}"),
            (true, false) => format!("use fewer worker threads or smaller tiles, or {raise}"),
            (false, false) => format!(
                "use smaller tiles (even one worker thread needs about {} with these), or {raise}",
                budget::Size(one)
            ),
            (false, true) => format!(
                "even one worker thread needs about {}, so {raise}",
                budget::Size(one)
            ),
        }
    }

    /// Refuses a `width × height` plane that would need more memory than the budget.
    pub fn check_memory(&self, width: usize, height: usize) -> Result<()> {
        self.check_need(&self.memory_need(width, height, Holding::Whole))
    }

    /// Refuses `need` when it is over the budget, saying what would help.
    pub(crate) fn check_need(&self, need: &MemoryNeed) -> Result<()> {
        let options = self.memory_options(need.one_worker);
        self.memory_budget
            .check_with(need.bytes, &need.what, &options)
    }

    /// The model description.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Which backend runs the model.
    pub fn backend_description(&self) -> String {
        self.backend.describe()
    }

    /// Runs the model on one tile already normalised, `h × w`, returning the probability
    /// (post-processing applied) for the tile, row-major.
    pub fn run_tile(&self, tile: &[f32], h: usize, w: usize) -> Result<Vec<f32>> {
        let card = &self.card;
        let shape = card.input_shape(h, w);
        let mut probability = Vec::new();
        // Read where the backend holds the output: no copy of the whole output on the way.
        self.backend
            .run_with(tile, &shape, &mut |values, out_shape| {
                probability = card.tile_probability(values, out_shape, h, w)?;
                Ok(())
            })?;
        Ok(probability)
    }

    /// The probability map of `plane`, same size, by overlapping tiles blended without seams.
    /// Memory beyond the input and output is a few rows of tiles (see [`Model::predict_rows`]).
    pub fn predict(&self, plane: &Plane, progress: &(dyn Fn(Progress) + Sync)) -> Result<Vec<f32>> {
        self.check_memory(plane.width(), plane.height())?;
        let mut out = Vec::with_capacity(plane.width() * plane.height());
        self.predict_rows(plane, progress, &mut |_, rows| {
            out.extend_from_slice(rows);
            Ok(())
        })?;
        Ok(out)
    }

    /// The probability map of `plane` from top to bottom: `emit(first_row, rows)` receives whole
    /// rows (row-major, a multiple of the width) as soon as no later tile touches them, so a
    /// caller can consume a large image band by band. Tiles run in parallel on the current rayon
    /// pool, a few tile rows at a time, and are blended in a fixed order, so the map does not
    /// depend on the thread count. Memory beyond the input is those tile rows.
    pub fn predict_rows(
        &self,
        plane: &Plane,
        progress: &(dyn Fn(Progress) + Sync),
        emit: &mut dyn FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        plane.check_finite()?;
        self.predict_rows_of(&NetworkInput::Whole(plane), progress, emit)
    }

    /// The probability of `plane` at its own size, top to bottom as [`Model::predict_rows`]
    /// emits it, run by the network at `network` size when that is given: the plane is then
    /// resampled to it band by band on the way in, and the probability back on the way out,
    /// so no resampled copy of the whole plane is held. Returns the certainty counts of the
    /// network's own map.
    pub(crate) fn predict_at(
        &self,
        plane: &Plane,
        network: Option<(usize, usize)>,
        progress: &(dyn Fn(Progress) + Sync),
        emit: &mut dyn FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<Certainty> {
        plane.check_finite()?;
        let mut certainty = Certainty::default();
        match network {
            None => {
                self.predict_rows_of(&NetworkInput::Whole(plane), progress, &mut |y, rows| {
                    certainty.add(Certainty::of(rows));
                    timing::time(TimedStage::Output, || emit(y, rows))
                })?
            }
            Some((nw, nh)) => {
                let resampled = ResampledPlane::new(plane, nw, nh);
                let mut back = RowsBack::new(nw, nh, plane.width(), plane.height());
                self.predict_rows_of(
                    &NetworkInput::Resampled(&resampled),
                    progress,
                    &mut |y, rows| {
                        certainty.add(Certainty::of(rows));
                        timing::time(TimedStage::Output, || back.push(y, rows, emit))
                    },
                )?;
                if !back.is_done() {
                    return Err(Error::backend(
                        "the probability map ended before the last row of the image",
                    ));
                }
            }
        }
        Ok(certainty)
    }

    fn predict_rows_of(
        &self,
        input: &NetworkInput<'_>,
        progress: &(dyn Fn(Progress) + Sync),
        emit: &mut dyn FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        let card = &self.card;
        let (w, h) = (input.width(), input.height());
        let normalizer = input.normalizer(&card.preprocessing);
        let (th, tw) = card.tile_shape(h, w);
        let ty = plan_axis(h, th, card.halo.0, card.size_y.alignment())?;
        let tx = plan_axis(w, tw, card.halo.1, card.size_x.alignment())?;
        let (rows_of_tiles, per_row) = (ty.starts.len(), tx.starts.len());
        let total = rows_of_tiles * per_row;
        // Enough tiles per round to keep every worker busy (four each), whole tile rows.
        let round = (4 * rayon::current_num_threads()).div_ceil(per_row).max(1);
        let done = AtomicUsize::new(0);
        progress(Progress {
            stage: Stage::Inference,
            done: 0,
            total,
        });
        // Blended sums of rows [base, base + acc.len() / w).
        let mut acc: Vec<f32> = Vec::new();
        let mut base = 0usize;
        for first in (0..rows_of_tiles).step_by(round) {
            let last = (first + round).min(rows_of_tiles) - 1;
            let jobs: Vec<(usize, usize)> = (first..=last)
                .flat_map(|iy| (0..per_row).map(move |ix| (iy, ix)))
                .collect();
            // The input rows this round's tiles read (mirrored at the edges).
            let read = (first..=last)
                .map(|iy| ty.starts[iy])
                .flat_map(|y0| (0..th).map(move |ly| mirror((y0 + ly) as isize, h)));
            let (low, high) = read.fold((usize::MAX, 0), |(a, b), y| (a.min(y), b.max(y)));
            let (band, band_first) = timing::time(TimedStage::Input, || input.band(low, high + 1))?;
            let rows = BandRows {
                band: &band,
                first: band_first,
                height: h,
            };
            let outputs = timing::time_tile_phase(|| {
                jobs.par_iter()
                    .map(|&(iy, ix)| -> Result<Vec<f32>> {
                        let (y0, x0) = (ty.starts[iy], tx.starts[ix]);
                        let mut tile = vec![0.0f32; th * tw];
                        timing::time_in_tile(TimedStage::Normalise, || {
                            fill_tile(&rows, &normalizer, (y0, x0), tw, &mut tile);
                        });
                        let prob = timing::time_in_tile(TimedStage::Network, || {
                            self.run_tile(&tile, th, tw)
                        })?;
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress(Progress {
                            stage: Stage::Inference,
                            done: n,
                            total,
                        });
                        Ok(prob)
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            let end = (ty.starts[last] + th).min(h);
            // Rows blend in parallel; within a row the tiles add in job order, so every pixel
            // sums in the same order whatever the thread count.
            timing::time(TimedStage::Blend, || {
                acc.resize((end - base) * w, 0.0);
                acc.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
                    let y = base + r;
                    for (&(iy, ix), prob) in jobs.iter().zip(&outputs) {
                        let y0 = ty.starts[iy];
                        if y < y0 || y >= y0 + th {
                            continue;
                        }
                        let ly = y - y0;
                        let (x0, wx) = (tx.starts[ix], &tx.weights[ix]);
                        let wy = ty.weights[iy][ly];
                        let source = &prob[ly * tw..ly * tw + tw.min(w - x0)];
                        for ((&p, &wxl), out) in source.iter().zip(wx).zip(&mut row[x0..]) {
                            let weight = wy * wxl;
                            if weight > 0.0 {
                                *out += weight * p;
                            }
                        }
                    }
                });
            });
            drop(outputs);
            drop(band);
            // Rows above the next tile row are final.
            let finished = ty.starts.get(last + 1).map_or(h, |&s| s.min(h));
            if finished > base {
                let n = (finished - base) * w;
                timing::time(TimedStage::Blend, || {
                    acc[..n].par_chunks_mut(w).enumerate().for_each(|(r, row)| {
                        for (x, v) in row.iter_mut().enumerate() {
                            *v /= ty.norm[base + r] * tx.norm[x];
                        }
                    });
                });
                emit(base, &acc[..n])?;
                timing::time(TimedStage::Blend, || {
                    acc.drain(..n);
                });
                base = finished;
            }
        }
        Ok(())
    }
}

/// Memory a run needs on the current thread pool, and with one worker thread, with its
/// description for messages.
pub(crate) struct MemoryNeed {
    pub(crate) bytes: u64,
    pub(crate) one_worker: u64,
    pub(crate) what: String,
}

/// What the network's tiles are cut from: the plane in memory, or the image resampled to the
/// model's pixel size, made band by band.
enum NetworkInput<'a> {
    Whole(&'a Plane),
    Resampled(&'a ResampledPlane<'a>),
}

impl NetworkInput<'_> {
    fn width(&self) -> usize {
        match self {
            NetworkInput::Whole(plane) => plane.width(),
            NetworkInput::Resampled(plane) => plane.width(),
        }
    }

    fn height(&self) -> usize {
        match self {
            NetworkInput::Whole(plane) => plane.height(),
            NetworkInput::Resampled(plane) => plane.height(),
        }
    }

    fn normalizer(&self, steps: &[crate::normalize::Preprocessing]) -> Normalizer {
        match self {
            NetworkInput::Whole(plane) => Normalizer::for_plane(plane, steps),
            NetworkInput::Resampled(plane) => plane.normalizer(steps),
        }
    }

    /// Rows holding `[first, end)` and the index of their first row: the whole plane when
    /// it is in memory, just those rows made for a resampled one.
    fn band(&self, first: usize, end: usize) -> Result<(Cow<'_, Plane>, usize)> {
        match self {
            NetworkInput::Whole(plane) => Ok((Cow::Borrowed(plane), 0)),
            NetworkInput::Resampled(plane) => Ok((Cow::Owned(plane.band(first, end)?), first)),
        }
    }
}

/// Rows of the network's input plane held in memory: `band` holds rows from `first` on (the
/// whole plane when `first` is 0 and the heights agree) of a plane `height` rows tall.
struct BandRows<'a> {
    band: &'a Plane,
    first: usize,
    height: usize,
}

/// Fills `tile` (rows of `tw` values) with the normalised pixels of the plane from row `y0`,
/// column `x0` on, mirrored where the tile reaches past the plane's edges.
fn fill_tile(
    rows: &BandRows<'_>,
    normalizer: &Normalizer,
    (y0, x0): (usize, usize),
    tw: usize,
    tile: &mut [f32],
) {
    let plane = rows.band;
    let (w, h) = (plane.width(), rows.height);
    // Inside the plane a tile row is a slice of a plane row; at the edges, a mirrored gather.
    let inside = x0 + tw <= w;
    let columns: Vec<usize> = if inside {
        Vec::new()
    } else {
        (0..tw).map(|lx| mirror((x0 + lx) as isize, w)).collect()
    };
    fn copy_row<T: Copy + Into<f32>>(row: &[T], x0: usize, columns: &[usize], out: &mut [f32]) {
        if columns.is_empty() {
            let n = out.len();
            for (o, &v) in out.iter_mut().zip(&row[x0..x0 + n]) {
                *o = v.into();
            }
        } else {
            for (o, &x) in out.iter_mut().zip(columns) {
                *o = row[x].into();
            }
        }
    }
    for (ly, out) in tile.chunks_exact_mut(tw).enumerate() {
        let sy = mirror((y0 + ly) as isize, h) - rows.first;
        let span = sy * w..(sy + 1) * w;
        match plane.data() {
            PixelData::U8(v) => copy_row(&v[span], x0, &columns, out),
            PixelData::U16(v) => copy_row(&v[span], x0, &columns, out),
            PixelData::F32(v) => copy_row(&v[span], x0, &columns, out),
        }
        normalizer.apply_all(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_filled_like_pixel_by_pixel_normalisation() {
        let (w, h) = (7, 5);
        let planes = [
            Plane::new(
                w,
                h,
                PixelData::U8((0..35).map(|i| (i * 7 % 256) as u8).collect()),
            ),
            Plane::new(w, h, PixelData::U16((0..35).map(|i| i * 1000).collect())),
            Plane::new(
                w,
                h,
                PixelData::F32((0..35).map(|i| i as f32 * 0.3 - 2.0).collect()),
            ),
        ];
        let steps = [
            crate::model::Preprocessing::ScaleRange {
                min_percentile: 1.0,
                max_percentile: 99.0,
                eps: 1e-6,
            },
            crate::model::Preprocessing::Clip { min: 0.0, max: 0.8 },
        ];
        for plane in planes {
            let plane = plane.expect("plane");
            let normalizer = Normalizer::for_plane(&plane, &steps);
            // Inside the plane, and reaching past its right and bottom edges (mirrored).
            for ((y0, x0), (th, tw)) in [((1, 2), (3, 4)), ((0, 0), (8, 16)), ((2, 3), (6, 9))] {
                let mut tile = vec![0.0f32; th * tw];
                let whole = BandRows {
                    band: &plane,
                    first: 0,
                    height: h,
                };
                fill_tile(&whole, &normalizer, (y0, x0), tw, &mut tile);
                // From a band holding only the rows the tile reads, the same values.
                let rows: Vec<usize> = (0..th).map(|ly| mirror((y0 + ly) as isize, h)).collect();
                let first = rows.iter().copied().min().unwrap_or(0);
                let band = plane.rows(first, h).expect("rows");
                let mut from_band = vec![0.0f32; th * tw];
                let held = BandRows {
                    band: &band,
                    first,
                    height: h,
                };
                fill_tile(&held, &normalizer, (y0, x0), tw, &mut from_band);
                assert_eq!(from_band, tile);
                for ly in 0..th {
                    for lx in 0..tw {
                        let (sx, sy) =
                            (mirror((x0 + lx) as isize, w), mirror((y0 + ly) as isize, h));
                        let expected = normalizer.apply(plane.at(sx, sy));
                        assert_eq!(
                            tile[ly * tw + lx].to_bits(),
                            expected.to_bits(),
                            "({lx}, {ly})"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod blending_tests {
    use super::*;

    /// The tiled map equals the plain definition — every tile's output times its weights,
    /// summed over tiles in row-major order, divided by the summed weights — bit for bit, and
    /// does not depend on the number of threads.
    #[test]
    fn tiles_blend_to_the_weighted_mean_whatever_the_thread_count() {
        let Some((frame, mut model)) = crate::test_files::scratch_assay_frame(3) else {
            return;
        };
        // 3 × 3 tiles of at most 512² (halo 32, ramp 32), spread evenly on each axis.
        model
            .set_tile_size(512)
            .expect("a tile size the model takes");
        let (w, h) = (1100, 1000);
        let values: Vec<f32> = (0..w * h)
            .map(|i| {
                let x = mirror((i % w) as isize, frame.width());
                let y = mirror((i / w) as isize, frame.height());
                frame.at(x, y)
            })
            .collect();
        let plane = Plane::new(w, h, PixelData::F32(values)).expect("plane");

        let card = model.card();
        let (th, tw) = card.tile_shape(h, w);
        let ty = plan_axis(h, th, card.halo.0, card.size_y.alignment()).expect("rows");
        let tx = plan_axis(w, tw, card.halo.1, card.size_x.alignment()).expect("columns");
        assert!(ty.starts.len() >= 3 && tx.starts.len() >= 3);
        let normalizer = Normalizer::for_plane(&plane, &card.preprocessing);
        let mut expected = vec![0.0f32; w * h];
        for (iy, &y0) in ty.starts.iter().enumerate() {
            for (ix, &x0) in tx.starts.iter().enumerate() {
                let tile: Vec<f32> = (0..th * tw)
                    .map(|i| {
                        let sy = mirror((y0 + i / tw) as isize, h);
                        let sx = mirror((x0 + i % tw) as isize, w);
                        normalizer.apply(plane.at(sx, sy))
                    })
                    .collect();
                let prob = model.run_tile(&tile, th, tw).expect("tile");
                for ly in 0..th.min(h - y0) {
                    for lx in 0..tw.min(w - x0) {
                        let weight = ty.weights[iy][ly] * tx.weights[ix][lx];
                        if weight > 0.0 {
                            expected[(y0 + ly) * w + x0 + lx] += weight * prob[ly * tw + lx];
                        }
                    }
                }
            }
        }
        for (i, v) in expected.iter_mut().enumerate() {
            *v /= ty.norm[i / w] * tx.norm[i % w];
        }
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let map = pool
                .install(|| model.predict(&plane, &|_| {}))
                .expect("map");
            assert!(map == expected, "{threads} thread(s)");
        }
    }
}
