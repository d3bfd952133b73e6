//! Quality-control pictures: object outlines drawn over the input image.

use crate::image::Plane;
use crate::normalize::percentiles;
use crate::objects::Labels;

/// Colour of outlines in overlays (yellow, readable on grey).
pub const OUTLINE_RGB: [u8; 3] = [255, 220, 0];

/// An RGB (8 bits per channel, row-major) picture of `plane`, contrast-stretched between its
/// 0.5 and 99.5 percentiles, with the outline of every labelled object drawn on it. An outline
/// pixel is an object pixel with a 4-neighbour outside that object.
pub fn overlay_rgb(plane: &Plane, labels: &Labels) -> Vec<u8> {
    let mut rows = OverlayRows::new(plane);
    let mut rgb = rows.push(&labels.data);
    rgb.extend(rows.finish());
    rgb
}

/// [`overlay_rgb`] drawn a block of rows at a time, for planes whose labels are never whole in
/// memory: give it label rows top to bottom; it returns the RGB rows it can finish (an outline
/// needs the row below), and the rest at [`OverlayRows::finish`].
pub struct OverlayRows<'p> {
    plane: &'p Plane,
    lo: f64,
    span: f64,
    /// Labels of the last row drawn (empty before the first).
    above: Vec<u32>,
    /// Labels of rows received but not drawn yet, from row `next`.
    waiting: Vec<u32>,
    next: usize,
}

impl<'p> OverlayRows<'p> {
    /// Starts an overlay of `plane`.
    pub fn new(plane: &'p Plane) -> Self {
        let [lo, hi] = percentiles(plane, [0.5, 99.5]);
        OverlayRows {
            plane,
            lo,
            span: if hi > lo { hi - lo } else { 1.0 },
            above: Vec::new(),
            waiting: Vec::new(),
            next: 0,
        }
    }

    /// Takes the labels of the next rows; returns the RGB of every row that can now be drawn.
    pub fn push(&mut self, labels: &[u32]) -> Vec<u8> {
        self.waiting.extend_from_slice(labels);
        let w = self.plane.width();
        let rows = self.waiting.len() / w;
        self.draw(rows.saturating_sub(1))
    }

    /// The RGB of the rows still waiting (the last one).
    pub fn finish(mut self) -> Vec<u8> {
        let rows = self.waiting.len() / self.plane.width();
        self.draw(rows)
    }

    /// Draws the first `rows` waiting rows.
    fn draw(&mut self, rows: usize) -> Vec<u8> {
        let (w, h) = (self.plane.width(), self.plane.height());
        let mut rgb = Vec::with_capacity(rows * w * 3);
        for r in 0..rows {
            let y = self.next + r;
            let row = &self.waiting[r * w..(r + 1) * w];
            let above = if r == 0 {
                &self.above[..]
            } else {
                &self.waiting[(r - 1) * w..r * w]
            };
            let below = self.waiting.get((r + 1) * w..(r + 2) * w).unwrap_or(&[]);
            for (x, &l) in row.iter().enumerate() {
                let edge = l != 0
                    && (x == 0
                        || y == 0
                        || x + 1 == w
                        || y + 1 == h
                        || row[x - 1] != l
                        || row[x + 1] != l
                        || above.get(x) != Some(&l)
                        || below.get(x) != Some(&l));
                if edge {
                    rgb.extend_from_slice(&OUTLINE_RGB);
                } else {
                    let v = f64::from(self.plane.at(x, y));
                    let g = ((v - self.lo) / self.span * 255.0).clamp(0.0, 255.0) as u8;
                    rgb.extend_from_slice(&[g, g, g]);
                }
            }
        }
        if rows > 0 {
            self.above = self.waiting[(rows - 1) * w..rows * w].to_vec();
            self.waiting.drain(..rows * w);
            self.next += rows;
        }
        rgb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::PixelData;

    #[test]
    fn outlines_only_the_border_of_objects() {
        let mut data = vec![0u32; 25];
        for y in 1..4 {
            for x in 1..4 {
                data[y * 5 + x] = 1;
            }
        }
        let labels = Labels {
            width: 5,
            height: 5,
            data,
            count: 1,
        };
        let plane = Plane::new(5, 5, PixelData::U8((0..25).collect())).expect("plane");
        let rgb = overlay_rgb(&plane, &labels);
        let px = |x: usize, y: usize| &rgb[(y * 5 + x) * 3..(y * 5 + x) * 3 + 3];
        assert_eq!(px(1, 1), OUTLINE_RGB);
        assert_ne!(px(2, 2), OUTLINE_RGB, "the centre is not an outline");
        assert_eq!(px(0, 0), [0, 0, 0]);
    }

    #[test]
    fn row_blocks_draw_the_same_overlay() {
        let (w, h) = (7, 9);
        let data: Vec<u32> = (0..w * h)
            .map(|i| ((i / w) / 3 * 2 + (i % w) / 4) as u32 % 3)
            .collect();
        let labels = Labels {
            width: w,
            height: h,
            data,
            count: 2,
        };
        let plane = Plane::new(w, h, PixelData::U8((0..63).collect())).expect("plane");
        let whole = overlay_rgb(&plane, &labels);
        for block in [1, 2, 4, 9] {
            let mut rows = OverlayRows::new(&plane);
            let mut rgb = Vec::new();
            for chunk in labels.data.chunks(block * w) {
                rgb.extend(rows.push(chunk));
            }
            rgb.extend(rows.finish());
            assert_eq!(rgb, whole, "blocks of {block} rows");
        }
    }
}
