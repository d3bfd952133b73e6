//! Reading images (TIFF incl. ImageJ hyperstacks and OME-TIFF, PNG, JPEG) and writing label and
//! probability images as TIFF files that ImageJ opens with the right calibration.
//!
//! Decoding is done by the `tiff` and `image` crates; this module only interprets metadata
//! (ImageJ description, OME-XML, resolution tags) and lays planes out as an [`Image`].

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{Rational, TiffEncoder};
use tiff::tags::Tag;
use tiff::ColorType;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::image::{Calibration, Image, PixelData, Plane};

/// Largest decoded plane we accept, so that a lying header cannot make us allocate without bound.
pub const MAX_PLANE_BYTES: usize = 8 << 30;

/// Reads an image file. TIFF (`.tif`, `.tiff`, OME-TIFF) keeps its calibration; PNG and JPEG
/// are uncalibrated. RGB images become three channels (or one, when all three are equal).
pub fn read_image(path: &Path) -> Result<Image> {
    read_image_within(path, MemoryBudget::automatic())
}

/// Reads an image file like [`read_image`], refusing files whose headers say they would decode
/// to more than `budget` before the pixels are allocated.
pub fn read_image_within(path: &Path, budget: MemoryBudget) -> Result<Image> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    read_image_from(BufReader::new(file), path, budget)
}

/// Decodes an image held in memory (the bytes of a TIFF, PNG or JPEG file); `name` is only used
/// in messages.
pub fn read_image_from_bytes(bytes: &[u8], name: &Path, budget: MemoryBudget) -> Result<Image> {
    read_image_from(std::io::Cursor::new(bytes), name, budget)
}

fn read_image_from<R: BufRead + Seek>(
    mut reader: R,
    path: &Path,
    budget: MemoryBudget,
) -> Result<Image> {
    let mut head = [0u8; 4];
    let n = reader
        .read(&mut head)
        .and_then(|n| reader.rewind().map(|()| n))
        .map_err(|e| Error::io("read", path, e))?;
    let head = &head[..n];
    let is_tiff = head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+");
    if is_tiff {
        read_tiff(reader, path, budget)
    } else {
        read_other(reader, path, budget)
    }
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::image(format!(
        "cannot decode {}: {what} (is it a complete, uncorrupted image file?)",
        path.display()
    ))
}

/// What to do about a file too large for the memory budget.
const SPLIT_ADVICE: &str = "crop it, split its planes into several files, or bin it";

fn read_other<R: BufRead + Seek>(reader: R, path: &Path, budget: MemoryBudget) -> Result<Image> {
    let reader = image::ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| Error::io("read", path, e))?;
    if reader.format().is_none() {
        return Err(Error::image(format!(
            "{} is not an image brightseg can read: use TIFF (8/16/32-bit, ImageJ or OME-TIFF), \
             PNG or JPEG",
            path.display()
        )));
    }
    use image::ImageDecoder;
    let mut decoder = reader.into_decoder().map_err(|e| corrupt(path, e))?;
    let (dw, dh) = decoder.dimensions();
    // The decoded buffer, and the channels split out of it.
    budget.check(
        decoder.total_bytes().saturating_mul(2),
        &format!("reading {} ({dw} × {dh} pixels)", path.display()),
        SPLIT_ADVICE,
    )?;
    let mut limits = image::Limits::no_limits();
    limits.max_alloc = Some(budget.limit());
    decoder.set_limits(limits).map_err(|e| corrupt(path, e))?;
    let dynimg = image::DynamicImage::from_decoder(decoder).map_err(|e| corrupt(path, e))?;
    let (w, h) = (dynimg.width() as usize, dynimg.height() as usize);
    use image::DynamicImage as D;
    let planes = match dynimg {
        D::ImageLuma8(b) => vec![PixelData::U8(b.into_raw())],
        D::ImageLuma16(b) => vec![PixelData::U16(b.into_raw())],
        D::ImageLumaA8(_) | D::ImageLumaA16(_) => {
            vec![PixelData::U16(dynimg.to_luma16().into_raw())]
        }
        D::ImageRgb16(_) | D::ImageRgba16(_) => {
            split_samples(PixelData::U16(dynimg.to_rgb16().into_raw()), 3, false)
        }
        D::ImageRgb32F(_) | D::ImageRgba32F(_) => {
            split_samples(PixelData::F32(dynimg.to_rgb32f().into_raw()), 3, false)
        }
        other => split_samples(PixelData::U8(other.to_rgb8().into_raw()), 3, false),
    };
    assemble_colour(planes, w, h, Calibration::default())
}

