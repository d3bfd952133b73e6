//! Bilinear resampling between the image's pixel grid and the model's, band by band.
//!
//! Find Nuclei runs the network at the model's pixel size. Resampling the whole plane first,
//! and the whole probability back afterwards, held three float copies of the plane beside the
//! image (4.2 GB for a 20000² plane). Here the network's input rows are made from the image
//! only for the tile rows being run ([`ResampledPlane`]), and probability rows are brought back
//! to the image's grid as soon as the rows they depend on are final ([`RowsBack`]). Every value
//! is computed by the same arithmetic as [`resample`] on the whole plane, so results are
//! bit-identical whatever the band heights.

use rayon::prelude::*;

use crate::error::Result;
use crate::image::{PixelData, Plane};
use crate::normalize::{Normalizer, Preprocessing, RowBands};

/// Where one output coordinate samples its source: the two neighbours and the weight of the
/// second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

impl Tap {
    /// Output index `i` of `dst` (pixel centres aligned) on a source axis of `src` pixels.
    fn new(i: usize, src: usize, dst: usize) -> Self {
        let k = src as f64 / dst as f64;
        let s = ((i as f64 + 0.5) * k - 0.5).clamp(0.0, (src - 1) as f64);
        let lo = s.floor() as usize;
        Tap {
            lo,
            hi: (lo + 1).min(src - 1),
            frac: (s - lo as f64) as f32,
        }
    }
}

/// Resamples a `sw × sh` grid to `dw × dh`, a row at a time.
#[derive(Debug, Clone)]
struct Grid {
    sw: usize,
    sh: usize,
    dh: usize,
    /// Where each output column samples (one per output column).
    columns: Vec<Tap>,
}

impl Grid {
    fn new(sw: usize, sh: usize, dw: usize, dh: usize) -> Self {
        Grid {
            sw,
            sh,
            dh,
            columns: (0..dw).map(|x| Tap::new(x, sw, dw)).collect(),
        }
    }

    /// Width of the output.
    fn width(&self) -> usize {
        self.columns.len()
    }

    fn row_tap(&self, y: usize) -> Tap {
        Tap::new(y, self.sh, self.dh)
    }

    /// Output row from its two source rows (`fy`: the weight of `bottom`).
    fn row(&self, top: &[f32], bottom: &[f32], fy: f32, out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(&self.columns) {
            let t = top[c.lo] * (1.0 - c.frac) + top[c.hi] * c.frac;
            let b = bottom[c.lo] * (1.0 - c.frac) + bottom[c.hi] * c.frac;
            *o = t * (1.0 - fy) + b * fy;
        }
    }
}

/// Bilinear resampling of a row-major float map (pixel centres aligned).
pub fn resample(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let grid = Grid::new(sw, sh, dw, dh);
    let mut out = vec![0.0f32; dw * dh];
    out.par_chunks_mut(dw.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let t = grid.row_tap(y);
            grid.row(
                &src[t.lo * sw..(t.lo + 1) * sw],
                &src[t.hi * sw..(t.hi + 1) * sw],
                t.frac,
                row,
            );
        });
    out
}

/// A plane resampled to another size without being held whole: its rows are made on demand.
pub struct ResampledPlane<'a> {
    source: &'a Plane,
    grid: Grid,
}

impl<'a> ResampledPlane<'a> {
    /// `source` as it would be resampled to `width × height` by [`resample`].
    pub fn new(source: &'a Plane, width: usize, height: usize) -> Self {
        ResampledPlane {
            source,
            grid: Grid::new(source.width(), source.height(), width, height),
        }
    }

    /// Width of the resampled plane.
    pub fn width(&self) -> usize {
        self.grid.width()
    }

    /// Height of the resampled plane.
    pub fn height(&self) -> usize {
        self.grid.dh
    }

    /// Rows `[first, end)` of the resampled plane, row-major.
    pub fn rows(&self, first: usize, end: usize) -> Vec<f32> {
        let (sw, w) = (self.grid.sw, self.width());
        let mut out = vec![0.0f32; (end - first) * w];
        out.par_chunks_mut(w.max(1)).enumerate().for_each_init(
            || (vec![0.0f32; sw], vec![0.0f32; sw]),
            |(top, bottom), (r, row)| {
                let t = self.grid.row_tap(first + r);
                source_row(self.source, t.lo, top);
                source_row(self.source, t.hi, bottom);
                self.grid.row(top, bottom, t.frac, row);
            },
        );
        out
    }

