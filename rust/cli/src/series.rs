//! Inputs that are one image of a file or store holding several: a series of a multi-series
//! OME-TIFF (a plate, or fields, converted by Bio-Formats), or a field of an OME-Zarr plate.
//! `plate.ome.tif#3` is series 3 (from 0, as Bio-Formats counts) of `plate.ome.tif`;
//! `plate.zarr#3` the fourth field of the plate, in the order its wells and fields are listed.
//! find-nuclei lists every image of such a file as an input of its own, so shards, resumption,
//! the tables and merge treat each as they treat an image file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use brightseg::budget::MemoryBudget;
use brightseg::image::Image;
use brightseg::io;
use brightseg::ome_zarr;
use brightseg::plate_map::PlatePlace;

/// One image of a multi-image file or store, as an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRef {
    /// The OME-TIFF file or OME-Zarr store.
    pub file: PathBuf,
    /// The image, from 0.
    pub index: usize,
}

/// Where a listed image was imaged, when its file describes a plate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placed {
    /// Plate, well and field.
    pub place: PlatePlace,
    /// The OME-Zarr group of the image (empty for OME-TIFF series).
    group: String,
}

/// The images of each multi-image file or store, listed once per process (a plate's listing
/// reads every well's metadata; each of its images is read through it).
fn listing(file: &Path) -> Result<Vec<Placed>> {
    static LISTED: OnceLock<Mutex<HashMap<PathBuf, Vec<Placed>>>> = OnceLock::new();
    let cache = LISTED.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(file).cloned()) {
        return Ok(found);
    }
    let found: Vec<Placed> = if ome_zarr::is_zarr(file) {
        ome_zarr::list_images(file)?
            .into_iter()
            .map(|i| Placed {
                place: i.place,
                group: i.group,
            })
            .collect()
    } else {
        io::list_series(file)?
            .into_iter()
            .map(|s| Placed {
                place: s.place,
                group: String::new(),
            })
            .collect()
    };
    if let Ok(mut c) = cache.lock() {
        c.insert(file.to_path_buf(), found.clone());
    }
    Ok(found)
}

impl SeriesRef {
    /// The input path naming this series: the file's path, `#`, the series number.
    pub fn path(&self) -> PathBuf {
        let mut text = self.file.clone().into_os_string();
        text.push(format!("#{}", self.index));
        PathBuf::from(text)
    }

    /// The series an input path names, or `None` for a path that is a file (or names nothing
    /// of the kind): `…/plate.ome.tif#3` when `…/plate.ome.tif` is a file.
    pub fn parse(input: &Path) -> Option<SeriesRef> {
        let text = input.to_str()?;
        let (file, index) = text.rsplit_once('#')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || input.is_file() {
            return None;
        }
        let file = PathBuf::from(file);
        (file.is_file() || ome_zarr::is_zarr(&file)).then_some(SeriesRef {
            file,
            index: index.parse().ok()?,
        })
    }
}

/// Whether `path` is named as an OME-TIFF (`.ome.tif`, `.ome.tiff`): the files whose series
/// find-nuclei lists.
pub fn is_ome_tiff_name(path: &Path) -> bool {
    let name = crate::file_name(path).to_ascii_lowercase();
    name.ends_with(".ome.tif") || name.ends_with(".ome.tiff")
}

/// The inputs of a file or OME-Zarr store: one per image for an OME-TIFF of several series or
/// an OME-Zarr plate, else the file or store itself (also when its metadata cannot be read: the
/// image's own error row says why).
pub fn inputs_of(file: &Path) -> Vec<PathBuf> {
    let zarr = ome_zarr::is_zarr(file);
    if !zarr && !is_ome_tiff_name(file) {
        return vec![file.to_path_buf()];
    }
    let images = match listing(file) {
        Ok(images) => images,
        Err(e) => {
            // Its own error row when it is read, not a batch that cannot start.
            log::warn!("{}: {e:#}", file.display());
            return vec![file.to_path_buf()];
        }
    };
    // One image: the file (an OME-TIFF of one series, an OME-Zarr image).
    if images.len() < 2 && images.first().is_none_or(|i| i.group.is_empty()) {
        return vec![file.to_path_buf()];
    }
    let wells: std::collections::BTreeSet<(u32, u32)> =
        images.iter().filter_map(|i| i.place.well).collect();
    log::info!(
        "{}: {} {}{}, each an image of its own",
        file.display(),
        images.len(),
        if zarr { "fields" } else { "series" },
        if wells.is_empty() {
            String::new()
        } else {
            format!(" in {} wells", wells.len())
        }
    );
    (0..images.len())
        .map(|index| {
            SeriesRef {
                file: file.to_path_buf(),
                index,
            }
            .path()
        })
        .collect()
}

/// Reads an input: an image of a multi-image file or store, an OME-Zarr image, or an image
/// file.
pub fn read_input(input: &Path, budget: MemoryBudget) -> Result<Image> {
    let Some(series) = SeriesRef::parse(input) else {
        return Ok(if ome_zarr::is_zarr(input) {
            ome_zarr::read_image(input, "", budget)?
        } else {
            io::read_image_within(input, budget)?
        });
    };
    if !ome_zarr::is_zarr(&series.file) {
        return Ok(io::read_series_within(&series.file, series.index, budget)?);
    }
    let images = listing(&series.file)?;
    let image = images.get(series.index).ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no image {} (it holds {}): was the store changed?",
            series.file.display(),
            series.index,
            images.len()
        )
    })?;
    Ok(ome_zarr::read_image(&series.file, &image.group, budget)?)
}

/// The OME-Zarr store and image group `input` names, when it is an OME-Zarr image.
pub fn zarr_image(input: &Path) -> Option<(PathBuf, String)> {
    match SeriesRef::parse(input) {
        Some(series) if ome_zarr::is_zarr(&series.file) => {
            let group = listing(&series.file).ok()?.get(series.index)?.group.clone();
            Some((series.file, group))
        }
        None if ome_zarr::is_zarr(input) => Some((input.to_path_buf(), String::new())),
        _ => None,
    }
}

/// Where the image `input` names was imaged, when it is an image of a multi-image file or
/// store that describes a plate; `None` otherwise.
pub fn placed(input: &Path) -> Option<Placed> {
    let series = SeriesRef::parse(input)?;
    listing(&series.file).ok()?.into_iter().nth(series.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_named_by_its_file_and_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plate.ome.tif");
        std::fs::write(&file, b"not read here").expect("write");
        let series = SeriesRef { file, index: 12 };
        let path = series.path();
        assert!(path.to_string_lossy().ends_with("plate.ome.tif#12"));
        assert_eq!(SeriesRef::parse(&path), Some(series.clone()));
        // The file itself, a missing file, and names that are not series.
        assert_eq!(SeriesRef::parse(&series.file), None);
        assert_eq!(SeriesRef::parse(&dir.path().join("other.ome.tif#1")), None);
        assert_eq!(SeriesRef::parse(&dir.path().join("plate.ome.tif#")), None);
        assert_eq!(SeriesRef::parse(&dir.path().join("plate.ome.tif#a")), None);
        // A file whose name ends like a series is that file.
        let odd = dir.path().join("odd#2");
        std::fs::write(&odd, b"x").expect("write");
        assert_eq!(SeriesRef::parse(&odd), None);
        assert!(is_ome_tiff_name(Path::new("a/B.OME.TIFF")));
        assert!(!is_ome_tiff_name(Path::new("a/b.tif")));
    }
}