/// One channel when all given planes are equal (a grey image stored as colour), else RGB.
fn assemble_colour(
    mut planes: Vec<PixelData>,
    w: usize,
    h: usize,
    calibration: Calibration,
) -> Result<Image> {
    if planes.len() == 3 && planes[0] == planes[1] && planes[1] == planes[2] {
        planes.truncate(1);
    }
    if planes.len() == 1 {
        let data = planes.pop().ok_or_else(|| Error::image("no pixel data"))?;
        return Ok(Image::single(Plane::new(w, h, data)?, calibration));
    }
    let n = planes.len();
    let planes = planes
        .into_iter()
        .map(|d| Plane::new(w, h, d))
        .collect::<Result<Vec<_>>>()?;
    let mut img = Image::new(planes, n, 1, 1, calibration)?.with_channel_names(vec![
        Some("red".into()),
        Some("green".into()),
        Some("blue".into()),
    ]);
    img.is_rgb = true;
    Ok(img)
}

/// Dimensions and calibration from an ImageJ `ImageDescription` ("ImageJ=1.53t\nchannels=2…").
#[derive(Debug, Default, PartialEq)]
struct ImageJMeta {
    channels: Option<usize>,
    slices: Option<usize>,
    frames: Option<usize>,
    unit_to_um: Option<f64>,
}

fn parse_imagej_description(desc: &str) -> Option<ImageJMeta> {
    if !desc.starts_with("ImageJ=") {
        return None;
    }
    let mut meta = ImageJMeta::default();
    for line in desc.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "channels" => meta.channels = value.parse().ok(),
            "slices" => meta.slices = value.parse().ok(),
            "frames" => meta.frames = value.parse().ok(),
            "unit" => meta.unit_to_um = unit_to_um(value),
            _ => {}
        }
    }
    Some(meta)
}

/// Micrometres per unit for the length units ImageJ and OME write.
fn unit_to_um(unit: &str) -> Option<f64> {
    crate::image::microns_per_unit(unit)
}

/// Dimensions, order and calibration from OME-XML.
#[derive(Debug, Default)]
struct OmeMeta {
    size_c: usize,
    size_z: usize,
    size_t: usize,
    dimension_order: String,
    pixel_width_um: Option<f64>,
    pixel_height_um: Option<f64>,
    channel_names: Vec<Option<String>>,
    /// Names (or IDs) of the images (series) the file holds.
    series: Vec<String>,
}

