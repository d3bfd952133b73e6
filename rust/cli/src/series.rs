//! Inputs that are one series of a multi-series OME-TIFF (a plate, or fields, converted by
//! Bio-Formats): `plate.ome.tif#3` is series 3 (from 0, as Bio-Formats counts) of
//! `plate.ome.tif`. find-nuclei lists every series of such a file as an input of its own, so
//! shards, resumption, the tables and merge treat each series as they treat an image file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use brightseg::budget::MemoryBudget;
use brightseg::image::Image;
use brightseg::io::{self, SeriesInfo};

/// One series of a multi-series OME-TIFF, as an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRef {
    /// The OME-TIFF file.
    pub file: PathBuf,
    /// The series, from 0.
    pub index: usize,
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
        file.is_file().then_some(SeriesRef {
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

/// The inputs of a file: one per series for an OME-TIFF of several, else the file itself.
pub fn inputs_of(file: &Path) -> Result<Vec<PathBuf>> {
    if !is_ome_tiff_name(file) {
        return Ok(vec![file.to_path_buf()]);
    }
    let series = io::list_series(file)?;
    if series.is_empty() {
        return Ok(vec![file.to_path_buf()]);
    }
    let sizes: std::collections::BTreeSet<(usize, usize)> =
        series.iter().map(|s| (s.width, s.height)).collect();
    log::info!(
        "{}: {} series{}, each an image of its own",
        file.display(),
        series.len(),
        if sizes.len() > 1 {
            format!(" of {} sizes", sizes.len())
        } else {
            String::new()
        }
    );
    Ok(series
        .iter()
        .map(|s| {
            SeriesRef {
                file: file.to_path_buf(),
                index: s.index,
            }
            .path()
        })
        .collect())
}

/// Reads an input: a series of a multi-series OME-TIFF, or an image file.
pub fn read_input(input: &Path, budget: MemoryBudget) -> brightseg::Result<Image> {
    match SeriesRef::parse(input) {
        Some(series) => io::read_series_within(&series.file, series.index, budget),
        None => io::read_image_within(input, budget),
    }
}

/// The series of OME-TIFF files, each file's read once.
#[derive(Debug, Default)]
pub struct SeriesCache {
    listed: Mutex<HashMap<PathBuf, Vec<SeriesInfo>>>,
}

impl SeriesCache {
    /// What the file says of the series `input` names; `None` for an input that is not a
    /// series, or a file that cannot be read.
    pub fn info(&self, input: &Path) -> Option<SeriesInfo> {
        let series = SeriesRef::parse(input)?;
        let mut listed = self.listed.lock().ok()?;
        if !listed.contains_key(&series.file) {
            let found = io::list_series(&series.file).unwrap_or_default();
            listed.insert(series.file.clone(), found);
        }
        listed.get(&series.file)?.get(series.index).cloned()
    }
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
