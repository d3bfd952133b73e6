//! Reading training and evaluation data: fields (one time point of one image file) with a
//! brightfield plane, optionally a paired fluorescence plane and instance labels, restricted to
//! chosen frames and a region, so that a time series can be split in time and in space.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use brightseg::image::{pixel_sizes_differ, Image};
use brightseg::io::read_image;
use brightseg::objects::{relabel_and_filter, Labels};
use brightseg::{Error, Result};

use crate::data::FloatPlane;

/// An inclusive range of frames (time points), counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frames {
    /// First frame.
    pub first: usize,
    /// Last frame (inclusive).
    pub last: usize,
}

impl FromStr for Frames {
    type Err = String;
    /// "3" or "0-6".
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("frames '{s}' should be a frame number or a range like 0-6");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: usize = a.trim().parse().map_err(|_| bad())?;
        let last: usize = b.trim().parse().map_err(|_| bad())?;
        if last < first {
            return Err(bad());
        }
        Ok(Frames { first, last })
    }
}

impl fmt::Display for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
}

impl FromStr for Region {
    type Err = String;
    /// "x,y,width,height".
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let v: Vec<usize> = s
            .split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("region '{s}' should be x,y,width,height in pixels"))?;
        match v[..] {
            [x, y, width, height] if width > 0 && height > 0 => Ok(Region {
                x,
                y,
                width,
                height,
            }),
            _ => Err(format!(
                "region '{s}' should be x,y,width,height in pixels, with width and height above 0"
            )),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

/// Which planes of the files to use.
#[derive(Debug, Clone, Default)]
pub struct FieldSpec {
    /// Transmitted-light channel (number from 1, or name).
    pub brightfield: Option<String>,
    /// Nuclear stain channel (number from 1, or name): of the input files, or of
    /// `fluorescence_files` when given (there it may be left out for single-channel files).
    pub fluorescence: Option<String>,
    /// The option that chooses the brightfield channel, for messages ("" means --brightfield).
    pub brightfield_option: &'static str,
    /// The option that chooses the stain channel, for messages ("" means --fluorescence).
    pub fluorescence_option: &'static str,
    /// Stain images, one per input file (same size and frames), for stains saved in files of
    /// their own, as high-content screening systems export one file per channel.
    pub fluorescence_files: Vec<PathBuf>,
    /// A channel of the same file holding instance labels (e.g. "nuclei").
    pub truth_channel: Option<String>,
    /// Label images, one per input file (same frames), instead of a label channel.
    pub truth_files: Vec<PathBuf>,
    /// Masks of sure background (non-zero pixels), one per input file (same frames), for
    /// labels that leave nuclei out.
    pub background_files: Vec<PathBuf>,
    /// Frames to use [default: all].
    pub frames: Option<Frames>,
    /// Region to use [default: the whole plane].
    pub region: Option<Region>,
    /// Pixel size in µm overriding the files' calibration.
    pub pixel_um: Option<f64>,
}

/// One field: planes of one time point of one file, cropped to the region.
#[derive(Debug, Clone)]
pub struct Field {
    /// "file.tif t3 [x,y,w,h]".
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Frame (from 0).
    pub frame: usize,
    /// Brightfield plane (raw values).
    pub brightfield: FloatPlane,
    /// Fluorescence plane (raw values), when asked for.
    pub fluorescence: Option<FloatPlane>,
    /// Instance labels, when a truth channel or files were given.
    pub truth: Option<Labels>,
    /// Pixels marked as sure background, when background masks were given.
    pub background: Option<Vec<bool>>,
    /// Pixel size in µm (None: the file has no calibration and none was given).
    pub pixel_um: Option<f64>,
    /// Which dataset (source of a sources file, from 0) it belongs to; 0 outside sources files.
    pub dataset: usize,
}

impl Field {
    /// The field at `pixel_um` µm per pixel: brightfield and stain resampled bilinearly, labels
    /// by nearest neighbour. Unchanged when it is uncalibrated or already within 1 % of it.
    pub fn resampled_to(&self, pixel_um: f64) -> Field {
        let Some(px) = self.pixel_um.filter(|&px| pixel_sizes_differ(px, pixel_um)) else {
            return self.clone();
        };
        let (w, h) = (self.brightfield.width, self.brightfield.height);
        let scale = px / pixel_um;
        let (dw, dh) = (
            ((w as f64 * scale).round() as usize).max(1),
            ((h as f64 * scale).round() as usize).max(1),
        );
        let plane = |p: &FloatPlane| {
            FloatPlane::new(dw, dh, brightseg::resample::resample(&p.data, w, h, dw, dh))
        };
        // The source pixel nearest to each pixel of the resampled field.
        let nearest = |d: usize, dn: usize, n: usize| ((2 * d * n + n) / (2 * dn)).min(n - 1);
        let source = |i: usize| nearest(i / dw, dh, h) * w + nearest(i % dw, dw, w);
        let labels = |t: &Labels| {
            let data = (0..dw * dh).map(|i| t.data[source(i)]).collect();
            relabel_and_filter(data, dw, dh, 0.0)
        };
        Field {
            brightfield: plane(&self.brightfield),
            fluorescence: self.fluorescence.as_ref().map(plane),
            truth: self.truth.as_ref().map(labels),
            background: self
                .background
                .as_ref()
                .map(|b| (0..dw * dh).map(|i| b[source(i)]).collect()),
            pixel_um: Some(pixel_um),
            ..self.clone()
        }
    }
}

fn plane_of(image: &Image, channel: usize, frame: usize) -> FloatPlane {
    FloatPlane::from_plane(image.plane(channel, 0, frame))
}

fn labels_of(plane: &FloatPlane) -> Result<Labels> {
    if plane
        .data
        .iter()
        .any(|&v| !(v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f32))
    {
        return Err(Error::image(
            "the label plane holds values that are not whole numbers ≥ 0: it is not a label image",
        ));
    }
    let data = plane.data.iter().map(|&v| v as u32).collect();
    Ok(relabel_and_filter(data, plane.width, plane.height, 0.0))
}

/// Instance labels from a colour label image (one colour per instance, black background, as
/// annotation tools and mnfinder's masks store them).
fn colour_labels_of(r: &FloatPlane, g: &FloatPlane, b: &FloatPlane) -> Labels {
    let data = r
        .data
        .iter()
        .zip(&g.data)
        .zip(&b.data)
        .map(|((&r, &g), &b)| {
            let c = |v: f32| v.clamp(0.0, 255.0) as u32;
            (c(r) << 16) | (c(g) << 8) | c(b)
        })
        .collect();
    relabel_and_filter(data, r.width, r.height, 0.0)
}

/// Reads the fields of `paths` as `spec` says.
pub fn load_fields(paths: &[PathBuf], spec: &FieldSpec) -> Result<Vec<Field>> {
    for (files, what) in [
        (&spec.truth_files, "label"),
        (&spec.fluorescence_files, "stain"),
        (&spec.background_files, "background"),
    ] {
        if !files.is_empty() && files.len() != paths.len() {
            return Err(Error::invalid(format!(
                "{} {what} files for {} images: give one {what} image per input image, in the \
                 same order",
                files.len(),
                paths.len()
            )));
        }
    }
    let mut fields = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let image = read_image(path)?;
        let companion = |files: &[PathBuf]| files.get(i).map(|p| read_image(p)).transpose();
        let companions = Companions {
            truth: companion(&spec.truth_files)?,
            stain: companion(&spec.fluorescence_files)?,
            background: companion(&spec.background_files)?,
        };
        fields.extend(fields_of(path, &image, &companions, spec)?);
    }
    if fields.is_empty() {
        return Err(Error::invalid("no images selected: check --frames"));
    }
    Ok(fields)
}

