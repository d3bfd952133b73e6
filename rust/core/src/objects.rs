//! From a probability map to labelled objects: threshold, connected components, hole filling,
//! seeded watershed split of touching nuclei (markers = h-maxima of the distance transform) and
//! the size filter.
//!
//! Work is done per component inside its bounding box, components in parallel a batch at a
//! time, so memory beyond the label plane is bounded by the batch's objects, not by the image.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use rayon::prelude::*;

use crate::timing::{self, TimedStage};

/// Parameters of the object step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectParams {
    /// Pixels with probability above this are foreground.
    pub threshold: f32,
    /// Objects smaller than this many pixels are dropped (after splitting).
    pub min_area_px: f64,
    /// Split touching objects by a seeded watershed.
    pub split: bool,
    /// A distance-transform peak must rise this many pixels above the saddle to its neighbour
    /// to seed an object of its own (the `h` of the h-maxima). Larger splits less.
    pub split_depth_px: f32,
    /// Fill the holes of each object (a nucleus has none; an artifact outlined as a ring, e.g. a
    /// bubble after image refinement, keeps its hole when this is off).
    pub fill_holes: bool,
}

/// Checks a split depth (see [`ObjectParams::split_depth_px`]): a positive number of pixels.
pub fn check_split_depth(px: f32) -> crate::Result<()> {
    if px.is_finite() && px > 0.0 {
        Ok(())
    } else {
        Err(crate::Error::invalid(format!(
            "split depth {px} must be a positive number of pixels"
        )))
    }
}

/// Labels of a plane: 0 = background, 1..=count objects numbered in raster order of their first
/// pixel (as `skimage.measure.label` numbers them).
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major labels.
    pub data: Vec<u32>,
    /// Number of objects.
    pub count: usize,
}

const NEIGHBOURS_8: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];
const NEIGHBOURS_4: [(isize, isize); 4] = [(0, -1), (-1, 0), (1, 0), (0, 1)];

/// Connected components of `mask` (8-connected when `diagonal`, else 4-connected), numbered in
/// raster order of their first pixel. Returns the label plane and the number of components.
pub fn label_components(mask: &[bool], width: usize, height: usize, diagonal: bool) -> Labels {
    label_components_where(|i| mask[i], width, height, diagonal)
}

/// [`label_components`] of the pixels for which `inside(index)` holds, without a mask plane.
/// Bands of rows are labelled in parallel on the current rayon pool and joined where they
/// touch; the numbering is the same as one pass over the whole plane would give.
pub fn label_components_where(
    inside: impl Fn(usize) -> bool + Sync,
    width: usize,
    height: usize,
    diagonal: bool,
) -> Labels {
    let nbrs: &[(isize, isize)] = if diagonal {
        &NEIGHBOURS_8
    } else {
        &NEIGHBOURS_4
    };
    let mut data = vec![0u32; width * height];
    let bands = (2 * rayon::current_num_threads())
        .min(height / MIN_BAND_ROWS)
        .max(1);
    if bands == 1 || width == 0 {
        let count = label_band(&inside, &mut data, 0, width, height, nbrs);
        return Labels {
            width,
            height,
            data,
            count: count as usize,
        };
    }
    let band_rows = height.div_ceil(bands);
    // Each band numbers its own components from 1 in raster order.
    let counts: Vec<u32> = data
        .par_chunks_mut(band_rows * width)
        .enumerate()
        .map(|(b, band)| {
            let rows = band.len() / width;
            label_band(&inside, band, b * band_rows * width, width, rows, nbrs)
        })
        .collect();
    // Provisional ids: band b's label l is offsets[b] + l, so ids follow the raster order of
    // each band component's first pixel.
    let mut offsets = Vec::with_capacity(counts.len());
    let mut total = 0u32;
    for &c in &counts {
        offsets.push(total);
        total += c;
    }
    let mut parent: Vec<u32> = (0..=total).collect();
    let reach: &[isize] = if diagonal { &[-1, 0, 1] } else { &[0] };
    for b in 1..counts.len() {
        let y = b * band_rows;
        let (above, below) = (
            &data[(y - 1) * width..y * width],
            &data[y * width..(y + 1) * width],
        );
        for (x, &l) in below.iter().enumerate() {
            if l == 0 {
                continue;
            }
            for &dx in reach {
                let Some(nx) = x.checked_add_signed(dx).filter(|&nx| nx < width) else {
                    continue;
                };
                if above[nx] != 0 {
                    union(&mut parent, offsets[b - 1] + above[nx], offsets[b] + l);
                }
            }
        }
    }
    // Final numbers in the order of the smallest provisional id of each joined component,
    // which is the raster order of its first pixel.
    let mut number = vec![0u32; total as usize + 1];
    let mut final_of_root = vec![0u32; total as usize + 1];
    let mut count = 0u32;
    for id in 1..=total {
        let root = find(&mut parent, id) as usize;
        if final_of_root[root] == 0 {
            count += 1;
            final_of_root[root] = count;
        }
        number[id as usize] = final_of_root[root];
    }
    data.par_chunks_mut(band_rows * width)
        .enumerate()
        .for_each(|(b, band)| {
            for l in band.iter_mut().filter(|l| **l != 0) {
                *l = number[(offsets[b] + *l) as usize];
            }
        });
    Labels {
        width,
        height,
        data,
        count: count as usize,
    }
}

