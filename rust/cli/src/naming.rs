//! Plate, well and field from image file names, for `brightseg merge --naming`.
//!
//! A naming is a regular expression over the image path (with `/` separators) with named groups:
//! `plate`, `well` (e.g. `B03`) or `row` + `column` (numbers or a row letter), `field`, `channel`.
//! Presets cover the usual exports:
//! - `operetta` (PerkinElmer/Revvity Harmony, Operetta, Opera Phenix): `…/<plate>/Images/
//!   r03c05f02p01-ch1sk1fk1fl1.tiff` (the plate is the folder above `Images`, or the parent);
//! - `metaxpress` (Molecular Devices ImageXpress/MetaXpress): `…/<plate>/[TimePoint_1/]
//!   <name>_B03_s2_w1<id>.tif`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use regex::Regex;

/// Where an image sits on its plate. Parts the naming does not give are empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PlatePosition {
    /// Plate name.
    pub plate: String,
    /// Well, letter + two digits (`B03`).
    pub well: String,
    /// Field (site) number.
    pub field: String,
}

/// A compiled naming scheme.
#[derive(Debug, Clone)]
pub struct Naming {
    regex: Regex,
}

const OPERETTA: &str = r"(?:^|/)(?P<plate>[^/]+)/(?:Images/)?r(?P<row>\d+)c(?P<column>\d+)f(?P<field>\d+)(?:p\d+)?(?:-ch(?P<channel>\d+))?[^/]*$";
const METAXPRESS: &str = r"(?:^|/)(?P<plate>[^/]+)/(?:TimePoint_\d+/)?(?:[^/]*_)?(?P<well>[A-Pa-p]\d{1,2})_s(?P<field>\d+)(?:_w(?P<channel>\d+))?[^/]*$";

impl Naming {
    /// A preset name (`operetta`, alias `harmony`; `metaxpress`) or a regular expression.
    pub fn new(preset_or_regex: &str) -> Result<Naming> {
        let pattern = match preset_or_regex.to_ascii_lowercase().as_str() {
            "operetta" | "harmony" | "opera" | "phenix" => OPERETTA,
            "metaxpress" | "imagexpress" => METAXPRESS,
            _ => preset_or_regex,
        };
        let regex = Regex::new(pattern).with_context(|| {
            format!(
                "--naming {preset_or_regex}: not a preset (operetta, metaxpress) nor a valid \
                 regular expression"
            )
        })?;
        let names: Vec<&str> = regex.capture_names().flatten().collect();
        let has_well =
            names.contains(&"well") || (names.contains(&"row") && names.contains(&"column"));
        if !has_well {
            bail!(
                "--naming {preset_or_regex}: the pattern needs a (?P<well>…) group, or (?P<row>…) \
                 and (?P<column>…)"
            );
        }
        Ok(Naming { regex })
    }

    /// The plate position of `path`, or None when the name does not match.
    pub fn parse(&self, path: &Path) -> Option<PlatePosition> {
        let text = path.to_string_lossy().replace('\\', "/");
        let caps = self.regex.captures(&text)?;
        let group = |name: &str| caps.name(name).map(|m| m.as_str().to_owned());
        let well = match group("well") {
            Some(w) => normalise_well(&w)?,
            None => {
                let row = group("row")?;
                let column: u32 = group("column")?.parse().ok()?;
                let row_letter = match row.parse::<u32>() {
                    Ok(n) if (1..=32).contains(&n) => row_letter(n)?,
                    Ok(_) => return None,
                    Err(_) => row.to_ascii_uppercase(),
                };
                format!("{row_letter}{column:02}")
            }
        };
        let field = group("field")
            .map(|f| f.trim_start_matches('0').to_owned())
            .map(|f| if f.is_empty() { "0".to_owned() } else { f })
            .unwrap_or_default();
        Some(PlatePosition {
            plate: group("plate").unwrap_or_default(),
            well,
            field,
        })
    }
}

/// Row 1 → A, 26 → Z, 27 → AA (1536-well plates have 32 rows).
fn row_letter(n: u32) -> Option<String> {
    let letter = |i: u32| char::from_u32(u32::from(b'A') + i);
    if n <= 26 {
        letter(n - 1).map(String::from)
    } else {
        Some(format!("{}{}", letter(0)?, letter(n - 27)?))
    }
}

fn normalise_well(w: &str) -> Option<String> {
    let split = w.find(|c: char| c.is_ascii_digit())?;
    let (row, column) = w.split_at(split);
    let column: u32 = column.parse().ok()?;
    Some(format!("{}{column:02}", row.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(plate: &str, well: &str, field: &str) -> Option<PlatePosition> {
        Some(PlatePosition {
            plate: plate.into(),
            well: well.into(),
            field: field.into(),
        })
    }

    #[test]
    fn operetta_exports() {
        let n = Naming::new("operetta").expect("preset");
        assert_eq!(
            n.parse(Path::new(
                "/data/Plate7__2024-03-01T10_00_00/Images/r03c05f02p01-ch1sk1fk1fl1.tiff"
            )),
            pos("Plate7__2024-03-01T10_00_00", "C05", "2")
        );
        assert_eq!(
            n.parse(Path::new("screen/P2/r16c24f10p01-ch2sk1fk1fl1.tiff")),
            pos("P2", "P24", "10")
        );
        assert_eq!(n.parse(Path::new("/data/P1/other.tif")), None);
    }

    #[test]
    fn metaxpress_exports() {
        let n = Naming::new("MetaXpress").expect("preset");
        assert_eq!(
            n.parse(Path::new(
                "/mx/Plate_0042/TimePoint_1/Plate_0042_B3_s2_w1A1B2C3.TIF"
            )),
            pos("Plate_0042", "B03", "2")
        );
        assert_eq!(
            n.parse(Path::new("run/PL1/H12_s1.tif")),
            pos("PL1", "H12", "1")
        );
    }

    #[test]
    fn custom_patterns_and_their_errors() {
        let n =
            Naming::new(r"(?P<plate>plate\d+)_(?P<well>[A-H]\d+)_f(?P<field>\d+)").expect("regex");
        assert_eq!(
            n.parse(Path::new("x/plate2_D7_f003.tif")),
            pos("plate2", "D07", "3")
        );
        assert!(Naming::new("(unclosed").is_err());
        let err = Naming::new(r"(?P<plate>\w+)").expect_err("no well group");
        assert!(format!("{err}").contains("needs a (?P<well>"), "{err}");
        assert_eq!(row_letter(1).as_deref(), Some("A"));
        assert_eq!(row_letter(32).as_deref(), Some("AF"));
    }
}