fn parse_ome_xml(xml: &str) -> Option<OmeMeta> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let pixels = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Pixels")?;
    let size = |name: &str| pixels.attribute(name).and_then(|v| v.parse::<usize>().ok());
    let physical = |axis: &str| {
        let value = pixels
            .attribute(format!("PhysicalSize{axis}").as_str())?
            .parse::<f64>()
            .ok()?;
        let unit = pixels
            .attribute(format!("PhysicalSize{axis}Unit").as_str())
            .unwrap_or("µm");
        Some(value * unit_to_um(unit)?).filter(|v| *v > 0.0 && v.is_finite())
    };
    let channel_names = pixels
        .children()
        .filter(|n| n.tag_name().name() == "Channel")
        .map(|n| n.attribute("Name").map(str::to_owned))
        .collect();
    let series = doc
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "Image" && n.children().any(|c| c.tag_name().name() == "Pixels")
        })
        .map(|n| {
            n.attribute("Name")
                .or_else(|| n.attribute("ID"))
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    Some(OmeMeta {
        series,
        size_c: size("SizeC").unwrap_or(1).max(1),
        size_z: size("SizeZ").unwrap_or(1).max(1),
        size_t: size("SizeT").unwrap_or(1).max(1),
        dimension_order: pixels
            .attribute("DimensionOrder")
            .unwrap_or("XYCZT")
            .to_owned(),
        pixel_width_um: physical("X"),
        pixel_height_um: physical("Y"),
        channel_names,
    })
}

/// Maps IFD index `i` in OME `order` (e.g. "XYZCT": z fastest) to (c, z, t).
fn ome_plane_index(order: &str, i: usize, c: usize, z: usize, t: usize) -> (usize, usize, usize) {
    let mut rest = i;
    let (mut ci, mut zi, mut ti) = (0, 0, 0);
    for axis in order.chars().skip(2) {
        let (n, slot) = match axis {
            'C' => (c, &mut ci),
            'Z' => (z, &mut zi),
            _ => (t, &mut ti),
        };
        *slot = rest % n;
        rest /= n;
    }
    (ci, zi, ti)
}

/// Bytes a TIFF page of `colour` takes once decoded and stored as [`PixelData`] (8- and 16-bit
/// samples as they are, everything else as 32-bit floats, the wider of decoded and stored).
fn decoded_page_bytes(w: usize, h: usize, colour: ColorType) -> u64 {
    let (samples, bits) = match colour {
        ColorType::Gray(b) => (1, b),
        ColorType::RGB(b) => (3, b),
        other => match channel_samples(other) {
            Some(n) => (n as u64, other.bit_depth()),
            None => (4, 32),
        },
    };
    let sample_bytes = match bits {
        8 => 1,
        16 => 2,
        b => u64::from(b).div_ceil(8).max(4),
    };
    (w as u64)
        .saturating_mul(h as u64)
        .saturating_mul(samples * sample_bytes)
}

/// Most samples per pixel read as channels.
const MAX_SAMPLES: u16 = 8;

/// Samples per pixel of a colour type that brightseg reads as that many channels: grey with
/// extra samples and "RGBA"/"CMYK" as `tifffile` and instruments write multi-channel planes
/// (brightfield, Hoechst, PI, … in one page), 2 to [`MAX_SAMPLES`] of them. RGB (3 samples)
/// stays a colour image; grey is one channel.
fn channel_samples(colour: ColorType) -> Option<usize> {
    let n = match colour {
        ColorType::GrayA(_) => 2,
        ColorType::RGBA(_) | ColorType::CMYK(_) => 4,
        ColorType::CMYKA(_) => 5,
        ColorType::Multiband { num_samples, .. } => usize::from(num_samples),
        _ => return None,
    };
    (2..=usize::from(MAX_SAMPLES)).contains(&n).then_some(n)
}

/// The `samples` planes of the current page of `dec` (`pixels` each), interleaved or planar
/// (`PlanarConfiguration` 2, as tifffile writes a (C, Y, X) array of 3 or more channels:
/// `read_image` would give the first plane only).
fn read_samples<R: std::io::Read + std::io::Seek>(
    dec: &mut Decoder<R>,
    path: &Path,
    pixels: usize,
    samples: usize,
) -> Result<Vec<PixelData>> {
    let planar = dec
        .get_tag_u32(Tag::PlanarConfiguration)
        .is_ok_and(|p| p == 2);
    let mut buffer = DecodingResult::U8(Vec::new());
    dec.read_image_to_buffer(&mut buffer)
        .map_err(|e| corrupt(path, e))?;
    let data = decoded_to_pixels(buffer);
    if data.len() != pixels * samples {
        return Err(corrupt(path, "a page holds fewer samples than it says"));
    }
    Ok(split_samples(data, samples, planar))
}

/// The `samples` channels of a decoded page of several samples per pixel (RGB, or channels):
/// interleaved (`planar` false: s0 s1 … per pixel) or one plane after the other (`planar`
/// true).
fn split_samples(data: PixelData, samples: usize, planar: bool) -> Vec<PixelData> {
    fn split<T: Copy>(v: &[T], samples: usize, planar: bool) -> Vec<Vec<T>> {
        let n = v.len() / samples;
        (0..samples)
            .map(|c| {
                if planar {
                    v[c * n..(c + 1) * n].to_vec()
                } else {
                    v.iter().skip(c).step_by(samples).copied().collect()
                }
            })
            .collect()
    }
    match data {
        PixelData::U8(v) => split(&v, samples, planar)
            .into_iter()
            .map(PixelData::U8)
            .collect(),
        PixelData::U16(v) => split(&v, samples, planar)
            .into_iter()
            .map(PixelData::U16)
            .collect(),
        PixelData::F32(v) => split(&v, samples, planar)
            .into_iter()
            .map(PixelData::F32)
            .collect(),
    }
}

fn decoded_to_pixels(result: DecodingResult) -> PixelData {
    fn f<T: Copy>(v: Vec<T>, conv: impl Fn(T) -> f32) -> PixelData {
        PixelData::F32(v.into_iter().map(conv).collect())
    }
    match result {
        DecodingResult::U8(v) => PixelData::U8(v),
        DecodingResult::U16(v) => PixelData::U16(v),
        DecodingResult::F32(v) => PixelData::F32(v),
        DecodingResult::U32(v) => f(v, |x| x as f32),
        DecodingResult::U64(v) => f(v, |x| x as f32),
        DecodingResult::I8(v) => f(v, f32::from),
        DecodingResult::I16(v) => f(v, f32::from),
        DecodingResult::I32(v) => f(v, |x| x as f32),
        DecodingResult::I64(v) => f(v, |x| x as f32),
        DecodingResult::F64(v) => f(v, |x| x as f32),
        DecodingResult::F16(v) => f(v, f32::from),
    }
}

fn read_tiff<R: BufRead + Seek>(reader: R, path: &Path, budget: MemoryBudget) -> Result<Image> {
    let plane_limit =
        usize::try_from(budget.limit()).map_or(MAX_PLANE_BYTES, |b| b.min(MAX_PLANE_BYTES));
    let mut limits = Limits::default();
    limits.decoding_buffer_size = plane_limit;
    limits.intermediate_buffer_size = plane_limit;
    let mut dec = Decoder::new(reader)
        .map_err(|e| corrupt(path, e))?
        .with_limits(limits);

    let description = dec
        .get_tag(Tag::ImageDescription)
        .ok()
        .and_then(|v| v.into_string().ok());
    let imagej = description.as_deref().and_then(parse_imagej_description);
    let ome = description
        .as_deref()
        .filter(|d| d.contains("<OME"))
        .and_then(parse_ome_xml);
    if let Some(series) = ome.as_ref().map(|m| &m.series).filter(|s| s.len() > 1) {
        let shown: Vec<&str> = series.iter().take(4).map(String::as_str).collect();
        return Err(Error::image(format!(
            "{} is an OME-TIFF of {} series ({}{}), such as a plate or several fields converted \
             by Bio-Formats; brightseg reads one image per file and would mix the series up, so \
             split it first: bfconvert -series 0 IN OUT (one file per series), or open each \
             series in Fiji with the Bio-Formats Importer",
            path.display(),
            series.len(),
            shown.join(", "),
            if series.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        )));
    }
    let calibration = tiff_calibration(&mut dec, imagej.as_ref(), ome.as_ref());

    let (w, h) = dec.dimensions().map_err(|e| corrupt(path, e))?;
    let (w, h) = (w as usize, h as usize);
    if w == 0 || h == 0 {
        return Err(Error::image(format!(
            "{} is empty (0 pixels)",
            path.display()
        )));
    }

    // Decode every page of the first image's size (ImageJ and OME write one plane per page).
    let mut pages: Vec<PixelData> = Vec::new();
    let mut rgb_pages = 0usize;
    // Pages of several samples each read as channels, and how many samples they have.
    let mut sample_pages = 0usize;
    let mut samples_per_page = 1usize;
    let mut decoded_bytes = 0u64;
    loop {
        let (pw, ph) = dec.dimensions().map_err(|e| corrupt(path, e))?;
        if (pw as usize, ph as usize) == (w, h) {
            let colour = dec.colortype().map_err(|e| corrupt(path, e))?;
            // Checked from the header, before the page's pixels are allocated.
            decoded_bytes = decoded_bytes.saturating_add(decoded_page_bytes(w, h, colour));
            budget.check(
                decoded_bytes,
                &format!(
                    "reading {} ({w} × {h} pixels, {} plane(s) so far)",
                    path.display(),
                    pages.len() + 1
                ),
                SPLIT_ADVICE,
            )?;
            match colour {
                ColorType::Gray(_) => {
                    let data = dec.read_image().map_err(|e| corrupt(path, e))?;
                    pages.push(decoded_to_pixels(data));
                }
                ColorType::RGB(_) => {
                    rgb_pages += 1;
                    pages.extend(read_samples(&mut dec, path, w * h, 3)?);
                }
                other => {
                    let Some(samples) = channel_samples(other) else {
                        return Err(Error::image(format!(
                            "{} has colour type {other:?}, which brightseg does not read: save \
                             it as greyscale, RGB, or 2 to {MAX_SAMPLES} samples (channels) per \
                             pixel",
                            path.display()
                        )));
                    };
                    if sample_pages > 0 && samples != samples_per_page {
                        return Err(corrupt(path, "pages with different numbers of samples"));
                    }
                    (sample_pages, samples_per_page) = (sample_pages + 1, samples);
                    pages.extend(read_samples(&mut dec, path, w * h, samples)?);
                }
            }
        }
        if !dec.more_images() {
            break;
        }
        dec.next_image().map_err(|e| corrupt(path, e))?;
    }
    let n = pages.len();
    if rgb_pages == 1 && n == 3 {
        return assemble_colour(pages, w, h, calibration);
    }
    if sample_pages > 0 && (rgb_pages > 0 || sample_pages * samples_per_page != n) {
        return Err(Error::image(format!(
            "{} mixes pages of {samples_per_page} samples with other pages: save each channel \
             as a page of its own (or use OME-TIFF)",
            path.display()
        )));
    }
    if sample_pages > 0 && imagej.is_none() && ome.is_none() {
        // Pages of several samples each: the samples are channels, the pages slices (as the
        // pages of a plain grey file are).
        let planes = pages
            .into_iter()
            .map(|d| Plane::new(w, h, d))
            .collect::<Result<Vec<_>>>()?;
        return Image::new(planes, samples_per_page, sample_pages, 1, calibration);
    }
    if rgb_pages > 0 {
        return Err(Error::image(format!(
            "{} is an RGB stack: split the channels first (Image › Color › Split Channels)",
            path.display()
        )));
    }

    if let Some(ome) = ome.filter(|o| o.size_c * o.size_z * o.size_t == n) {
        let (c, z, t) = (ome.size_c, ome.size_z, ome.size_t);
        let mut slots: Vec<Option<PixelData>> = (0..n).map(|_| None).collect();
        for (i, data) in pages.into_iter().enumerate() {
            let (ci, zi, ti) = ome_plane_index(&ome.dimension_order, i, c, z, t);
            slots[(ti * z + zi) * c + ci] = Some(data);
        }
        let planes = slots
            .into_iter()
            .map(|d| Plane::new(w, h, d.ok_or_else(|| corrupt(path, "OME plane missing"))?))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Image::new(planes, c, z, t, calibration)?.with_channel_names(ome.channel_names));
    }

    let planes = pages
        .into_iter()
        .map(|d| Plane::new(w, h, d))
        .collect::<Result<Vec<_>>>()?;
    let (c, z, t) = match &imagej {
        Some(m) => {
            let c = m.channels.unwrap_or(1).max(1);
            let z = m.slices.unwrap_or(1).max(1);
            let t = m.frames.unwrap_or(1).max(1);
            if c * z * t == n {
                (c, z, t)
            } else if c == 1 && t == 1 {
                (1, n, 1)
            } else {
                return Err(corrupt(
                    path,
                    format!("ImageJ header says {c}×{z}×{t} planes but the file holds {n}"),
                ));
            }
        }
        None => (1, n, 1),
    };
    Image::new(planes, c, z, t, calibration)
}

