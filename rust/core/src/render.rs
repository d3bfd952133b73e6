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
    let [lo, hi] = percentiles(plane, [0.5, 99.5]);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (w, h) = (labels.width, labels.height);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for i in 0..w * h {
        let (x, y) = (i % w, i / w);
        let l = labels.data[i];
        let edge = l != 0
            && (x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || labels.data[i - 1] != l
                || labels.data[i + 1] != l
                || labels.data[i - w] != l
                || labels.data[i + w] != l);
        if edge {
            rgb.extend_from_slice(&OUTLINE_RGB);
        } else {
            let g = ((f64::from(plane.value(i)) - lo) / span * 255.0).clamp(0.0, 255.0) as u8;
            rgb.extend_from_slice(&[g, g, g]);
        }
    }
    rgb
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
}
