//! In-memory images: planes of pixels in their native type, channels, z-slices, time points and
//! the physical pixel size.

use crate::error::{Error, Result};

/// Pixel values of one plane, kept in the type they were stored in so that a 16-bit image costs
/// two bytes per pixel in memory, not four.
#[derive(Debug, Clone, PartialEq)]
pub enum PixelData {
    /// 8-bit unsigned.
    U8(Vec<u8>),
    /// 16-bit unsigned.
    U16(Vec<u16>),
    /// 32-bit float (other integer and float types are converted to it when read).
    F32(Vec<f32>),
}

impl PixelData {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        match self {
            PixelData::U8(v) => v.len(),
            PixelData::U16(v) => v.len(),
            PixelData::F32(v) => v.len(),
        }
    }

    /// True when there are no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Short name of the pixel type, as ImageJ users know it ("8-bit", "16-bit", "32-bit").
    pub fn type_name(&self) -> &'static str {
        match self {
            PixelData::U8(_) => "8-bit",
            PixelData::U16(_) => "16-bit",
            PixelData::F32(_) => "32-bit",
        }
    }
}

/// One 2-D greyscale plane, row-major (`index = y * width + x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    width: usize,
    height: usize,
    data: PixelData,
}

impl Plane {
    /// A plane of `width × height` pixels; fails when the data length does not match or the
    /// plane is empty.
    pub fn new(width: usize, height: usize, data: PixelData) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::image(format!(
                "image is empty ({width} × {height} pixels): nothing to segment"
            )));
        }
        let expected = width
            .checked_mul(height)
            .ok_or_else(|| Error::image("image too large"))?;
        if data.len() != expected {
            return Err(Error::invalid(format!(
                "pixel array holds {} values but {width} × {height} = {expected} were expected",
                data.len()
            )));
        }
        Ok(Plane {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel values.
    pub fn data(&self) -> &PixelData {
        &self.data
    }

    /// Value of the pixel at linear index `i`, as f32.
    #[inline]
    pub fn value(&self, i: usize) -> f32 {
        match &self.data {
            PixelData::U8(v) => f32::from(v[i]),
            PixelData::U16(v) => f32::from(v[i]),
            PixelData::F32(v) => v[i],
        }
    }

    /// Value at column `x`, row `y`, as f32.
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.value(y * self.width + x)
    }

    /// A copy of rows `first..end` (clamped to the plane) as a plane of its own.
    pub fn rows(&self, first: usize, end: usize) -> Result<Plane> {
        let end = end.min(self.height);
        let range = first.min(end) * self.width..end * self.width;
        let data = match &self.data {
            PixelData::U8(v) => PixelData::U8(v[range].to_vec()),
            PixelData::U16(v) => PixelData::U16(v[range].to_vec()),
            PixelData::F32(v) => PixelData::F32(v[range].to_vec()),
        };
        Plane::new(self.width, end.saturating_sub(first), data)
    }

    /// Fails with a clear message when a float plane holds NaN or infinite values, which would
    /// poison normalisation and every probability.
    pub fn check_finite(&self) -> Result<()> {
        if let PixelData::F32(v) = &self.data {
            let bad = v.iter().filter(|x| !x.is_finite()).count();
            if bad > 0 {
                return Err(Error::image(format!(
                    "image contains {bad} NaN or infinite pixel value(s): replace them first \
                     (in ImageJ: Process › Math › Remove NaNs…)"
                )));
            }
        }
        Ok(())
    }

    /// Minimum and maximum pixel value.
    pub fn min_max(&self) -> (f32, f32) {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for i in 0..self.data.len() {
            let v = self.value(i);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo, hi)
    }
}

/// Whether two pixel sizes (µm) differ by more than 1 %, so that an image at one must be
/// resampled (or refused) for a model at the other.
pub fn pixel_sizes_differ(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() > 0.01
}