fn tiff_calibration<R: std::io::Read + std::io::Seek>(
    dec: &mut Decoder<R>,
    imagej: Option<&ImageJMeta>,
    ome: Option<&OmeMeta>,
) -> Calibration {
    if let Some(o) = ome {
        if o.pixel_width_um.is_some() {
            return Calibration {
                pixel_width_um: o.pixel_width_um,
                pixel_height_um: o.pixel_height_um.or(o.pixel_width_um),
            };
        }
    }
    let res = |dec: &mut Decoder<R>, tag| {
        use tiff::decoder::ifd::Value;
        let v = match dec.get_tag(tag).ok()? {
            Value::Rational(n, d) => f64::from(n) / f64::from(d),
            Value::Float(f) => f64::from(f),
            Value::Double(f) => f,
            _ => return None,
        };
        Some(v).filter(|r| *r > 0.0 && r.is_finite())
    };
    let Some(xres) = res(dec, Tag::XResolution) else {
        return Calibration::default();
    };
    let yres = res(dec, Tag::YResolution).unwrap_or(xres);
    let unit_um = match imagej.and_then(|m| m.unit_to_um) {
        Some(u) => Some(u),
        None if imagej.is_some() => None,
        None => match dec
            .get_tag(Tag::ResolutionUnit)
            .ok()
            .and_then(|v| v.into_u16().ok())
        {
            // Centimetre: scanners and microscopes; inch only when the density is microscopic
            // (72 or 300 dpi are screen/print defaults, not a calibration).
            Some(3) => Some(1e4),
            Some(2) if xres > 1000.0 => Some(25_400.0),
            _ => None,
        },
    };
    match unit_um {
        Some(u) => Calibration {
            pixel_width_um: Some(u / xres),
            pixel_height_um: Some(u / yres),
        },
        None => Calibration::default(),
    }
}

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

