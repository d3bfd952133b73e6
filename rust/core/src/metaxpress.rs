//! MetaXpress / ImageXpress plate files: the `.HTD` file that MetaXpress writes beside a plate's
//! images (`<plate>/<name>.HTD`, the images in the same folder or in `TimePoint_N/`), which says
//! how many rows and columns of wells the plate has and what each wavelength (`w1`, `w2` in the
//! image names) is called.
//!
//! The file is text, one `"Key", value, …` entry per line, as Bio-Formats' MetaMorph reader reads
//! it; the keys read here are `XWells`, `YWells`, `NWavelengths` and `WaveName<N>`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What a plate's `.HTD` file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtdPlate {
    /// Rows (`YWells`) and columns (`XWells`) of the plate, when both are given.
    pub plate_size: Option<(u32, u32)>,
    /// The wavelengths' names, `w1` first; empty strings for those without a name.
    pub wave_names: Vec<String>,
}

impl HtdPlate {
    /// The wavelength numbered `number` (from 1, as in `w1`) by name, when the file names it.
    pub fn wave_name(&self, number: u32) -> Option<&str> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.wave_names
            .get(index)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }

    /// The number (from 1) of the wavelength called `name` (any case).
    pub fn wave_number(&self, name: &str) -> Option<u32> {
        let name = name.trim();
        self.wave_names
            .iter()
            .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(name))
            .and_then(|i| u32::try_from(i + 1).ok())
    }
}

/// The `.HTD` file of the plate holding `folder` (an image folder, or a `TimePoint_N` or
/// `ZStep_N` folder inside one): the first, by name, in `folder` or up to two folders above.
pub fn find_htd(folder: &Path) -> Option<PathBuf> {
    folder.ancestors().take(3).find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case("htd"))
            })
            .collect();
        found.sort();
        found.into_iter().next()
    })
}

/// Reads a MetaXpress `.HTD` file.
pub fn read_htd(path: &Path) -> Result<HtdPlate> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    // MetaXpress writes Windows text; names are ASCII in practice, anything else is kept lossily.
    let text = String::from_utf8_lossy(&bytes);
    if !text.trim_start().starts_with("\"HTSInfoFile\"") {
        return Err(Error::image(format!(
            "{} is not a MetaXpress plate file: it does not start with \"HTSInfoFile\"",
            path.display()
        )));
    }
    Ok(parse_htd(&text))
}

fn parse_htd(text: &str) -> HtdPlate {
    let mut columns = None;
    let mut rows = None;
    let mut waves: Vec<(u32, String)> = Vec::new();
    let mut declared_waves = None;
    for line in text.lines() {
        let mut parts = line.splitn(2, ',');
        let key = parts.next().unwrap_or("").trim().trim_matches('"');
        let value = parts.next().unwrap_or("").trim();
        let number = || value.parse::<u32>().ok();
        match key {
            "XWells" => columns = number(),
            "YWells" => rows = number(),
            "NWavelengths" => declared_waves = number(),
            _ => {
                if let Some(n) = key
                    .strip_prefix("WaveName")
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    waves.push((n, value.trim_matches('"').trim().to_owned()));
                }
            }
        }
    }
    let count = declared_waves
        .unwrap_or(0)
        .max(waves.iter().map(|(n, _)| *n).max().unwrap_or(0))
        .min(64);
    let mut wave_names = vec![String::new(); count as usize];
    for (n, name) in waves {
        if let Some(slot) = n
            .checked_sub(1)
            .and_then(|i| wave_names.get_mut(i as usize))
        {
            *slot = name;
        }
    }
    HtdPlate {
        plate_size: rows.zip(columns).filter(|&(r, c)| r > 0 && c > 0),
        wave_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As MetaXpress writes it (CRLF lines, quoted keys, booleans per well row).
    const HTD: &str = "\"HTSInfoFile\", Version 1.0\r\n\"Description\", \"Plate 0042\"\r\n\
        \"PlateType\", 6\r\n\"TimePoints\", 1\r\n\"ZSteps\", 1\r\n\"XWells\", 24\r\n\
        \"YWells\", 16\r\n\"WellsSelection1\", FALSE, TRUE, FALSE\r\n\"Sites\", TRUE\r\n\
        \"XSites\", 2\r\n\"YSites\", 1\r\n\"Waves\", TRUE\r\n\"NWavelengths\", 3\r\n\
        \"WaveName1\", \"Transmitted Light\"\r\n\"WaveName3\", \"DAPI\"\r\n\
        \"WaveCollect1\", 1\r\n\"UniqueIdentifier\", \"8C6A5F7E\"\r\n\"EndFile\"\r\n";

    #[test]
    fn plate_size_and_wavelength_names() {
        let plate = parse_htd(HTD);
        assert_eq!(plate.plate_size, Some((16, 24)));
        assert_eq!(plate.wave_name(1), Some("Transmitted Light"));
        assert_eq!(plate.wave_name(2), None, "declared but not named");
        assert_eq!(plate.wave_name(3), Some("DAPI"));
        assert_eq!(plate.wave_name(0), None);
        assert_eq!(plate.wave_number("transmitted light"), Some(1));
        assert_eq!(plate.wave_number(" dapi "), Some(3));
        assert_eq!(plate.wave_number("FITC"), None);
    }

    #[test]
    fn files_are_found_from_time_point_folders_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plate = dir.path().join("Plate_0042");
        let time_point = plate.join("TimePoint_1");
        std::fs::create_dir_all(&time_point).expect("folders");
        assert_eq!(find_htd(&time_point), None);
        let htd = plate.join("Plate_0042.HTD");
        std::fs::write(&htd, HTD).expect("write");
        assert_eq!(find_htd(&time_point).as_deref(), Some(htd.as_path()));
        assert_eq!(find_htd(&plate).as_deref(), Some(htd.as_path()));
        assert_eq!(read_htd(&htd).expect("read").plate_size, Some((16, 24)));
        let other = plate.join("notes.htd");
        std::fs::write(&other, "hello").expect("write");
        let err = read_htd(&other).expect_err("not an HTD");
        assert!(err.to_string().contains("HTSInfoFile"), "{err}");
    }
}