    /// Rows `[first, end)` as a plane of their own.
    pub fn band(&self, first: usize, end: usize) -> Result<Plane> {
        Plane::new(
            self.width(),
            end - first,
            PixelData::F32(self.rows(first, end)),
        )
    }

    /// The normalisation `steps` give this plane: the statistics of the whole resampled plane,
    /// gathered band by band (equal to [`Normalizer::for_plane`] on the plane made whole).
    pub fn normalizer(&self, steps: &[Preprocessing]) -> Normalizer {
        Normalizer::for_bands(self, steps)
    }
}

impl RowBands for ResampledPlane<'_> {
    fn value_count(&self) -> usize {
        self.width() * self.height()
    }

    fn for_each_band(&self, visit: &mut dyn FnMut(&[f32])) {
        // About 4 M values a band: a few MB, enough rows for every worker.
        let rows = ((4 << 20) / self.width().max(1)).max(1);
        let mut first = 0;
        while first < self.height() {
            let end = (first + rows).min(self.height());
            visit(&self.rows(first, end));
            first = end;
        }
    }
}

/// Row `y` of `plane` as floats.
fn source_row(plane: &Plane, y: usize, out: &mut [f32]) {
    let w = plane.width();
    let span = y * w..(y + 1) * w;
    match plane.data() {
        PixelData::U8(v) => out
            .iter_mut()
            .zip(&v[span])
            .for_each(|(o, &x)| *o = x.into()),
        PixelData::U16(v) => out
            .iter_mut()
            .zip(&v[span])
            .for_each(|(o, &x)| *o = x.into()),
        PixelData::F32(v) => out.copy_from_slice(&v[span]),
    }
}

/// Brings rows of a map at one size back to another size as they arrive, top to bottom: each
/// output row is emitted once the two input rows it reads have arrived.
pub struct RowsBack {
    grid: Grid,
    /// Input rows `[first, arrived)` (none while `first` is past `arrived`: rows that no
    /// output row reads are dropped as they come).
    held: Vec<f32>,
    first: usize,
    /// Input rows received so far.
    arrived: usize,
    /// The next output row to emit.
    next: usize,
}

impl RowsBack {
    /// Rows of a `source_width × source_height` map, to be emitted at `width × height`.
    pub fn new(source_width: usize, source_height: usize, width: usize, height: usize) -> Self {
        RowsBack {
            grid: Grid::new(source_width, source_height, width, height),
            held: Vec::new(),
            first: 0,
            arrived: 0,
            next: 0,
        }
    }