/// What a raw plane file written by [`RawPlanes`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// Object labels (`u32`); written as 16-bit when `max_label` fits.
    Labels {
        /// The largest label in the file.
        max_label: u32,
    },
    /// Float values such as probabilities (`f32`).
    Float,
}

/// Planes too large to keep in memory, appended row block by row block to an anonymous
/// temporary file (`u32` labels or `f32` values), then written as a TIFF by [`RawPlanes::write_tiff`].
pub struct RawPlanes {
    file: BufWriter<File>,
    values: u64,
    dir: PathBuf,
}

impl RawPlanes {
    /// An empty raw file in `dir` (on the output's file system; removed when dropped).
    pub fn new_in(dir: &Path) -> Result<Self> {
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary pixel file in", dir, e))?;
        Ok(RawPlanes {
            file: BufWriter::with_capacity(1 << 20, file),
            values: 0,
            dir: dir.to_path_buf(),
        })
    }

    /// Appends labels.
    pub fn push_labels(&mut self, values: &[u32]) -> Result<()> {
        self.push(values, u32::to_ne_bytes)
    }

    /// Appends float values.
    pub fn push_floats(&mut self, values: &[f32]) -> Result<()> {
        self.push(values, f32::to_ne_bytes)
    }

    fn push<T: Copy>(&mut self, values: &[T], bytes: fn(T) -> [u8; 4]) -> Result<()> {
        self.values += values.len() as u64;
        for &v in values {
            self.file
                .write_all(&bytes(v))
                .map_err(|e| raw_error(&self.dir, e))?;
        }
        Ok(())
    }

