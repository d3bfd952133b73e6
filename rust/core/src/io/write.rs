//! Writing label, probability and camera planes as ImageJ TIFFs with their calibration, and
//! RGB pictures as PNG (whole, or a block of rows at a time), always atomically.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tiff::encoder::{Rational, TiffEncoder};
use tiff::tags::Tag;

use crate::error::{Error, Result};
use crate::image::Calibration;

use super::atomic::{temp_path_for, write_atomically};

/// Pixels of one plane to write: labels (16- or 32-bit) or a float image.
#[derive(Debug, Clone, Copy)]
pub enum OutputPlane<'a> {
    /// Object labels; written as 16-bit when every label fits, else 32-bit.
    Labels(&'a [u32]),
    /// Float values such as probabilities.
    Float(&'a [f32]),
    /// 16-bit grey values, such as a camera image.
    Gray16(&'a [u16]),
}

/// Writes `planes` (each `width × height`; z fastest, then time, over `frames` time points) as an
/// ImageJ TIFF with the given calibration, atomically: the file appears complete or not at all.
pub fn write_tiff(
    path: &Path,
    width: usize,
    height: usize,
    planes: &[OutputPlane<'_>],
    frames: usize,
    calibration: Calibration,
) -> Result<()> {
    if planes.is_empty() {
        return Err(Error::invalid("no planes to write"));
    }
    let labels16 = planes.iter().all(|p| match p {
        OutputPlane::Labels(l) => l.iter().all(|&v| v <= u32::from(u16::MAX)),
        OutputPlane::Float(_) | OutputPlane::Gray16(_) => true,
    });
    // One kind of plane per file (the label width is decided for all planes together).
    if planes
        .iter()
        .any(|p| std::mem::discriminant(p) != std::mem::discriminant(&planes[0]))
    {
        return Err(Error::invalid(
            "all planes of a TIFF must have the same type",
        ));
    }
    let (bits, sample_format): (u16, u16) = match planes[0] {
        OutputPlane::Labels(_) if labels16 => (16, 1),
        OutputPlane::Labels(_) => (32, 1),
        OutputPlane::Float(_) => (32, 3),
        OutputPlane::Gray16(_) => (16, 1),
    };
    let layout = TiffLayout {
        width,
        height,
        planes: planes.len(),
        frames,
        calibration,
        bits,
        sample_format,
    };
    write_imagej_tiff(path, &layout, |dir| {
        let mut first = None;
        for p in planes {
            let offset = match p {
                // Converted a block of rows at a time, so no second full plane is held.
                OutputPlane::Labels(l) if labels16 => {
                    let mut at = None;
                    for chunk in l.chunks(1 << 20) {
                        let v: Vec<u16> = chunk.iter().map(|&x| x as u16).collect();
                        at.get_or_insert(dir.write_data(v.as_slice()).map_err(tiff_write_error)?);
                    }
                    at.ok_or_else(|| std::io::Error::other("empty plane"))?
                }
                OutputPlane::Labels(l) => dir.write_data(*l).map_err(tiff_write_error)?,
                OutputPlane::Float(f) => dir.write_data(*f).map_err(tiff_write_error)?,
                OutputPlane::Gray16(g) => dir.write_data(*g).map_err(tiff_write_error)?,
            };
            first.get_or_insert(offset);
        }
        first.ok_or_else(|| std::io::Error::other("no planes"))
    })
}

/// Shape, type and calibration of an ImageJ TIFF.
pub(super) struct TiffLayout {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) planes: usize,
    pub(super) frames: usize,
    pub(super) calibration: Calibration,
    pub(super) bits: u16,
    pub(super) sample_format: u16,
}

type Directory<'a> =
    tiff::encoder::DirectoryEncoder<'a, BufWriter<File>, tiff::encoder::TiffKindStandard>;

/// Writes an ImageJ TIFF atomically; `write_pixels` writes every plane's pixels back to back
/// into the first directory and returns the offset of the first.
pub(super) fn write_imagej_tiff(
    path: &Path,
    layout: &TiffLayout,
    write_pixels: impl FnOnce(&mut Directory<'_>) -> std::io::Result<u64>,
) -> Result<()> {
    let TiffLayout {
        width,
        height,
        planes,
        frames,
        calibration,
        bits,
        sample_format,
    } = *layout;
    let frames = frames.max(1);
    if planes == 0 || !planes.is_multiple_of(frames) {
        return Err(Error::invalid(format!(
            "{planes} planes cannot be split into {frames} time points"
        )));
    }
    let slices = planes / frames;
    write_atomically(path, |file| {
        let mut enc = TiffEncoder::new(BufWriter::new(file)).map_err(tiff_write_error)?;
        let mut description = format!("ImageJ=1.53t\nimages={planes}\n");
        if slices > 1 {
            description.push_str(&format!("slices={slices}\n"));
        }
        if frames > 1 {
            description.push_str(&format!("frames={frames}\n"));
        }
        if slices > 1 && frames > 1 {
            description.push_str("hyperstack=true\n");
        }
        let resolution = calibration.pixel_width_um.zip(calibration.pixel_height_um);
        if resolution.is_some() {
            description.push_str("unit=micron\n");
        }
        let plane_bytes = (width * height * usize::from(bits / 8)) as u64;
        // ImageJ's layout: the first directory, then every plane's pixels back to back (ImageJ
        // reads `images=n` planes contiguously from the first offset), then the other
        // directories pointing into that block, so other readers see a normal multi-page TIFF.
        let mut first_offset = 0u64;
        let mut write_pixels = Some(write_pixels);
        for k in 0..planes {
            let mut dir = enc.image_directory().map_err(tiff_write_error)?;
            if let Some(write) = write_pixels.take() {
                first_offset = write(&mut dir)?;
                dir.write_tag(Tag::ImageDescription, description.as_str())
                    .map_err(tiff_write_error)?;
            }
            let offset = u32::try_from(first_offset + k as u64 * plane_bytes).map_err(|_| {
                std::io::Error::other("image too large for a classic TIFF (over 4 GB)")
            })?;
            let w = |dir: &mut Directory<'_>, tag, v: u32| {
                dir.write_tag(tag, v).map_err(tiff_write_error)
            };
            w(&mut dir, Tag::ImageWidth, width as u32)?;
            w(&mut dir, Tag::ImageLength, height as u32)?;
            dir.write_tag(Tag::BitsPerSample, bits)
                .map_err(tiff_write_error)?;
            dir.write_tag(Tag::Compression, 1u16)
                .map_err(tiff_write_error)?;
            dir.write_tag(Tag::PhotometricInterpretation, 1u16)
                .map_err(tiff_write_error)?;
            w(&mut dir, Tag::StripOffsets, offset)?;
            dir.write_tag(Tag::SamplesPerPixel, 1u16)
                .map_err(tiff_write_error)?;
            w(&mut dir, Tag::RowsPerStrip, height as u32)?;
            w(&mut dir, Tag::StripByteCounts, plane_bytes as u32)?;
            dir.write_tag(Tag::SampleFormat, sample_format)
                .map_err(tiff_write_error)?;
            if let Some((pw, ph)) = resolution {
                dir.write_tag(Tag::XResolution, to_rational(1.0 / pw))
                    .map_err(tiff_write_error)?;
                dir.write_tag(Tag::YResolution, to_rational(1.0 / ph))
                    .map_err(tiff_write_error)?;
                dir.write_tag(Tag::ResolutionUnit, 1u16)
                    .map_err(tiff_write_error)?;
            }
            dir.finish().map_err(tiff_write_error)?;
        }
        Ok(())
    })
}

pub(super) fn tiff_write_error(e: tiff::TiffError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The rational closest to `v` (pixels per µm) with the largest denominator that keeps the
/// numerator in range, so ImageJ's `1 / resolution` gives back the pixel size to ~1e-9.
fn to_rational(v: f64) -> Rational {
    let d = (f64::from(u32::MAX) / v.max(1.0))
        .floor()
        .clamp(1.0, f64::from(u32::MAX));
    Rational {
        n: (v * d).round() as u32,
        d: d as u32,
    }
}

/// Writes an 8-bit RGB picture (row-major, 3 bytes per pixel) as PNG, atomically.
pub fn write_png_rgb(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<()> {
    use image::ImageEncoder;
    write_atomically(path, |f| {
        image::codecs::png::PngEncoder::new(BufWriter::new(f))
            .write_image(
                rgb,
                width as u32,
                height as u32,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)
    })
}

/// An RGB PNG written a block of rows at a time (for overlays of planes processed in bands),
/// appearing at its path only when [`PngRows::finish`] succeeds.
pub struct PngRows {
    stream: png::StreamWriter<'static, File>,
    file: File,
    tmp: PathBuf,
    path: PathBuf,
}

impl PngRows {
    /// Starts `path`, `width × height` RGB pixels.
    pub fn create(path: &Path, width: usize, height: usize) -> Result<Self> {
        let tmp = temp_path_for(path);
        let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let sync = file.try_clone().map_err(|e| Error::io("open", &tmp, e))?;
        let png_error = |e: png::EncodingError| Error::io("write", &tmp, std::io::Error::other(e));
        let (w, h) = (
            u32::try_from(width).map_err(|_| Error::invalid("image too wide for a PNG"))?,
            u32::try_from(height).map_err(|_| Error::invalid("image too tall for a PNG"))?,
        );
        let mut encoder = png::Encoder::new(file, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let stream = encoder
            .write_header()
            .and_then(|w| w.into_stream_writer_with_size(1 << 20))
            .map_err(png_error)?;
        Ok(PngRows {
            stream,
            file: sync,
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Appends whole rows of RGB bytes.
    pub fn write_rows(&mut self, rgb: &[u8]) -> Result<()> {
        self.stream
            .write_all(rgb)
            .map_err(|e| Error::io("write", &self.tmp, e))
    }

    /// Ends the file and moves it into place.
    pub fn finish(self) -> Result<()> {
        let tmp = self.tmp;
        self.stream
            .finish()
            .map_err(|e| Error::io("write", &tmp, std::io::Error::other(e)))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("move into place", &self.path, e))
    }
}