    /// Takes input rows starting at row `first` (in order, each once) and emits, through
    /// `emit(first_row, rows)`, every output row they complete.
    pub fn push(
        &mut self,
        first: usize,
        rows: &[f32],
        emit: &mut dyn FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        let (sw, height) = (self.grid.sw, self.grid.dh);
        debug_assert_eq!(first, self.arrived);
        let count = rows.len() / sw;
        let unread = self.first.saturating_sub(first).min(count);
        self.held.extend_from_slice(&rows[unread * sw..]);
        self.arrived += count;
        let arrived = self.arrived;
        let mut end = self.next;
        while end < height && self.grid.row_tap(end).hi < arrived {
            end += 1;
        }
        if end == self.next {
            return Ok(());
        }
        let (grid, held, base, w) = (&self.grid, &self.held, self.first, self.grid.width());
        let mut out = vec![0.0f32; (end - self.next) * w];
        let start = self.next;
        out.par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(r, row)| {
                let t = grid.row_tap(start + r);
                let (lo, hi) = (t.lo - base, t.hi - base);
                grid.row(
                    &held[lo * sw..(lo + 1) * sw],
                    &held[hi * sw..(hi + 1) * sw],
                    t.frac,
                    row,
                );
            });
        emit(start, &out)?;
        self.next = end;
        // Later output rows read no input row above the next one's first (which, shrinking
        // several times, may not have arrived yet).
        if end < height {
            let keep = self.grid.row_tap(end).lo.max(self.first);
            if keep < self.arrived {
                self.held.drain(..(keep - self.first) * sw);
            } else {
                self.held.clear();
            }
            self.first = keep;
        }
        Ok(())
    }

    /// Whether every output row was emitted.
    pub fn is_done(&self) -> bool {
        self.next == self.grid.dh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula as the pipeline had it (whole plane, a closure per pixel): the reference
    /// the row-by-row code must equal bit for bit.
    fn reference(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
        let sample = |x: f64, y: f64| -> f32 {
            let x = x.clamp(0.0, (sw - 1) as f64);
            let y = y.clamp(0.0, (sh - 1) as f64);
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
            let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
            let top = src[y0 * sw + x0] * (1.0 - fx) + src[y0 * sw + x1] * fx;
            let bottom = src[y1 * sw + x0] * (1.0 - fx) + src[y1 * sw + x1] * fx;
            top * (1.0 - fy) + bottom * fy
        };
        let (kx, ky) = (sw as f64 / dw as f64, sh as f64 / dh as f64);
        (0..dw * dh)
            .map(|i| {
                let (x, y) = ((i % dw) as f64, (i / dw) as f64);
                sample((x + 0.5) * kx - 0.5, (y + 0.5) * ky - 0.5)
            })
            .collect()
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<u16> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 4000) as u16
            })
            .collect()
    }

    #[test]
    fn band_by_band_equals_the_whole_plane_bit_for_bit() {
        let (sw, sh) = (37, 29);
        let values = pseudo_random(sw * sh, 7);
        let plane = Plane::new(sw, sh, PixelData::U16(values.clone())).expect("plane");
        let floats: Vec<f32> = values.iter().map(|&v| f32::from(v)).collect();
        // Down, up, mixed and one-pixel sizes.
        // (3, 3) and (100, 90): back from them shrinks and grows several times per row.
        for (dw, dh) in [
            (30, 23),
            (37, 29),
            (61, 47),
            (20, 40),
            (1, 5),
            (5, 1),
            (3, 3),
            (100, 90),
        ] {
            let want = reference(&floats, sw, sh, dw, dh);
            assert_eq!(resample(&floats, sw, sh, dw, dh), want, "{dw}×{dh}");
            let resampled = ResampledPlane::new(&plane, dw, dh);
            let mut made = Vec::new();
            for first in (0..dh).step_by(4) {
                made.extend(resampled.rows(first, (first + 4).min(dh)));
            }
            assert_eq!(made, want, "made in bands {dw}×{dh}");
            // And back to the source size, fed 1, 3 and 10 rows at a time.
            let whole_back = reference(&want, dw, dh, sw, sh);
            for step in [1, 3, 10] {
                let mut back = RowsBack::new(dw, dh, sw, sh);
                let mut got = Vec::new();
                for first in (0..dh).step_by(step) {
                    let end = (first + step).min(dh);
                    back.push(first, &want[first * dw..end * dw], &mut |row, rows| {
                        assert_eq!(row * sw, got.len(), "rows in order, once");
                        got.extend_from_slice(rows);
                        Ok(())
                    })
                    .expect("push");
                }
                assert!(back.is_done());
                assert_eq!(got, whole_back, "back {dw}×{dh} in steps of {step}");
            }
        }
    }

    #[test]
    fn resampling_keeps_constant_and_ramps() {
        let src: Vec<f32> = (0..16).map(|i| (i % 4) as f32).collect();
        let same = resample(&src, 4, 4, 4, 4);
        assert_eq!(same, src);
        let up = resample(&src, 4, 4, 8, 8);
        assert_eq!(up.len(), 64);
        // Every row of the doubled ramp is the same; pixel centres map back to x/2 - 0.25
        // (clamped at the edges), so a ramp of slope 1 becomes one of slope 1/2.
        let expected_row = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0];
        for row in up.chunks(8) {
            assert_eq!(row, expected_row, "{up:?}");
        }
    }

    #[test]
    fn bounded_memory_while_rows_come_back() {
        // Halving: each output row reads two input rows; the held rows stay a few.
        let mut back = RowsBack::new(100, 1000, 50, 500);
        let row = vec![0.5f32; 100];
        let mut most = 0;
        for y in 0..1000 {
            back.push(y, &row, &mut |_, _| Ok(())).expect("push");
            most = most.max(back.held.len() / 100);
        }
        assert!(back.is_done());
        assert!(most <= 3, "{most} rows held");
    }
}
