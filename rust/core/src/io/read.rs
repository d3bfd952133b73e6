//! Reading images: TIFF (ImageJ hyperstacks, OME-TIFF, pages of several samples), PNG and JPEG,
//! decoded by the `tiff` and `image` crates and laid out as an [`Image`] within a memory budget.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::image::{Calibration, Image, PixelData, Plane};

use super::metadata::{
    ome_plane_index, parse_imagej_description, parse_ome_series, parse_ome_xml, ImageJMeta,
    OmeMeta, OmeSeriesMeta,
};

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

/// One image (series) of a multi-series OME-TIFF, as [`list_series`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Its number in the file, from 0 (as Bio-Formats and `bfconvert -series` count).
    pub index: usize,
    /// Its name (the OME `Image` Name, else its ID).
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Its plate, well and field, when the file describes a plate.
    pub place: crate::plate_map::PlatePlace,
}

/// The OME-XML description and the series it describes, for a TIFF file whose first page
/// holds OME-XML; `None` for any other file.
fn ome_series_of(path: &Path) -> Result<Option<Vec<OmeSeriesMeta>>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut reader = BufReader::new(file);
    let mut head = [0u8; 4];
    if std::io::Read::read_exact(&mut reader, &mut head).is_err()
        || !(head == *b"II*\0" || head == *b"MM\0*" || head == *b"II+\0" || head == *b"MM\0+")
    {
        return Ok(None);
    }
    reader.rewind().map_err(|e| Error::io("read", path, e))?;
    let mut dec = Decoder::new(reader).map_err(|e| corrupt(path, e))?;
    let Some(xml) = dec
        .get_tag(Tag::ImageDescription)
        .ok()
        .and_then(|v| v.into_string().ok())
        .filter(|d| d.contains("<OME"))
    else {
        return Ok(None);
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_ome_series(&xml, &file_name)
        .map(Some)
        .map_err(|what| cannot_follow(path, &what))
}

/// The error for an OME-TIFF whose OME-XML says something this reader does not follow.
fn cannot_follow(path: &Path, what: &str) -> Error {
    Error::image(format!(
        "{} is an OME-TIFF brightseg cannot follow: {what}; convert it with bfconvert (one \
         series per file) or open it in Fiji with the Bio-Formats Importer",
        path.display()
    ))
}

/// The series of an OME-TIFF holding several images (a plate, or fields, converted by
/// Bio-Formats or written by `tifffile`), with their plate wells and fields when the file
/// describes a plate; empty for a file of one image, or one that is not an OME-TIFF. Refuses a
/// file whose OME-XML says something this reader does not follow (planes in other files, …).
pub fn list_series(path: &Path) -> Result<Vec<SeriesInfo>> {
    let Some(series) = ome_series_of(path)? else {
        return Ok(Vec::new());
    };
    if series.len() < 2 {
        return Ok(Vec::new());
    }
    Ok(series
        .into_iter()
        .enumerate()
        .map(|(index, s)| SeriesInfo {
            index,
            name: s.name,
            width: s.width,
            height: s.height,
            place: s.place,
        })
        .collect())
}

/// Reads series `index` (from 0, see [`list_series`]) of a multi-series OME-TIFF: its planes
/// at the pages its OME-XML gives, with its own size, pixel size and channel names, refusing
/// what would exceed `budget` before the pixels are allocated.
pub fn read_series_within(path: &Path, index: usize, budget: MemoryBudget) -> Result<Image> {
    let all = ome_series_of(path)?.unwrap_or_default();
    let count = all.len();
    let series = all.into_iter().nth(index).ok_or_else(|| {
        Error::image(format!(
            "{} has no series {index}: it holds {count} (numbered from 0)",
            path.display()
        ))
    })?;
    let (w, h) = (series.width, series.height);
    let plane_limit =
        usize::try_from(budget.limit()).map_or(MAX_PLANE_BYTES, |b| b.min(MAX_PLANE_BYTES));
    let mut limits = Limits::default();
    limits.decoding_buffer_size = plane_limit;
    limits.intermediate_buffer_size = plane_limit;
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| corrupt(path, e))?
        .with_limits(limits);
    let what = format!("{} series {index} ({:?})", path.display(), series.name);
    let mut planes = Vec::with_capacity(series.pages.len());
    let mut decoded_bytes = 0u64;
    for &page in &series.pages {
        dec.seek_to_image(page).map_err(|e| {
            corrupt(
                path,
                format!("series {index} needs page {page}, which is missing ({e})"),
            )
        })?;
        let (pw, ph) = dec.dimensions().map_err(|e| corrupt(path, e))?;
        if (pw as usize, ph as usize) != (w, h) {
            return Err(corrupt(
                path,
                format!("page {page} is {pw} × {ph} pixels, but series {index} is {w} × {h}"),
            ));
        }
        let colour = dec.colortype().map_err(|e| corrupt(path, e))?;
        if !matches!(colour, ColorType::Gray(_)) {
            return Err(Error::image(format!(
                "{what}: page {page} has colour type {colour:?}; brightseg reads multi-series \
                 OME-TIFFs of greyscale planes"
            )));
        }
        decoded_bytes = decoded_bytes.saturating_add(decoded_page_bytes(w, h, colour));
        budget.check(decoded_bytes, &format!("reading {what}"), SPLIT_ADVICE)?;
        let data = dec.read_image().map_err(|e| corrupt(path, e))?;
        planes.push(Plane::new(w, h, decoded_to_pixels(data))?);
    }
    let calibration = Calibration {
        pixel_width_um: series.pixel_width_um,
        pixel_height_um: series.pixel_height_um.or(series.pixel_width_um),
    };
    Ok(Image::new(
        planes,
        series.size_c,
        series.size_z,
        series.size_t,
        calibration,
    )?
    .with_channel_names(series.channel_names))
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
    let several = ome.as_ref().is_some_and(|m| m.series.len() > 1);
    if let Some(xml) = description.as_deref().filter(|_| several) {
        // A set find-nuclei could not list either: say what is not understood.
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(what) = parse_ome_series(xml, &file_name) {
            return Err(cannot_follow(path, &what));
        }
    }
    if let Some(series) = ome.as_ref().map(|m| &m.series).filter(|s| s.len() > 1) {
        let shown: Vec<&str> = series.iter().take(4).map(String::as_str).collect();
        return Err(Error::image(format!(
            "{} is an OME-TIFF of {} series ({}{}), such as a plate or several fields converted \
             by Bio-Formats: `brightseg find-nuclei` reads each series as an image of its own; \
             elsewhere split it first (bfconvert -series 0 IN OUT) or open each series in Fiji \
             with the Bio-Formats Importer",
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