/// The channel `choice` names; with no choice, the only channel, or an error that names the
/// option (`flag`) choosing the `what` channel and lists the channels.
fn channel_of(image: &Image, choice: Option<&str>, what: &str, flag: &str) -> Result<usize> {
    if choice.is_none() && image.channels() > 1 {
        return Err(Error::invalid(format!(
            "{} channels: choose the {what} channel with {flag} (channels: {})",
            image.channels(),
            image.channel_listing()
        )));
    }
    image.resolve_channel(choice)
}

/// Images that go with an input file: its labels, its stain.
struct Companions {
    truth: Option<Image>,
    stain: Option<Image>,
    background: Option<Image>,
}

fn fields_of(
    path: &Path,
    image: &Image,
    companions: &Companions,
    spec: &FieldSpec,
) -> Result<Vec<Field>> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let with_file = |e: Error| Error::new(e.kind(), format!("{file}: {}", e.message()));
    let option = |given: &'static str, default: &'static str| match given {
        "" => default,
        given => given,
    };
    let bf_option = option(spec.brightfield_option, "--brightfield");
    let bf = channel_of(image, spec.brightfield.as_deref(), "brightfield", bf_option)
        .map_err(with_file)?;
    let stain_image = companions.stain.as_ref().unwrap_or(image);
    let fl = match &companions.stain {
        Some(stain) => Some(channel_of(
            stain,
            spec.fluorescence.as_deref(),
            "stain",
            option(spec.fluorescence_option, "--fluorescence"),
        )),
        None => spec
            .fluorescence
            .as_deref()
            .map(|c| image.resolve_channel(Some(c))),
    }
    .transpose()
    .map_err(|e| {
        let of = match &companions.stain {
            Some(_) => "its stain image: ",
            None => "",
        };
        Error::new(e.kind(), format!("{file}: {of}{}", e.message()))
    })?;
    let truth_c = spec
        .truth_channel
        .as_deref()
        .map(|c| image.resolve_channel(Some(c)))
        .transpose()
        .map_err(with_file)?;
    let truth_image = companions.truth.as_ref();
    if let Some(t) = truth_image.filter(|t| t.channels() > 1 && !t.is_rgb) {
        return Err(Error::image(format!(
            "{file}: its label image has {} channels ({}): give label images of one channel, \
             or name the label channel of the image instead",
            t.channels(),
            t.channel_listing()
        )));
    }
    for (other, what) in [
        (truth_image, "label"),
        (companions.stain.as_ref(), "stain"),
        (companions.background.as_ref(), "background"),
    ] {
        let Some(t) = other else { continue };
        if (t.width(), t.height()) != (image.width(), image.height()) || t.frames() < image.frames()
        {
            return Err(Error::image(format!(
                "{file}: its {what} image is {}×{} with {} frame(s), the image {}×{} with {}",
                t.width(),
                t.height(),
                t.frames(),
                image.width(),
                image.height(),
                image.frames()
            )));
        }
    }
    let frames = spec.frames.unwrap_or(Frames {
        first: 0,
        last: image.frames() - 1,
    });
    if frames.first >= image.frames() {
        return Err(Error::invalid(format!(
            "{file} has {} frame(s) (0 to {}); frames {frames} are not there",
            image.frames(),
            image.frames() - 1
        )));
    }
    let region = spec.region.unwrap_or(Region {
        x: 0,
        y: 0,
        width: image.width(),
        height: image.height(),
    });
    if region.x + region.width > image.width() || region.y + region.height > image.height() {
        return Err(Error::invalid(format!(
            "region {region} lies outside {file} ({}×{} pixels)",
            image.width(),
            image.height()
        )));
    }
    let pixel_um = spec.pixel_um.or(image.calibration.pixel_width_um);
    let crop = |p: FloatPlane| p.crop(region.x, region.y, region.width, region.height);
    let whole = region.width == image.width() && region.height == image.height();
    let mut out = Vec::new();
    for frame in frames.first..=frames.last.min(image.frames() - 1) {
        let truth = match (truth_c, truth_image) {
            (_, Some(t)) if t.is_rgb => Some(colour_labels_of(
                &crop(plane_of(t, 0, frame)),
                &crop(plane_of(t, 1, frame)),
                &crop(plane_of(t, 2, frame)),
            )),
            (_, Some(t)) => Some(labels_of(&crop(plane_of(t, 0, frame))).map_err(with_file)?),
            (Some(c), None) => {
                Some(labels_of(&crop(plane_of(image, c, frame))).map_err(with_file)?)
            }
            (None, None) => None,
        };
        let mut name = format!("{file} t{frame}");
        if !whole {
            name.push_str(&format!(" [{region}]"));
        }
        out.push(Field {
            name,
            path: path.to_path_buf(),
            frame,
            brightfield: crop(plane_of(image, bf, frame)),
            fluorescence: fl.map(|c| crop(plane_of(stain_image, c, frame))),
            truth,
            background: companions.background.as_ref().map(|b| {
                crop(plane_of(b, 0, frame))
                    .data
                    .iter()
                    .map(|&v| v != 0.0)
                    .collect()
            }),
            pixel_um,
            dataset: 0,
        });
    }
    Ok(out)
}