/// Micrometres per calibration unit as files and ImageJ name them ("µm", "micron", "nm",
/// "mm", "cm", "inch", …, any case), or `None` for a unit that is not a length brightseg knows
/// (then the image counts as uncalibrated). The one unit table of brightseg: file readers and
/// Fiji (through the Java API) both use it.
pub fn microns_per_unit(unit: &str) -> Option<f64> {
    match unit.trim().to_lowercase().as_str() {
        "micron" | "microns" | "um" | "µm" | "μm" | "\\u00b5m" | "micrometer" | "micrometre"
        | "micrometers" | "micrometres" => Some(1.0),
        "nm" | "nanometer" | "nanometre" | "nanometers" | "nanometres" => Some(1e-3),
        "mm" | "millimeter" | "millimetre" | "millimeters" | "millimetres" => Some(1e3),
        "cm" | "centimeter" | "centimetre" | "centimeters" | "centimetres" => Some(1e4),
        "m" | "meter" | "metre" | "meters" | "metres" => Some(1e6),
        "inch" | "inches" | "in" => Some(25_400.0),
        _ => None,
    }
}

/// An area in µm² as a number of pixels of `pixel_width_um × pixel_height_um`: the one
/// conversion of minimum object sizes, used by inference, target making and training alike.
pub fn area_in_pixels(area_um2: f64, pixel_width_um: f64, pixel_height_um: f64) -> f64 {
    area_um2 / (pixel_width_um * pixel_height_um)
}

/// Physical size of a pixel. `None` when the file does not say (uncalibrated).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Calibration {
    /// Pixel width in micrometres.
    pub pixel_width_um: Option<f64>,
    /// Pixel height in micrometres.
    pub pixel_height_um: Option<f64>,
}

impl Calibration {
    /// Square pixels of `size_um` micrometres.
    pub fn square(size_um: f64) -> Self {
        Calibration {
            pixel_width_um: Some(size_um),
            pixel_height_um: Some(size_um),
        }
    }

    /// Area of one pixel in µm², when both sizes are known.
    pub fn pixel_area_um2(&self) -> Option<f64> {
        Some(self.pixel_width_um? * self.pixel_height_um?)
    }
}

/// A multi-dimensional image: `channels × slices (z) × frames (t)` planes of equal size.
#[derive(Debug, Clone)]
pub struct Image {
    planes: Vec<Plane>,
    channels: usize,
    slices: usize,
    frames: usize,
    channel_names: Vec<Option<String>>,
    /// Physical pixel size.
    pub calibration: Calibration,
    /// True when the channels are the red, green and blue of a colour image.
    pub is_rgb: bool,
}

impl Image {
    /// Builds an image from planes ordered channel fastest, then z, then t (ImageJ's order).
    pub fn new(
        planes: Vec<Plane>,
        channels: usize,
        slices: usize,
        frames: usize,
        calibration: Calibration,
    ) -> Result<Self> {
        if planes.is_empty() || channels * slices * frames != planes.len() {
            return Err(Error::image(format!(
                "image has {} plane(s) but its header says {channels} channel(s) × {slices} \
                 slice(s) × {frames} frame(s)",
                planes.len()
            )));
        }
        let (w, h) = (planes[0].width, planes[0].height);
        if planes.iter().any(|p| p.width != w || p.height != h) {
            return Err(Error::image(
                "image planes differ in size: not a regular stack",
            ));
        }
        Ok(Image {
            planes,
            channels,
            slices,
            frames,
            channel_names: vec![None; channels],
            calibration,
            is_rgb: false,
        })
    }

    /// A single-plane image.
    pub fn single(plane: Plane, calibration: Calibration) -> Self {
        Image {
            planes: vec![plane],
            channels: 1,
            slices: 1,
            frames: 1,
            channel_names: vec![None],
            calibration,
            is_rgb: false,
        }
    }