    /// Writes everything appended (planes of `width × height`, z fastest, then time) as an
    /// ImageJ TIFF at `path`, atomically, reading the raw file a block at a time.
    pub fn write_tiff(
        self,
        path: &Path,
        width: usize,
        height: usize,
        frames: usize,
        calibration: Calibration,
        kind: RawKind,
    ) -> Result<()> {
        let plane = (width * height) as u64;
        if plane == 0 || self.values == 0 || !self.values.is_multiple_of(plane) {
            return Err(Error::invalid(format!(
                "{} values are not whole {width} × {height} planes",
                self.values
            )));
        }
        let dir = self.dir;
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| raw_error(&dir, e.into_error()))?;
        file.rewind().map_err(|e| raw_error(&dir, e))?;
        let (bits, sample_format) = match kind {
            RawKind::Labels { max_label } if max_label <= u32::from(u16::MAX) => (16, 1),
            RawKind::Labels { .. } => (32, 1),
            RawKind::Float => (32, 3),
        };
        let layout = TiffLayout {
            width,
            height,
            planes: (self.values / plane) as usize,
            frames,
            calibration,
            bits,
            sample_format,
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let total = self.values;
        write_imagej_tiff(path, &layout, |dir| {
            let mut first = None;
            let mut left = total;
            let mut bytes = vec![0u8; 4 << 20];
            while left > 0 {
                let n = left.min(1 << 20) as usize;
                std::io::Read::read_exact(&mut reader, &mut bytes[..4 * n])?;
                let words = bytes[..4 * n]
                    .chunks_exact(4)
                    .map(|b| [b[0], b[1], b[2], b[3]]);
                let at = match (bits, sample_format) {
                    (16, _) => {
                        let v: Vec<u16> = words.map(|b| u32::from_ne_bytes(b) as u16).collect();
                        dir.write_data(v.as_slice())
                    }
                    (_, 1) => {
                        let v: Vec<u32> = words.map(u32::from_ne_bytes).collect();
                        dir.write_data(v.as_slice())
                    }
                    _ => {
                        let v: Vec<f32> = words.map(f32::from_ne_bytes).collect();
                        dir.write_data(v.as_slice())
                    }
                }
                .map_err(tiff_write_error)?;
                first.get_or_insert(at);
                left -= n as u64;
            }
            first.ok_or_else(|| std::io::Error::other("no planes"))
        })
    }
}

fn raw_error(dir: &Path, e: std::io::Error) -> Error {
    Error::io("use the temporary pixel file in", dir, e)
}

/// Shape, type and calibration of an ImageJ TIFF.
struct TiffLayout {
    width: usize,
    height: usize,
    planes: usize,
    frames: usize,
    calibration: Calibration,
    bits: u16,
    sample_format: u16,
}

type Directory<'a> =
    tiff::encoder::DirectoryEncoder<'a, BufWriter<File>, tiff::encoder::TiffKindStandard>;