/// Fewest rows in a band labelled on its own.
const MIN_BAND_ROWS: usize = 64;

/// Labels the components of one band of `rows` rows (`band`, zero on entry) whose first pixel
/// is plane index `first`, numbering them from 1 in raster order; returns how many there are.
fn label_band(
    inside: &impl Fn(usize) -> bool,
    band: &mut [u32],
    first: usize,
    width: usize,
    rows: usize,
    nbrs: &[(isize, isize)],
) -> u32 {
    let mut count = 0u32;
    let mut queue = VecDeque::new();
    for start in 0..width * rows {
        if band[start] != 0 || !inside(first + start) {
            continue;
        }
        count += 1;
        band[start] = count;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            for_each_neighbour(p, width, rows, nbrs, |q| {
                if band[q] == 0 && inside(first + q) {
                    band[q] = count;
                    queue.push_back(q);
                }
            });
        }
    }
    count
}

/// The root of `id` in a union-find forest, halving the path on the way.
fn find(parent: &mut [u32], mut id: u32) -> u32 {
    while parent[id as usize] != id {
        let up = parent[parent[id as usize] as usize];
        parent[id as usize] = up;
        id = up;
    }
    id
}

/// Joins the sets of `a` and `b`, the smaller root becoming the root.
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (low, high) = (ra.min(rb), ra.max(rb));
        parent[high as usize] = low;
    }
}

/// Exact Euclidean distance of every foreground pixel to the nearest background pixel (0 on
/// background), as `scipy.ndimage.distance_transform_edt` computes it. Pixels outside the plane
/// do not count as background.
pub fn distance_transform(mask: &[bool], width: usize, height: usize) -> Vec<f32> {
    const INF: f64 = 1e20;
    let mut sq: Vec<f64> = mask.iter().map(|&m| if m { INF } else { 0.0 }).collect();
    let mut f = Vec::new();
    let mut out = Vec::new();
    // Columns, then rows (Felzenszwalb & Huttenlocher's lower envelope of parabolas).
    for x in 0..width {
        f.clear();
        f.extend((0..height).map(|y| sq[y * width + x]));
        edt_1d(&f, &mut out);
        for y in 0..height {
            sq[y * width + x] = out[y];
        }
    }
    for y in 0..height {
        f.clear();
        f.extend_from_slice(&sq[y * width..(y + 1) * width]);
        edt_1d(&f, &mut out);
        sq[y * width..(y + 1) * width].copy_from_slice(&out);
    }
    sq.iter()
        .map(|&d| {
            if d >= INF {
                f32::INFINITY
            } else {
                d.sqrt() as f32
            }
        })
        .collect()
}

