//! Plate, well, field, channel and time point from image file names, for `brightseg merge
//! --naming` (the plate layout) and `brightseg find-nuclei --naming` (which channel's files).
//!
//! A naming is a regular expression over the image path (with `/` separators) with named groups:
//! `plate`, `well` (e.g. `B03`) or `row` + `column` (numbers or a row letter), `field`, and
//! optionally `channel` (a number), `time` (a time point number, from 1) and `plane` (a Z plane
//! number, from 1). Presets cover the usual exports:
//! - `operetta` (PerkinElmer/Revvity Harmony, Operetta, Opera Phenix): `…/<plate>/Images/
//!   r03c05f02p01-ch1sk1fk1fl1.tiff` (the plate is the folder above `Images`, or the parent;
//!   `p` is the plane, `sk` the time point);
//! - `metaxpress` (Molecular Devices ImageXpress/MetaXpress): `…/<plate>/[TimePoint_1/]
//!   [ZStep_1/]<name>_B03_s2_w1<id>.tif`;
//! - `cellvoyager` (Yokogawa CellVoyager CV7000/CV8000/CQ1): `…/<plate>/<name>_B03_T0001F002
//!   L01A01Z01C01.tif`.

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

/// What a file name says of an image: where it sits on its plate, and, when the naming has
/// those groups, its channel and time point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageName {
    /// Plate, well and field.
    pub position: PlatePosition,
    /// Channel number (`w1`, `C01`, `-ch1`), when the naming has a `channel` group that matched.
    pub channel: Option<u32>,
    /// Time point number from 1 (`TimePoint_2`, `T0002`, `sk2`), when the naming gives one.
    pub time: Option<usize>,
    /// Z plane number from 1 (`ZStep_2`, `Z02`, `p02`), when the naming gives one.
    pub plane: Option<usize>,
}

/// A compiled naming scheme.
#[derive(Debug)]
pub struct Naming {
    /// The pattern over paths; `None` for `ome` (plate positions from OME metadata only).
    regex: Option<Regex>,
}

const OPERETTA: &str = r"(?:^|/)(?P<plate>[^/]+)/(?:Images/)?r(?P<row>\d+)c(?P<column>\d+)f(?P<field>\d+)(?:p(?P<plane>\d+))?(?:-ch(?P<channel>\d+))?(?:sk(?P<time>\d+))?[^/]*$";
const METAXPRESS: &str = r"(?:^|/)(?P<plate>[^/]+)/(?:TimePoint_(?P<time>\d+)/)?(?:ZStep_(?P<plane>\d+)/)?(?:[^/]*_)?(?P<well>[A-Pa-p]\d{1,2})_s(?P<field>\d+)(?:_w(?P<channel>\d+))?[^/]*$";
const CELLVOYAGER: &str = r"(?:^|/)(?P<plate>[^/]+)/(?:[^/]*_)?(?P<well>[A-Pa-p]\d{2})_T(?P<time>\d{4})F(?P<field>\d{3})L\d{2}A\d{2}Z(?P<plane>\d{2})C(?P<channel>\d{2})[^/]*$";

/// The presets, as `--naming` takes them, for messages.
pub const PRESETS: &str = "operetta, metaxpress, cellvoyager, ome";

