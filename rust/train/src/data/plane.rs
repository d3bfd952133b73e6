//! The float planes training works on: a row-major plane of normalised values, and windows
//! cut from it and from label planes.

use brightseg::objects::{relabel_and_filter, Labels};

/// A row-major float plane.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatPlane {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl FloatPlane {
    /// A plane of `width × height` values.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(width * height, data.len());
        FloatPlane {
            width,
            height,
            data,
        }
    }

    /// The float values of a core image plane.
    pub fn from_plane(plane: &brightseg::image::Plane) -> Self {
        let data = (0..plane.width() * plane.height())
            .map(|i| plane.value(i))
            .collect();
        FloatPlane::new(plane.width(), plane.height(), data)
    }

    /// The `w × h` window starting at (`x0`, `y0`) (clipped to the plane).
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> FloatPlane {
        let (data, cw, ch) = crop_rows(&self.data, self.width, self.height, x0, y0, w, h);
        FloatPlane::new(cw, ch, data)
    }
}

/// The `w × h` window at (`x0`, `y0`) of a row-major `width × height` array, clipped to it:
/// the values and the window's actual width and height.
pub fn crop_rows<T: Copy>(
    data: &[T],
    width: usize,
    height: usize,
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
) -> (Vec<T>, usize, usize) {
    let x1 = (x0 + w).min(width);
    let y1 = (y0 + h).min(height);
    let (x0, y0) = (x0.min(x1), y0.min(y1));
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        out.extend_from_slice(&data[y * width + x0..y * width + x1]);
    }
    (out, x1 - x0, y1 - y0)
}

/// The `w × h` window at (`x0`, `y0`) of a label plane, objects renumbered 1..n.
pub fn crop_labels(labels: &Labels, x0: usize, y0: usize, w: usize, h: usize) -> Labels {
    let (data, cw, ch) = crop_rows(&labels.data, labels.width, labels.height, x0, y0, w, h);
    relabel_and_filter(data, cw, ch, 0.0)
}