/// Writes an ImageJ TIFF atomically; `write_pixels` writes every plane's pixels back to back
/// into the first directory and returns the offset of the first.
fn write_imagej_tiff(
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

fn tiff_write_error(e: tiff::TiffError) -> std::io::Error {
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

/// Writes a file through `write` into a temporary file next to `path`, then renames it into
/// place, so a crash or error never leaves a half-written `path`.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path_for(path);
    let result = File::create(&tmp).and_then(|f| {
        let sync = f.try_clone();
        write(f)?;
        sync?.sync_all()
    });
    let result = result.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomically`]).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |mut f| f.write_all(bytes))
}

/// The temporary file [`write_atomically`] writes before renaming it to `path`:
/// `.NAME.PID.partial` beside it, so writers in different processes never collide and a
/// leftover can be traced to the process that left it.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Removes the half-written temporary files that killed processes left in `dir` (see
/// [`temp_path_for`]); files of processes still running are left alone. Where process ids
/// cannot be checked (no `/proc`), only this process's own leftovers are removed. Returns how
/// many were removed.
pub fn remove_stale_partials(dir: &Path) -> Result<usize> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let own = std::process::id();
    let can_check = Path::new("/proc/self").exists();
    let mut removed = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = partial_owner(&name) else {
            continue;
        };
        let stale = pid == own || (can_check && !Path::new("/proc").join(pid.to_string()).exists());
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            log::info!("removed {name}, left half-written by a process that was stopped");
            removed += 1;
        }
    }
    Ok(removed)
}

/// The process id in a `.NAME.PID.partial` file name.
fn partial_owner(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (_, pid) = rest.rsplit_once('.')?;
    pid.parse().ok()
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

/// True for file names brightseg can read (by extension), used when expanding folders.
pub fn is_supported_image_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(
        ext.as_deref(),
        Some("tif" | "tiff" | "png" | "jpg" | "jpeg")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn imagej_description() {
        let m = parse_imagej_description(
            "ImageJ=1.53t\nimages=20\nchannels=2\nframes=10\nhyperstack=true\nunit=micron\n",
        )
        .expect("ImageJ header");
        assert_eq!(m.channels, Some(2));
        assert_eq!(m.frames, Some(10));
        assert_eq!(m.slices, None);
        assert_eq!(m.unit_to_um, Some(1.0));
        assert!(parse_imagej_description("something else").is_none());
    }

    #[test]
    fn ome_order_and_calibration() {
        let xml = r#"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
          <Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16"
          SizeX="4" SizeY="3" SizeC="2" SizeZ="3" SizeT="1" PhysicalSizeX="650" PhysicalSizeXUnit="nm"
          PhysicalSizeY="0.65"><Channel ID="Channel:0:0" Name="BF"/><Channel ID="Channel:0:1" Name="DAPI"/>
          </Pixels></Image></OME>"#;
        let m = parse_ome_xml(xml).expect("OME");
        assert_eq!((m.size_c, m.size_z, m.size_t), (2, 3, 1));
        assert!((m.pixel_width_um.expect("x") - 0.65).abs() < 1e-12);
        assert_eq!(m.channel_names[1].as_deref(), Some("DAPI"));
        // XYZCT: z fastest. IFD 4 = z 1 of channel 1.
        assert_eq!(ome_plane_index("XYZCT", 4, 2, 3, 1), (1, 1, 0));
        assert_eq!(ome_plane_index("XYCZT", 4, 2, 3, 1), (0, 2, 0));
    }

    #[test]
    fn write_then_read_keeps_values_and_calibration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let labels: Vec<u32> = (0..12).collect();
        let path = dir.path().join("labels.tif");
        write_tiff(
            &path,
            4,
            3,
            &[OutputPlane::Labels(&labels)],
            1,
            Calibration::square(0.619),
        )
        .expect("write");
        let img = read_image(&path).expect("read back");
        assert_eq!(
            img.plane(0, 0, 0).data(),
            &PixelData::U16((0..12).collect())
        );
        let pw = img.calibration.pixel_width_um.expect("calibrated");
        assert!((pw - 0.619).abs() < 1e-9, "{pw}");

        let big: Vec<u32> = vec![70_000; 12];
        let big2: Vec<u32> = (0..12).map(|i| 100_000 + i).collect();
        let series = [OutputPlane::Labels(&big), OutputPlane::Labels(&big2)];
        write_tiff(&path, 4, 3, &series, 2, Calibration::default()).expect("write 32-bit");
        let img = read_image(&path).expect("read back");
        assert_eq!((img.slices(), img.frames()), (1, 2));
        assert_eq!(img.plane(0, 0, 0).at(3, 2), 70_000.0);
        assert_eq!(img.plane(0, 0, 1).at(3, 2), 100_011.0);
        assert_eq!(img.calibration, Calibration::default());
        let probs: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
        write_tiff(
            &path,
            4,
            3,
            &[OutputPlane::Float(&probs)],
            1,
            Calibration::default(),
        )
        .expect("write float");
        assert_eq!(
            read_image(&path).expect("read").plane(0, 0, 0).at(3, 2),
            11.0 / 12.0
        );
        let mixed = [OutputPlane::Float(&probs), OutputPlane::Labels(&big)];
        assert!(write_tiff(&path, 4, 3, &mixed, 1, Calibration::default()).is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn raw_planes_write_the_same_file_as_planes_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, h) = (37, 11);
        let cal = Calibration::square(0.5);
        let small: Vec<u32> = (0..2 * w * h).map(|i| (i % 7) as u32).collect();
        let large: Vec<u32> = (0..w * h).map(|i| (i * 997) as u32).collect();
        let floats: Vec<f32> = (0..2 * w * h).map(|i| i as f32 / 3.0).collect();
        let cases: [(&str, RawKind, Vec<OutputPlane<'_>>); 3] = [
            (
                "small",
                RawKind::Labels { max_label: 6 },
                small.chunks(w * h).map(OutputPlane::Labels).collect(),
            ),
            (
                "large",
                RawKind::Labels {
                    max_label: (w * h * 997 - 997) as u32,
                },
                vec![OutputPlane::Labels(&large)],
            ),
            (
                "floats",
                RawKind::Float,
                floats.chunks(w * h).map(OutputPlane::Float).collect(),
            ),
        ];
        for (name, kind, planes) in cases {
            let memory = dir.path().join(format!("{name}-memory.tif"));
            write_tiff(&memory, w, h, &planes, 1, cal).expect("write");
            let mut raw = RawPlanes::new_in(dir.path()).expect("raw");
            for p in &planes {
                // In uneven row blocks, as bands arrive.
                match p {
                    OutputPlane::Labels(l) => {
                        raw.push_labels(&l[..5 * w]).expect("push");
                        raw.push_labels(&l[5 * w..]).expect("push");
                    }
                    OutputPlane::Float(f) => raw.push_floats(f).expect("push"),
                    OutputPlane::Gray16(_) => unreachable!(),
                }
            }
            let streamed = dir.path().join(format!("{name}-raw.tif"));
            raw.write_tiff(&streamed, w, h, 1, cal, kind)
                .expect("write raw");
            let (a, b) = (
                std::fs::read(&memory).expect("read"),
                std::fs::read(&streamed).expect("read"),
            );
            assert!(a == b, "{name}: the two files differ");
        }
        let mut short = RawPlanes::new_in(dir.path()).expect("raw");
        short.push_floats(&[1.0; 10]).expect("push");
        assert!(short
            .write_tiff(&dir.path().join("x.tif"), w, h, 1, cal, RawKind::Float)
            .is_err());
    }

    #[test]
    fn stale_partials_of_stopped_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // A process id that cannot be running (above Linux's pid_max limit of 2^22).
        let dead = d.join(".a_labels.tif.99999999.partial");
        let own = temp_path_for(&d.join("b_summary.csv"));
        let parent = std::os::unix::process::parent_id();
        let live = d.join(format!(".c_objects.csv.{parent}.partial"));
        let unrelated = [
            d.join("a_labels.tif"),
            d.join(".hidden"),
            d.join(".x.y.partial"),
        ];
        for f in [&dead, &own, &live].into_iter().chain(&unrelated) {
            std::fs::write(f, b"half").expect("write");
        }
        assert_eq!(partial_owner(".a.tif.12.partial"), Some(12));
        assert_eq!(partial_owner("a.tif.12.partial"), None);
        assert_eq!(remove_stale_partials(d).expect("clean"), 2);
        assert!(!dead.exists() && !own.exists(), "stale ones removed");
        assert!(live.exists(), "a running process's file is kept");
        assert!(unrelated.iter().all(|f| f.exists()), "other files are kept");
    }

    /// A little-endian TIFF whose header claims a `width × height` 16-bit plane, with 16 bytes
    /// of pixel data: what a corrupt or hostile file looks like.
    fn lying_tiff(width: u32, height: u32) -> Vec<u8> {
        let entries: [(u16, u16, u32); 8] = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 16),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, 8 + 2 + 8 * 12 + 4),
            (278, 4, height),
            (279, 4, 16),
        ];
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend((entries.len() as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            if kind == 3 {
                b.extend((value as u16).to_le_bytes());
                b.extend([0, 0]);
            } else {
                b.extend(value.to_le_bytes());
            }
        }
        b.extend(0u32.to_le_bytes());
        b.extend([7u8; 16]);
        b
    }

    #[test]
    fn sizes_from_headers_are_checked_against_the_budget_before_decoding() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small.tif");
        std::fs::write(&small, lying_tiff(4, 2)).expect("write");
        let img = read_image(&small).expect("an honest 4 × 2 header reads");
        assert_eq!(
            img.plane(0, 0, 0).at(0, 0),
            f32::from(u16::from_le_bytes([7, 7]))
        );

        let huge = dir.path().join("huge.tif");
        std::fs::write(&huge, lying_tiff(4_000_000_000, 4_000_000_000)).expect("write");
        let e = read_image(&huge).expect_err("a 4e9 × 4e9 header is refused");
        assert_eq!(e.kind(), ErrorKind::ResourceLimit, "{e}");
        assert!(
            e.message().contains("4000000000 × 4000000000 pixels"),
            "{e}"
        );
        assert!(e.message().contains("crop it"), "{e}");

        let budget = MemoryBudget::bytes(10_000);
        let e = read_image_within(&small, MemoryBudget::bytes(8)).expect_err("16 bytes > 8");
        assert_eq!(e.kind(), ErrorKind::ResourceLimit);
        let png = dir.path().join("picture.png");
        write_png_rgb(&png, 64, 64, &vec![9u8; 64 * 64 * 3]).expect("write png");
        let e = read_image_within(&png, budget).expect_err("24 kB of RGB > 10 kB");
        assert_eq!(e.kind(), ErrorKind::ResourceLimit);
        assert!(e.message().contains("64 × 64 pixels"), "{e}");
        read_image_within(&png, MemoryBudget::bytes(100_000)).expect("fits");
    }

    #[test]
    fn not_an_image_and_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("notes.tif");
        std::fs::write(&text, b"hello, this is text").expect("write");
        let e = read_image(&text).expect_err("text is not an image");
        assert_eq!(e.kind(), ErrorKind::Image);

        let full = dir.path().join("full.tif");
        let data: Vec<f32> = vec![1.0; 64 * 64];
        write_tiff(
            &full,
            64,
            64,
            &[OutputPlane::Float(&data)],
            1,
            Calibration::default(),
        )
        .expect("write");
        let bytes = std::fs::read(&full).expect("read");
        let cut = dir.path().join("cut.tif");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
        assert!(read_image(&cut).is_err());
    }
}