fn edt_1d(f: &[f64], d: &mut Vec<f64>) {
    let n = f.len();
    d.clear();
    d.resize(n, 0.0);
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let inf = 1e20;
    // Skip leading infinite samples: parabolas of infinite height never win.
    let Some(first) = (0..n).find(|&q| f[q] < inf) else {
        d.fill(inf);
        return;
    };
    v[0] = first;
    for q in first + 1..n {
        if f[q] >= inf {
            continue;
        }
        loop {
            let p = v[k];
            let s = ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q - p) as f64);
            if s <= z[k] && k > 0 {
                k -= 1;
            } else {
                k += 1;
                v[k] = q;
                z[k] = s;
                z[k + 1] = f64::INFINITY;
                break;
            }
        }
    }
    let mut k = 0usize;
    for (q, dq) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k];
        let diff = q as f64 - p as f64;
        *dq = diff * diff + f[p];
    }
}

#[derive(Clone, Copy, PartialEq)]
struct Key(f32);
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Markers for splitting: the h-maxima of `height_map` inside `mask` (regional maxima of the
/// morphological reconstruction of `height_map - h` under `height_map`), labelled 1..n.
pub fn h_maxima_markers(
    height_map: &[f32],
    mask: &[bool],
    width: usize,
    height: usize,
    h: f32,
) -> Labels {
    let n = height_map.len();
    // Reconstruction by dilation with a max-priority queue.
    let mut rec: Vec<f32> = (0..n)
        .map(|i| {
            if mask[i] {
                (height_map[i] - h).max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let mut heap: BinaryHeap<(Key, usize)> = (0..n)
        .filter(|&i| mask[i])
        .map(|i| (Key(rec[i]), i))
        .collect();
    while let Some((Key(v), p)) = heap.pop() {
        if v < rec[p] {
            continue;
        }
        for_each_neighbour(p, width, height, &NEIGHBOURS_8, |q| {
            if mask[q] {
                let cand = v.min(height_map[q]);
                if cand > rec[q] {
                    rec[q] = cand;
                    heap.push((Key(cand), q));
                }
            }
        });
    }
    regional_maxima(&rec, mask, width, height, usize::MAX)
}

/// The regional maxima of `values` inside `mask` with a value above 0: flat 8-connected
/// plateaus with no higher neighbour, labelled 1..n in raster order of their first pixel. Stops
/// looking after `stop_after` of them.
fn regional_maxima(
    values: &[f32],
    mask: &[bool],
    width: usize,
    height: usize,
    stop_after: usize,
) -> Labels {
    let n = values.len();
    let mut plateau = vec![0u32; n];
    let mut markers = vec![0u32; n];
    let mut count = 0u32;
    let mut members = Vec::new();
    let mut queue = VecDeque::new();
    let mut next_plateau = 0u32;
    for start in 0..n {
        if count as usize >= stop_after {
            break;
        }
        if !mask[start] || plateau[start] != 0 {
            continue;
        }
        next_plateau += 1;
        let value = values[start];
        let mut is_max = value > 0.0;
        members.clear();
        plateau[start] = next_plateau;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            members.push(p);
            for_each_neighbour(p, width, height, &NEIGHBOURS_8, |q| {
                if !mask[q] {
                    return;
                }
                if values[q] > value {
                    is_max = false;
                } else if values[q] == value && plateau[q] == 0 {
                    plateau[q] = next_plateau;
                    queue.push_back(q);
                }
            });
        }
        if is_max {
            count += 1;
            for &p in &members {
                markers[p] = count;
            }
        }
    }
    Labels {
        width,
        height,
        data: markers,
        count: count as usize,
    }
}

#[inline]
fn for_each_neighbour(
    p: usize,
    width: usize,
    height: usize,
    nbrs: &[(isize, isize)],
    mut f: impl FnMut(usize),
) {
    let (x, y) = ((p % width) as isize, (p / width) as isize);
    for &(dx, dy) in nbrs {
        let (nx, ny) = (x + dx, y + dy);
        if nx >= 0 && ny >= 0 && (nx as usize) < width && (ny as usize) < height {
            f(ny as usize * width + nx as usize);
        }
    }
}

/// Seeded watershed: floods `image` (lowest first) from `markers` inside `mask`, 4-connected,
/// pixels of equal height in the order they were reached — the same flooding rule as
/// `skimage.segmentation.watershed`.
pub fn watershed(
    image: &[f32],
    markers: &[u32],
    mask: &[bool],
    width: usize,
    height: usize,
) -> Vec<u32> {
    let mut out: Vec<u32> = markers
        .iter()
        .zip(mask)
        .map(|(&m, &k)| if k { m } else { 0 })
        .collect();
    let mut heap: BinaryHeap<Reverse<(Key, u64, usize)>> = BinaryHeap::new();
    for (i, &m) in out.iter().enumerate() {
        if m != 0 {
            heap.push(Reverse((Key(image[i]), 0, i)));
        }
    }
    let mut age = 1u64;
    while let Some(Reverse((_, _, p))) = heap.pop() {
        let label = out[p];
        for_each_neighbour(p, width, height, &NEIGHBOURS_4, |q| {
            if mask[q] && out[q] == 0 {
                out[q] = label;
                age += 1;
                heap.push(Reverse((Key(image[q]), age, q)));
            }
        });
    }
    out
}

/// Fills holes of a binary object: background regions (4-connected) that do not reach the edge.
pub fn fill_holes(mask: &mut [bool], width: usize, height: usize) {
    let mut outside = vec![false; mask.len()];
    let mut queue = VecDeque::new();
    for p in 0..mask.len() {
        let (x, y) = (p % width, p / width);
        if !mask[p] && (x == 0 || y == 0 || x + 1 == width || y + 1 == height) {
            outside[p] = true;
            queue.push_back(p);
        }
    }
    while let Some(p) = queue.pop_front() {
        for_each_neighbour(p, width, height, &NEIGHBOURS_4, |q| {
            if !mask[q] && !outside[q] {
                outside[q] = true;
                queue.push_back(q);
            }
        });
    }
    for (m, o) in mask.iter_mut().zip(&outside) {
        *m = !*o;
    }
}

/// Turns a probability map into labelled objects: threshold, 8-connected components, holes
/// filled, touching objects split, small objects dropped, labels renumbered in raster order.
pub fn find_objects(prob: &[f32], width: usize, height: usize, params: &ObjectParams) -> Labels {
    find_objects_keeping(prob, width, height, params, |_| true)
}

/// [`find_objects`] keeping only the objects whose connected component (before splitting) starts
/// on a row for which `keep(row)` holds; the others become background. Every component is
/// settled before the choice, so a kept object is exactly what the whole map would give for
/// that component. Used to cut a large plane into bands (see [`crate::banded`]).
pub fn find_objects_keeping(
    prob: &[f32],
    width: usize,
    height: usize,
    params: &ObjectParams,
    keep: impl Fn(usize) -> bool,
) -> Labels {
    let (components, boxes) = timing::time(TimedStage::Components, || {
        let components =
            label_components_where(|i| prob[i] > params.threshold, width, height, true);
        let boxes = bounding_boxes(&components.data, width, components.count);
        (components, boxes)
    });
    let data = timing::time(TimedStage::Split, || {
        let mut data = components.data;
        // Component ids live in the low range; pieces of split components get fresh ids above it.
        // Each component is worked out on its own (in parallel, a batch at a time so memory stays
        // bounded), then applied in id order; a component only ever writes background or its own
        // pixels, so a nucleus lying in another's hole keeps its pixels.
        let mut next_id = components.count as u32 + 1;
        // The component each piece id above the component range came from.
        let mut owner: Vec<u32> = Vec::new();
        let ids: Vec<u32> = (1..=components.count as u32).collect();
        for batch in ids.chunks(COMPONENT_BATCH) {
            let outcomes: Vec<ComponentOutcome> = batch
                .par_iter()
                .map(|&id| settle_component(&data, width, height, id, boxes[id as usize], params))
                .collect();
            for (&id, outcome) in batch.iter().zip(&outcomes) {
                for &g in &outcome.holes {
                    if data[g] == 0 {
                        data[g] = id;
                    }
                }
                for &(g, piece) in &outcome.pieces {
                    if data[g] == id {
                        data[g] = next_id + piece - 2;
                    }
                }
                next_id += outcome.extra_pieces;
                owner.extend(std::iter::repeat_n(id, outcome.extra_pieces as usize));
            }
        }
        let kept: Vec<bool> = (0..next_id as usize)
            .map(|l| {
                let component = match l {
                    0 => return false,
                    l if l <= components.count => l,
                    l => owner[l - components.count - 1] as usize,
                };
                keep(boxes[component].1)
            })
            .collect();
        if kept[1..].iter().any(|&k| !k) {
            data.par_iter_mut().for_each(|l| {
                if !kept[*l as usize] {
                    *l = 0;
                }
            });
        }
        data
    });
    timing::time(TimedStage::SizeFilter, || {
        relabel_and_filter(data, width, height, params.min_area_px)
    })
}

/// The (x0, y0, x1, y1) box of every label 1..=count (index 0 unused).
fn bounding_boxes(data: &[u32], width: usize, count: usize) -> Vec<(usize, usize, usize, usize)> {
    fold_labels(
        data,
        width,
        count,
        &(usize::MAX, usize::MAX, 0, 0),
        |b, i| {
            let (x, y) = (i % width, i / width);
            *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        },
        |a, b| *a = (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)),
    )
}

/// Rows of one block in [`fold_labels`].
const LABEL_BLOCK_ROWS: usize = 64;

/// Folds every labelled pixel of `data` (rows of `width` values, labels 1..=count) into one
/// accumulator per label, indexed by label (index 0, the background, stays `empty`). `add`
/// takes a pixel's plane index. Fixed blocks of rows are folded in parallel, each holding only
/// the range of labels it meets (labels follow the raster order of their first pixel, so the
/// range stays short), then merged into the result block by block in order with `merge`: the
/// result does not depend on the thread count.
pub(crate) fn fold_labels<A: Clone + Send + Sync>(
    data: &[u32],
    width: usize,
    count: usize,
    empty: &A,
    add: impl Fn(&mut A, usize) + Sync,
    merge: impl Fn(&mut A, &A),
) -> Vec<A> {
    fold_labels_from(data, width, count, 0, empty, add, merge)
}

/// [`fold_labels`] over rows that start at row `first_row` of a larger plane: the blocks fall
/// on the same rows of that plane as they would in the whole plane, so every label's pixels
/// are folded in the same groups and order, and a band gives bit-identical sums.
pub(crate) fn fold_labels_from<A: Clone + Send + Sync>(
    data: &[u32],
    width: usize,
    count: usize,
    first_row: usize,
    empty: &A,
    add: impl Fn(&mut A, usize) + Sync,
    merge: impl Fn(&mut A, &A),
) -> Vec<A> {
    let width = width.max(1);
    let rows = data.len() / width;
    let mut starts = Vec::with_capacity(rows / LABEL_BLOCK_ROWS + 2);
    let mut row = 0;
    while row < rows {
        starts.push(row);
        row += LABEL_BLOCK_ROWS - (first_row + row) % LABEL_BLOCK_ROWS;
    }
    let blocks: Vec<(u32, Vec<A>)> = starts
        .par_iter()
        .enumerate()
        .map(|(b, &start)| {
            let end = starts.get(b + 1).copied().unwrap_or(rows);
            let block = &data[start * width..end * width];
            let (mut lo, mut hi) = (u32::MAX, 0u32);
            for &l in block.iter().filter(|&&l| l != 0) {
                lo = lo.min(l);
                hi = hi.max(l);
            }
            if lo > hi {
                return (0, Vec::new());
            }
            let mut acc = vec![empty.clone(); (hi - lo + 1) as usize];
            let first = start * width;
            for (k, &l) in block.iter().enumerate().filter(|(_, &l)| l != 0) {
                add(&mut acc[(l - lo) as usize], first + k);
            }
            (lo, acc)
        })
        .collect();
    let mut result = vec![empty.clone(); count + 1];
    for (lo, block) in blocks {
        for (k, b) in block.iter().enumerate() {
            merge(&mut result[lo as usize + k], b);
        }
    }
    result
}

/// Components worked out in parallel at a time.
const COMPONENT_BATCH: usize = 4096;

/// What one component changes: the holes it fills and, when split, the pixels of its pieces
/// after the first (piece numbers from 2), as plane indices.
struct ComponentOutcome {
    holes: Vec<usize>,
    pieces: Vec<(usize, u32)>,
    extra_pieces: u32,
}

/// Fills the holes of component `id` (bounding box `bbox`) and splits it by a seeded watershed,
/// reading only the component labels.
fn settle_component(
    data: &[u32],
    width: usize,
    height: usize,
    id: u32,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    params: &ObjectParams,
) -> ComponentOutcome {
    // Local box with a one-pixel border of background.
    let (bx0, by0) = (x0.saturating_sub(1), y0.saturating_sub(1));
    let (bx1, by1) = ((x1 + 1).min(width - 1), (y1 + 1).min(height - 1));
    let (bw, bh) = (bx1 - bx0 + 1, by1 - by0 + 1);
    let global = |i: usize| (by0 + i / bw) * width + bx0 + i % bw;
    let own: Vec<bool> = (0..bw * bh).map(|i| data[global(i)] == id).collect();
    let mut local = own.clone();
    if params.fill_holes {
        fill_holes(&mut local, bw, bh);
    }
    let holes = (0..bw * bh)
        .filter(|&i| local[i] && !own[i])
        .map(global)
        .collect();
    let mut outcome = ComponentOutcome {
        holes,
        pieces: Vec::new(),
        extra_pieces: 0,
    };
    if !params.split {
        return outcome;
    }
    let dist = distance_transform(&local, bw, bh);
    // Each h-maximum holds a regional maximum of its own, so a distance map with one regional
    // maximum has at most one h-maximum: nothing to split, and no reconstruction to run.
    if regional_maxima(&dist, &local, bw, bh, 2).count <= 1 {
        return outcome;
    }
    let markers = h_maxima_markers(&dist, &local, bw, bh, params.split_depth_px);
    if markers.count <= 1 {
        return outcome;
    }
    let neg: Vec<f32> = dist.iter().map(|d| -d).collect();
    let pieces = watershed(&neg, &markers.data, &local, bw, bh);
    outcome.pieces = pieces
        .iter()
        .enumerate()
        .filter(|(_, &piece)| piece > 1)
        .map(|(i, &piece)| (global(i), piece))
        .collect();
    outcome.extra_pieces = markers.count as u32 - 1;
    outcome
}

/// Drops labels with fewer than `min_area_px` pixels and renumbers the rest 1..n in raster order
/// of their first pixel.
pub fn relabel_and_filter(
    mut data: Vec<u32>,
    width: usize,
    height: usize,
    min_area_px: f64,
) -> Labels {
    let max = data.iter().copied().max().unwrap_or(0) as usize;
    let mut area = vec![0u64; max + 1];
    for &l in &data {
        area[l as usize] += 1;
    }
    let mut map = vec![0u32; max + 1];
    let mut assigned = vec![false; max + 1];
    let mut count = 0u32;
    for l in data.iter_mut() {
        let old = *l as usize;
        if old == 0 {
            continue;
        }
        if !assigned[old] {
            assigned[old] = true;
            if area[old] as f64 >= min_area_px {
                count += 1;
                map[old] = count;
            }
        }
        *l = map[old];
    }
    Labels {
        width,
        height,
        data,
        count: count as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> (Vec<bool>, usize, usize) {
        let w = rows[0].len();
        let mask = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| c == '#'))
            .collect();
        (mask, w, rows.len())
    }

    #[test]
    fn components_4_and_8_connected() {
        let (m, w, h) = grid(&["#..#", ".#..", "....", "##.#"]);
        assert_eq!(label_components(&m, w, h, true).count, 4);
        let l4 = label_components(&m, w, h, false);
        assert_eq!(l4.count, 5);
        assert_eq!(l4.data[..4], [1, 0, 0, 2], "numbered in raster order");
    }

    fn naive_edt(mask: &[bool], w: usize) -> Vec<f32> {
        (0..mask.len())
            .map(|p| {
                if !mask[p] {
                    return 0.0;
                }
                let (x, y) = ((p % w) as f64, (p / w) as f64);
                (0..mask.len())
                    .filter(|&q| !mask[q])
                    .map(|q| ((q % w) as f64 - x).hypot((q / w) as f64 - y))
                    .fold(f64::INFINITY, f64::min) as f32
            })
            .collect()
    }

    #[test]
    fn distance_transform_matches_brute_force() {
        let mut seed = 7u32;
        for _ in 0..20 {
            let (w, h) = (13, 9);
            let mask: Vec<bool> = (0..w * h)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    !(seed >> 24).is_multiple_of(5)
                })
                .collect();
            let fast = distance_transform(&mask, w, h);
            let slow = naive_edt(&mask, w);
            for (a, b) in fast.iter().zip(&slow) {
                assert!(
                    (a - b).abs() < 1e-5 || (a.is_infinite() && b.is_infinite()),
                    "{a} {b}"
                );
            }
        }
    }

    /// Two overlapping discs of radius r, centres `gap` apart.
    fn two_discs(r: f64, gap: f64) -> (Vec<f32>, usize, usize) {
        let (w, h) = ((4.0 * r + gap) as usize + 4, (2.0 * r) as usize + 6);
        let cy = h as f64 / 2.0;
        let c1 = 2.0 + r;
        let c2 = c1 + gap;
        let prob = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let inside = (x - c1).hypot(y - cy) <= r || (x - c2).hypot(y - cy) <= r;
                if inside {
                    0.9
                } else {
                    0.1
                }
            })
            .collect();
        (prob, w, h)
    }

    #[test]
    fn a_ring_keeps_its_hole_only_when_asked() {
        let (w, h) = (30usize, 30usize);
        let prob: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 - 15.0, (i / w) as f32 - 15.0);
                let d = (x * x + y * y).sqrt();
                if (8.0..=11.0).contains(&d) {
                    0.9
                } else {
                    0.1
                }
            })
            .collect();
        let ring_pixels = prob.iter().filter(|&&p| p > 0.5).count();
        let params = ObjectParams {
            threshold: 0.5,
            min_area_px: 5.0,
            split: false,
            split_depth_px: 0.5,
            fill_holes: false,
        };
        let kept = find_objects(&prob, w, h, &params);
        assert_eq!(kept.count, 1);
        assert_eq!(kept.data.iter().filter(|&&l| l > 0).count(), ring_pixels);
        let filled = find_objects(
            &prob,
            w,
            h,
            &ObjectParams {
                fill_holes: true,
                ..params
            },
        );
        assert!(filled.data.iter().filter(|&&l| l > 0).count() > ring_pixels + 150);
    }

    #[test]
    fn splits_touching_discs_but_not_a_single_one() {
        let params = ObjectParams {
            threshold: 0.5,
            min_area_px: 5.0,
            split: true,
            split_depth_px: 2.0,
            fill_holes: true,
        };
        let (prob, w, h) = two_discs(10.0, 16.0);
        let labels = find_objects(&prob, w, h, &params);
        assert_eq!(labels.count, 2, "two touching nuclei are split");
        let no_split = ObjectParams {
            split: false,
            ..params
        };
        assert_eq!(find_objects(&prob, w, h, &no_split).count, 1);
        let (prob, w, h) = two_discs(10.0, 0.0);
        assert_eq!(
            find_objects(&prob, w, h, &params).count,
            1,
            "one disc stays whole"
        );
    }

    #[test]
    fn fills_holes_and_filters_by_size() {
        let (m, w, h) = grid(&["......", ".####.", ".#..#.", ".####.", "......", "#....."]);
        let prob: Vec<f32> = m.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let params = ObjectParams {
            threshold: 0.5,
            min_area_px: 2.0,
            split: false,
            split_depth_px: 2.0,
            fill_holes: true,
        };
        let labels = find_objects(&prob, w, h, &params);
        assert_eq!(labels.count, 1, "the single pixel is dropped");
        assert_eq!(
            labels.data.iter().filter(|&&l| l == 1).count(),
            12,
            "hole filled"
        );
    }

    #[test]
    fn a_nucleus_in_anothers_hole_keeps_its_pixels() {
        let (m, w, h) = grid(&[
            "#######", "#.....#", "#.###.#", "#.###.#", "#.###.#", "#.....#", "#######",
        ]);
        let prob: Vec<f32> = m.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let params = ObjectParams {
            threshold: 0.5,
            min_area_px: 1.0,
            split: false,
            split_depth_px: 2.0,
            fill_holes: true,
        };
        let labels = find_objects(&prob, w, h, &params);
        assert_eq!(labels.count, 2);
        let inner = labels.data.iter().filter(|&&l| l == 2).count();
        assert_eq!(inner, 9, "the inner object keeps all its pixels");
        assert_eq!(
            labels.data.iter().filter(|&&l| l == 1).count(),
            49 - 9,
            "the ring fills the gap around it"
        );
    }

    /// A reproducible pseudo-random mask with blobs and speckle, `density` in 0..100.
    fn speckle(w: usize, h: usize, density: u64, seed: u64) -> Vec<bool> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..w * h)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let blob = ((x / 9.0).sin() * (y / 7.0).cos()) > 0.6;
                blob || (state >> 33) % 100 < density
            })
            .collect()
    }

    /// The shortcut in `settle_component` skips the h-maxima when the distance map has one
    /// regional maximum; this checks the property it rests on (never more h-maxima than regional
    /// maxima) on speckled masks of many shapes, at several depths, and that such masks do
    /// reach several h-maxima, so the comparison is not empty.
    #[test]
    fn a_distance_map_has_no_more_h_maxima_than_regional_maxima() {
        let mut several = 0;
        for seed in 0..40 {
            let (w, h) = (24 + seed as usize % 9, 20 + seed as usize % 7);
            let mask = speckle(w, h, 45 + seed % 30, seed);
            let dist = distance_transform(&mask, w, h);
            let regional = regional_maxima(&dist, &mask, w, h, usize::MAX).count;
            for depth in [0.0, 0.5, 1.0, 2.0, 3.5] {
                let markers = h_maxima_markers(&dist, &mask, w, h, depth).count;
                assert!(
                    markers <= regional,
                    "seed {seed}, depth {depth}: {markers} h-maxima, {regional} regional maxima"
                );
                several += usize::from(markers > 1);
            }
            // Stopping early counts up to the limit only.
            assert_eq!(
                regional_maxima(&dist, &mask, w, h, 2).count,
                regional.min(2)
            );
        }
        assert!(several > 20, "{several}");
    }

    #[test]
    fn banded_labelling_numbers_like_one_pass() {
        let in_pool = |threads: usize, f: &(dyn Fn() -> Labels + Sync)| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(f)
        };
        for (w, h, density) in [(300, 700, 5), (257, 400, 30), (64, 1000, 55), (1, 500, 50)] {
            let mask = speckle(w, h, density, w as u64);
            for diagonal in [false, true] {
                // One thread: a single band, the plain flood fill.
                let one = in_pool(1, &|| label_components(&mask, w, h, diagonal));
                for threads in [2, 3, 7] {
                    let many = in_pool(threads, &|| label_components(&mask, w, h, diagonal));
                    assert_eq!(many.count, one.count, "{w}×{h} at {threads} threads");
                    assert!(many.data == one.data, "{w}×{h} at {threads} threads");
                }
                // Vertical stripes cross every band seam: one component per stripe.
                let stripes: Vec<bool> = (0..w * h).map(|i| (i % w) % 4 == 0).collect();
                let l = in_pool(4, &|| label_components(&stripes, w, h, diagonal));
                assert_eq!(l.count, w.div_ceil(4), "{w}×{h}");
            }
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_number_of_threads() {
        // Nine pairs of touching discs, each pair split in two.
        let (pair, pw, ph) = two_discs(10.0, 17.0);
        let (w, h) = (3 * pw, 3 * ph);
        let prob: Vec<f32> = (0..w * h)
            .map(|i| pair[(i / w % ph) * pw + i % w % pw])
            .collect();
        let params = ObjectParams {
            threshold: 0.5,
            min_area_px: 1.0,
            split: true,
            split_depth_px: 2.0,
            fill_holes: true,
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| find_objects(&prob, w, h, &params))
        };
        let one = run(1);
        assert_eq!(one.count, 18);
        assert_eq!(one, run(4));
    }
}