impl Naming {
    /// A preset name (`operetta`, alias `harmony`; `metaxpress`; `cellvoyager`, alias
    /// `yokogawa`; `ome`: only the plate wells of multi-series OME-TIFFs) or a regular
    /// expression.
    pub fn new(preset_or_regex: &str) -> Result<Naming> {
        if preset_or_regex.eq_ignore_ascii_case("ome") {
            return Ok(Naming { regex: None });
        }
        let pattern = match preset_or_regex.to_ascii_lowercase().as_str() {
            "operetta" | "harmony" | "opera" | "phenix" => OPERETTA,
            "metaxpress" | "imagexpress" => METAXPRESS,
            "cellvoyager" | "yokogawa" | "cv7000" | "cv8000" => CELLVOYAGER,
            _ => preset_or_regex,
        };
        let regex = Regex::new(pattern).with_context(|| {
            format!(
                "--naming {preset_or_regex}: not a preset ({PRESETS}) nor a valid regular \
                 expression"
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
        Ok(Naming { regex: Some(regex) })
    }

    /// What the name of `path` says, or None when it does not match. An image of a plate's
    /// multi-series OME-TIFF or OME-Zarr store (`plate.ome.tif#3`) is placed by the file's
    /// OME metadata instead.
    pub fn parse(&self, path: &Path) -> Option<ImageName> {
        if let Some(series) = crate::series::placed(path) {
            if let Some((row, column)) = series.place.well {
                return Some(ImageName {
                    position: PlatePosition {
                        plate: series.place.plate.unwrap_or_default(),
                        well: format!("{}{column:02}", row_letter(row)?),
                        field: series
                            .place
                            .field
                            .map(|f| f.to_string())
                            .unwrap_or_default(),
                    },
                    channel: None,
                    time: None,
                    plane: None,
                });
            }
        }
        let text = path.to_string_lossy().replace('\\', "/");
        let caps = self.regex.as_ref()?.captures(&text)?;
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
        let number = |name: &str| group(name).and_then(|n| n.parse::<u64>().ok());
        Some(ImageName {
            position: PlatePosition {
                plate: group("plate").unwrap_or_default(),
                well,
                field,
            },
            channel: number("channel").and_then(|c| u32::try_from(c).ok()),
            time: number("time")
                .and_then(|t| usize::try_from(t).ok())
                .filter(|&t| t > 0),
            plane: number("plane")
                .and_then(|z| usize::try_from(z).ok())
                .filter(|&z| z > 0),
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

    /// Where the naming places `path` on its plate.
    fn position(n: &Naming, path: &Path) -> Option<PlatePosition> {
        n.parse(path).map(|name| name.position)
    }

    /// The channel and time point the naming reads from `path`.
    fn channel_and_time(n: &Naming, path: &str) -> (Option<u32>, Option<usize>) {
        n.parse(Path::new(path))
            .map_or((None, None), |name| (name.channel, name.time))
    }

    #[test]
    fn operetta_exports() {
        let n = Naming::new("operetta").expect("preset");
        assert_eq!(
            position(
                &n,
                Path::new(
                    "/data/Plate7__2024-03-01T10_00_00/Images/r03c05f02p01-ch1sk1fk1fl1.tiff"
                )
            ),
            pos("Plate7__2024-03-01T10_00_00", "C05", "2")
        );
        assert_eq!(
            position(&n, Path::new("screen/P2/r16c24f10p01-ch2sk1fk1fl1.tiff")),
            pos("P2", "P24", "10")
        );
        assert_eq!(position(&n, Path::new("/data/P1/other.tif")), None);
    }

    #[test]
    fn metaxpress_exports() {
        let n = Naming::new("MetaXpress").expect("preset");
        assert_eq!(
            position(
                &n,
                Path::new("/mx/Plate_0042/TimePoint_1/Plate_0042_B3_s2_w1A1B2C3.TIF")
            ),
            pos("Plate_0042", "B03", "2")
        );
        assert_eq!(
            position(&n, Path::new("run/PL1/H12_s1.tif")),
            pos("PL1", "H12", "1")
        );
    }

    #[test]
    fn channels_and_time_points_of_the_presets() {
        let operetta = Naming::new("operetta").expect("preset");
        assert_eq!(
            channel_and_time(&operetta, "P/Images/r03c05f02p01-ch2sk3fk1fl1.tiff"),
            (Some(2), Some(3))
        );
        let mx = Naming::new("metaxpress").expect("preset");
        assert_eq!(
            channel_and_time(&mx, "/mx/P1/TimePoint_4/ZStep_2/P1_B3_s2_w2A1B2.TIF"),
            (Some(2), Some(4))
        );
        assert_eq!(channel_and_time(&mx, "run/PL1/H12_s1.tif"), (None, None));
        let plane = |n: &Naming, path: &str| n.parse(Path::new(path)).and_then(|name| name.plane);
        assert_eq!(
            plane(&mx, "/mx/P1/TimePoint_4/ZStep_2/P1_B3_s2_w2.TIF"),
            Some(2)
        );
        assert_eq!(plane(&mx, "/mx/P1/P1_B3_s2_w2.TIF"), None);
        assert_eq!(
            plane(&operetta, "P/Images/r03c05f02p03-ch2sk3fk1fl1.tiff"),
            Some(3)
        );
        assert_eq!(
            plane(&operetta, "P/Images/r03c05f02-ch2sk3fk1fl1.tiff"),
            None
        );
        let cv = Naming::new("CellVoyager").expect("preset");
        let name = cv
            .parse(Path::new(
                "/cv/Screen_1/AssayPlate_Greiner_#781091_C07_T0012F003L01A02Z01C02.tif",
            ))
            .expect("matches");
        assert_eq!(name.position, pos("Screen_1", "C07", "3").expect("some"));
        assert_eq!((name.channel, name.time), (Some(2), Some(12)));
        assert_eq!(name.plane, Some(1));
        // Not a CellVoyager image name.
        assert_eq!(
            cv.parse(Path::new("/cv/Screen_1/MeasurementData.mlf")),
            None
        );
    }

    #[test]
    fn custom_patterns_and_their_errors() {
        let n =
            Naming::new(r"(?P<plate>plate\d+)_(?P<well>[A-H]\d+)_f(?P<field>\d+)").expect("regex");
        assert_eq!(
            position(&n, Path::new("x/plate2_D7_f003.tif")),
            pos("plate2", "D07", "3")
        );
        assert!(Naming::new("(unclosed").is_err());
        let err = Naming::new(r"(?P<plate>\w+)").expect_err("no well group");
        assert!(format!("{err}").contains("needs a (?P<well>"), "{err}");
        assert_eq!(row_letter(1).as_deref(), Some("A"));
        assert_eq!(row_letter(32).as_deref(), Some("AF"));
    }
}