/// Images (or tiles) in a seeded random order (the same seed and count, the same order), so
/// that "the first N" is a fair sample of N.
pub fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    items.shuffle(&mut rng);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_labels_give_one_object_per_colour() {
        let plane = |v: [f32; 6]| FloatPlane::new(3, 2, v.to_vec());
        let r = plane([0.0, 255.0, 255.0, 0.0, 255.0, 0.0]);
        let g = plane([0.0, 255.0, 255.0, 0.0, 255.0, 0.0]);
        let b = plane([0.0, 1.0, 2.0, 0.0, 2.0, 0.0]);
        let labels = colour_labels_of(&r, &g, &b);
        assert_eq!(labels.count, 2);
        assert_eq!(labels.data, vec![0, 1, 2, 0, 2, 0]);
    }

    #[test]
    fn shuffling_is_seeded() {
        let items: Vec<usize> = (0..42).collect();
        let once = shuffled(items.clone(), 3);
        assert_eq!(once, shuffled(items.clone(), 3));
        assert_ne!(once, items, "42 items stay in order with odds of 1 in 42!");
        assert_ne!(once, shuffled(items, 4));
    }

    /// Writes a `w × h` 16-bit TIFF of `frames` time points whose pixel `i` of frame `t` holds
    /// `base + 100 t + i`, with 0.5 µm pixels.
    fn write_frames(path: &Path, w: usize, h: usize, frames: usize, base: u16) -> Vec<Vec<u16>> {
        use brightseg::image::Calibration;
        use brightseg::io::{write_tiff, OutputPlane};
        let planes: Vec<Vec<u16>> = (0..frames)
            .map(|t| {
                (0..w * h)
                    .map(|i| base + 100 * t as u16 + i as u16)
                    .collect()
            })
            .collect();
        let out: Vec<OutputPlane<'_>> = planes.iter().map(|p| OutputPlane::Gray16(p)).collect();
        write_tiff(path, w, h, &out, frames, Calibration::square(0.5)).expect("tiff");
        planes
    }

    /// A stain in a file of its own pairs with its brightfield file frame by frame; a wrong
    /// count or size of stain files is refused with a message naming them.
    #[test]
    fn stain_files_pair_with_their_images_frame_by_frame() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        let brightfield = write_frames(&path("bf.tif"), 20, 16, 2, 0);
        let stain = write_frames(&path("stain.tif"), 20, 16, 2, 5000);
        let spec = FieldSpec {
            fluorescence_files: vec![path("stain.tif")],
            ..FieldSpec::default()
        };
        let fields = load_fields(&[path("bf.tif")], &spec).expect("fields");
        assert_eq!(fields.len(), 2);
        for (t, f) in fields.iter().enumerate() {
            let as_float = |p: &[u16]| p.iter().map(|&v| f32::from(v)).collect::<Vec<_>>();
            assert_eq!(f.brightfield.data, as_float(&brightfield[t]), "frame {t}");
            let fl = f.fluorescence.as_ref().expect("stain");
            assert_eq!(fl.data, as_float(&stain[t]), "frame {t}");
            assert_eq!(f.pixel_um, Some(0.5));
        }
        let twice = FieldSpec {
            fluorescence_files: vec![path("stain.tif"), path("stain.tif")],
            ..FieldSpec::default()
        };
        let e = load_fields(&[path("bf.tif")], &twice).expect_err("two stains for one image");
        assert!(e.to_string().contains("2 stain files for 1 images"), "{e}");
        write_frames(&path("small.tif"), 10, 16, 2, 0);
        let small = FieldSpec {
            fluorescence_files: vec![path("small.tif")],
            ..FieldSpec::default()
        };
        let e = load_fields(&[path("bf.tif")], &small).expect_err("sizes differ");
        assert!(e.to_string().contains("its stain image is 10×16"), "{e}");
    }

    /// A 0.5 µm field at 1 µm: half the size each way, the same objects, the same mean
    /// brightness; at its own pixel size or uncalibrated it stays as it is.
    #[test]
    fn resampling_a_field_keeps_its_objects() {
        let (w, h) = (40, 20);
        let mut labels = vec![0u32; w * h];
        for y in 4..12 {
            for x in 4..12 {
                labels[y * w + x] = 7;
            }
            for x in 24..36 {
                labels[y * w + x] = 3;
            }
        }
        let ramp = FloatPlane::new(w, h, (0..w * h).map(|i| (i % w) as f32).collect());
        let field = Field {
            name: "f".into(),
            path: PathBuf::from("f.tif"),
            frame: 0,
            brightfield: ramp.clone(),
            fluorescence: Some(ramp),
            truth: Some(relabel_and_filter(labels, w, h, 0.0)),
            // The left quarter marked as sure background.
            background: Some((0..w * h).map(|i| i % w < 10).collect()),
            pixel_um: Some(0.5),
            dataset: 0,
        };
        let half = field.resampled_to(1.0);
        assert_eq!((half.brightfield.width, half.brightfield.height), (20, 10));
        let background = half.background.as_ref().expect("background");
        assert_eq!(background.len(), 20 * 10);
        assert!(background[2 * 20 + 2] && background[2 * 20 + 4] && !background[2 * 20 + 5]);
        assert_eq!(half.pixel_um, Some(1.0));
        let truth = half.truth.as_ref().expect("labels");
        assert_eq!((truth.width, truth.height, truth.count), (20, 10, 2));
        let area = |l: u32| truth.data.iter().filter(|&&v| v == l).count();
        assert_eq!(
            (area(1), area(2)),
            (16, 24),
            "8×8 and 12×8 pixels at 0.5 µm"
        );
        assert_eq!(truth.data[5 * 20 + 3], 1);
        let mean = |p: &FloatPlane| p.data.iter().sum::<f32>() / p.data.len() as f32;
        let stain = half.fluorescence.as_ref().expect("stain");
        assert!((mean(stain) - mean(&field.brightfield)).abs() < 0.3);
        assert_eq!(
            field.resampled_to(0.502).brightfield.width,
            40,
            "within 1 %"
        );
        let uncalibrated = Field {
            pixel_um: None,
            ..field
        };
        assert_eq!(uncalibrated.resampled_to(1.0).brightfield.width, 40);
    }

    #[test]
    fn frames_and_regions_parse() {
        assert_eq!("0-6".parse::<Frames>(), Ok(Frames { first: 0, last: 6 }));
        assert_eq!("4".parse::<Frames>(), Ok(Frames { first: 4, last: 4 }));
        assert!("6-0".parse::<Frames>().is_err());
        assert!("a".parse::<Frames>().is_err());
        let r: Region = "384,0,192,210".parse().expect("region");
        assert_eq!((r.x, r.width), (384, 192));
        assert!("1,2,3".parse::<Region>().is_err());
        assert!("0,0,0,5".parse::<Region>().is_err());
    }
}