    /// Names channels (e.g. from OME-XML); `names.len()` must equal the channel count.
    pub fn with_channel_names(mut self, names: Vec<Option<String>>) -> Self {
        if names.len() == self.channels {
            self.channel_names = names;
        }
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.planes[0].width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.planes[0].height
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Number of z-slices.
    pub fn slices(&self) -> usize {
        self.slices
    }

    /// Number of time points.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The channels as a user chooses them: "1 (H3342), 2 (oblique)", names where the file has
    /// them.
    pub fn channel_listing(&self) -> String {
        (0..self.channels)
            .map(|c| match self.channel_name(c) {
                Some(n) => format!("{} ({n})", c + 1),
                None => format!("{}", c + 1),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Name of channel `c` (0-based), when the file gives one.
    pub fn channel_name(&self, c: usize) -> Option<&str> {
        self.channel_names.get(c).and_then(|n| n.as_deref())
    }

    /// The plane of channel `c`, slice `z`, frame `t` (all 0-based).
    pub fn plane(&self, c: usize, z: usize, t: usize) -> &Plane {
        &self.planes[(t * self.slices + z) * self.channels + c]
    }

    /// Resolves a user's channel choice to a 0-based index: a 1-based number ("2", as ImageJ
    /// counts channels) or a channel name (case-insensitive). With no choice, a single-channel
    /// image gives 0 and a multi-channel one is an error listing the channels.
    pub fn resolve_channel(&self, choice: Option<&str>) -> Result<usize> {
        let listing = || self.channel_listing();
        let Some(choice) = choice.map(str::trim).filter(|s| !s.is_empty()) else {
            if self.channels == 1 {
                return Ok(0);
            }
            let what = if self.is_rgb {
                "an RGB colour image"
            } else {
                "a multi-channel image"
            };
            return Err(Error::invalid(format!(
                "the model needs one channel but this is {what} with {} channels: choose one with \
                 --channel (channels: {})",
                self.channels,
                listing()
            )));
        };
        if let Ok(n) = choice.parse::<usize>() {
            if n >= 1 && n <= self.channels {
                return Ok(n - 1);
            }
            return Err(Error::invalid(format!(
                "channel {n} does not exist: the image has {} channel(s), numbered from 1 ({})",
                self.channels,
                listing()
            )));
        }
        (0..self.channels)
            .find(|&c| {
                self.channel_name(c)
                    .is_some_and(|n| n.eq_ignore_ascii_case(choice))
            })
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no channel is named \"{choice}\": the image's channels are {}",
                    listing()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_read_in_any_case_and_spelling_and_unknown_ones_are_none() {
        for (unit, um) in [
            ("µm", 1.0),
            ("\u{3bc}m", 1.0),
            ("Micron", 1.0),
            ("\\u00B5m", 1.0),
            ("nm", 1e-3),
            ("millimetre", 1e3),
            ("MM", 1e3),
            ("cm", 1e4),
            ("inch", 25_400.0),
        ] {
            assert_eq!(microns_per_unit(unit), Some(um), "{unit}");
        }
        for unknown in ["pixel", "pixels", "", "sec", "furlong"] {
            assert_eq!(microns_per_unit(unknown), None, "{unknown}");
        }
    }

    fn plane(v: u8) -> Plane {
        Plane::new(2, 1, PixelData::U8(vec![v, v])).expect("valid plane")
    }

    #[test]
    fn rejects_empty_and_mismatched_planes() {
        assert!(Plane::new(0, 5, PixelData::U8(vec![])).is_err());
        assert!(Plane::new(2, 2, PixelData::U8(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn finds_nan() {
        let p = Plane::new(2, 1, PixelData::F32(vec![1.0, f32::NAN])).expect("plane");
        let e = p.check_finite().expect_err("NaN must be refused");
        assert!(e.to_string().contains("1 NaN"));
    }

    #[test]
    fn channel_by_number_and_name() {
        let img = Image::new(vec![plane(1), plane(2)], 2, 1, 1, Calibration::default())
            .expect("image")
            .with_channel_names(vec![Some("Brightfield".into()), Some("Hoechst".into())]);
        assert_eq!(img.resolve_channel(Some("2")).expect("by number"), 1);
        assert_eq!(img.resolve_channel(Some("hoechst")).expect("by name"), 1);
        assert!(img.resolve_channel(Some("3")).is_err());
        let e = img.resolve_channel(Some("DAPI")).expect_err("unknown name");
        assert!(e.to_string().contains("Brightfield"), "{e}");
        assert!(img.resolve_channel(None).is_err());
        assert_eq!(img.plane(1, 0, 0).at(0, 0), 2.0);
    }
}
