//! Harmony / Opera Phenix / Operetta export folders: the index file (`Index.idx.xml`, or
//! `Index.xml` in older exports) that says which TIFF holds which plate, well, field, plane,
//! time point and channel, with the channels' names and pixel sizes.
//!
//! An export holds one single-plane TIFF per (well, field, plane, time point, channel), named
//! like `r02c03f01p01-ch1sk1fk1fl1.tiff`; nothing in the TIFFs says which channel is the
//! brightfield or how large a pixel is. Reading the index is what lets Find Nuclei segment the
//! brightfield channel only, at the right pixel size. The fields read are the ones
//! Bio-Formats' Operetta reader reads: `Plates/Plate` (PlateID, Name, PlateRows, PlateColumns),
//! `Images/Image` (URL, Row, Col, FieldID, PlaneID, TimepointID, ChannelID, and ChannelName
//! with ImageResolutionX/Y in older exports) and `Maps/Map/Entry[@ChannelID]` (ChannelName and
//! ImageResolutionX/Y in newer ones).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::Calibration;

/// Names the index file has in export folders, newest first.
pub const INDEX_NAMES: [&str; 2] = ["Index.idx.xml", "Index.xml"];

/// One channel of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmonyChannel {
    /// The channel's number in the export (`ChannelID`, from 1; `-chN` in file names).
    pub id: u32,
    /// Its name (`ChannelName`, e.g. "Brightfield", "HOECHST 33342"); empty when not given.
    pub name: String,
    /// Pixel size in µm (`ImageResolutionX`/`Y`), when the index gives it.
    pub calibration: Calibration,
}

/// One image file of an export: one plane of one channel of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmonyImage {
    /// The TIFF file (the index's `URL`, beside the index file).
    pub path: PathBuf,
    /// Plate row, from 1 (A = 1).
    pub row: u32,
    /// Plate column, from 1.
    pub column: u32,
    /// Field (site) number.
    pub field: u32,
    /// Z plane number.
    pub plane: u32,
    /// Time point number.
    pub timepoint: u32,
    /// Channel number (see [`HarmonyChannel::id`]).
    pub channel: u32,
}

impl HarmonyImage {
    /// The well as screening software names it: row letter(s) and two-digit column (`B03`).
    pub fn well(&self) -> String {
        well_name(self.row, self.column)
    }
}

/// What an export's index says.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmonyIndex {
    /// The index file read.
    pub index_file: PathBuf,
    /// The plate's name (`Name`, else `PlateID`); empty when not given.
    pub plate: String,
    /// Rows and columns of the plate (e.g. 8 × 12), when given.
    pub plate_size: Option<(u32, u32)>,
    /// The channels, by number.
    pub channels: Vec<HarmonyChannel>,
    /// The image files, in the index's order.
    pub images: Vec<HarmonyImage>,
    /// Image entries without a file (`URL` empty: a field that was not acquired).
    pub missing: usize,
}

/// The index file of an export folder: `folder` itself when it is an index file, else the
/// index in `folder` or in its `Images` sub-folder. `None` when there is none.
pub fn find_index(folder: &Path) -> Option<PathBuf> {
    if folder.is_file() {
        let name = folder.file_name()?.to_str()?;
        return INDEX_NAMES
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
            .then(|| folder.to_path_buf());
    }
    [folder.to_path_buf(), folder.join("Images")]
        .iter()
        .flat_map(|dir| INDEX_NAMES.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Reads an export's index file.
pub fn read_index(path: &Path) -> Result<HarmonyIndex> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    parse_index(&text, folder, path)
}

fn parse_index(text: &str, folder: &Path, index_file: &Path) -> Result<HarmonyIndex> {
    let bad = |what: String| {
        Error::image(format!(
            "{} is not a Harmony export index this version can read: {what}",
            index_file.display()
        ))
    };
    let doc = roxmltree::Document::parse(text).map_err(|e| bad(format!("{e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "EvaluationInputData" {
        return Err(bad(format!(
            "its root element is <{}>, not <EvaluationInputData>",
            root.tag_name().name()
        )));
    }
    let plate = child(root, "Plates").and_then(|p| child(p, "Plate"));
    let plate_name = plate
        .and_then(|p| text_of(p, "Name").or_else(|| text_of(p, "PlateID")))
        .unwrap_or_default();
    let plate_size = plate.and_then(|p| {
        Some((
            number::<u32>(p, "PlateRows")?,
            number::<u32>(p, "PlateColumns")?,
        ))
    });
    // Channels described once per channel (newer exports).
    let mut channels: BTreeMap<u32, HarmonyChannel> = BTreeMap::new();
    for entry in root
        .descendants()
        .filter(|n| n.has_tag_name("Entry") && n.parent().is_some_and(|p| p.has_tag_name("Map")))
    {
        let Some(id) = entry
            .attribute("ChannelID")
            .and_then(|v| v.trim().parse().ok())
        else {
            continue;
        };
        learn_channel(&mut channels, channel_of(entry, id));
    }
    let images_node =
        child(root, "Images").ok_or_else(|| bad("it has no <Images> element".to_owned()))?;
    let mut images = Vec::new();
    let mut missing = 0;
    for (k, image) in images_node
        .children()
        .filter(|n| n.has_tag_name("Image"))
        .enumerate()
    {
        let field_of = |name: &str| -> Result<u32> {
            number(image, name).ok_or_else(|| {
                bad(format!(
                    "image entry {} has no valid <{name}>",
                    text_of(image, "id").unwrap_or_else(|| (k + 1).to_string())
                ))
            })
        };
        let channel = field_of("ChannelID")?;
        // Older exports describe the channel on every image.
        learn_channel(&mut channels, channel_of(image, channel));
        let Some(url) = text_of(image, "URL") else {
            missing += 1;
            continue;
        };
        images.push(HarmonyImage {
            path: folder.join(url),
            row: field_of("Row")?,
            column: field_of("Col")?,
            field: field_of("FieldID")?,
            plane: number(image, "PlaneID").unwrap_or(1),
            timepoint: number(image, "TimepointID").unwrap_or(0),
            channel,
        });
    }
    if images.is_empty() {
        return Err(bad("it lists no image files".to_owned()));
    }
    Ok(HarmonyIndex {
        index_file: index_file.to_path_buf(),
        plate: plate_name,
        plate_size,
        channels: channels.into_values().collect(),
        images,
        missing,
    })
}

impl HarmonyIndex {
    /// The channels as `1 (Brightfield), 2 (HOECHST 33342)`, for messages.
    pub fn channel_listing(&self) -> String {
        self.channels
            .iter()
            .map(|c| {
                if c.name.is_empty() {
                    c.id.to_string()
                } else {
                    format!("{} ({})", c.id, c.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The channel `choice` names: a channel name (any case) or number; with no choice, the
    /// only channel. Errors list the channels there are.
    pub fn resolve_channel(&self, choice: Option<&str>) -> Result<&HarmonyChannel> {
        let Some(choice) = choice.map(str::trim).filter(|s| !s.is_empty()) else {
            return match self.channels.as_slice() {
                [only] => Ok(only),
                _ => Err(Error::invalid(format!(
                    "the export {} holds {} channels: choose the transmitted-light one with \
                     --channel (channels: {})",
                    self.index_file.display(),
                    self.channels.len(),
                    self.channel_listing()
                ))),
            };
        };
        let by_name = self
            .channels
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(choice));
        let by_number = || {
            let n: u32 = choice.parse().ok()?;
            self.channels.iter().find(|c| c.id == n)
        };
        by_name.or_else(by_number).ok_or_else(|| {
            Error::invalid(format!(
                "the export {} has no channel \"{choice}\": its channels are {}",
                self.index_file.display(),
                self.channel_listing()
            ))
        })
    }

    /// The image files of one channel, in plate order (row, column, field, time point, plane).
    pub fn images_of(&self, channel: u32) -> Vec<&HarmonyImage> {
        let mut chosen: Vec<&HarmonyImage> = self
            .images
            .iter()
            .filter(|i| i.channel == channel)
            .collect();
        chosen.sort_by_key(|i| (i.row, i.column, i.field, i.timepoint, i.plane));
        chosen
    }
}

/// Row 1 → A, 26 → Z, 27 → AA (1536-well plates have 32 rows), and the column in two digits.
pub fn well_name(row: u32, column: u32) -> String {
    let letter = |i: u32| char::from_u32(u32::from(b'A') + i).unwrap_or('?');
    let row = match row {
        1..=26 => letter(row - 1).to_string(),
        27.. => format!("A{}", letter(row - 27)),
        0 => "?".to_owned(),
    };
    format!("{row}{column:02}")
}

/// Adds what `described` says of its channel to `channels`, where nothing was known yet.
fn learn_channel(channels: &mut BTreeMap<u32, HarmonyChannel>, described: HarmonyChannel) {
    let known = channels
        .entry(described.id)
        .or_insert_with(|| described.clone());
    if known.name.is_empty() {
        known.name = described.name;
    }
    if known.calibration.pixel_width_um.is_none() {
        known.calibration = described.calibration;
    }
}

/// The channel an `Entry` or `Image` element describes.
fn channel_of(node: roxmltree::Node<'_, '_>, id: u32) -> HarmonyChannel {
    let metres = |name: &str| -> Option<f64> {
        let n = child(node, name)?;
        let value: f64 = n.text()?.trim().parse().ok()?;
        let per_metre = match n.attribute("Unit").map(str::trim).unwrap_or("m") {
            "m" => 1e6,
            "mm" => 1e3,
            "um" | "µm" => 1.0,
            "nm" => 1e-3,
            _ => return None,
        };
        Some(value * per_metre).filter(|v| v.is_finite() && *v > 0.0)
    };
    let width = metres("ImageResolutionX");
    HarmonyChannel {
        id,
        name: text_of(node, "ChannelName").unwrap_or_default(),
        calibration: Calibration {
            pixel_width_um: width,
            pixel_height_um: metres("ImageResolutionY").or(width),
        },
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.tag_name().name() == name)
}

/// The trimmed text of child `name`, when not empty.
fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    let text = child(node, name)?.text()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn number<T: std::str::FromStr>(node: roxmltree::Node<'_, '_>, name: &str) -> Option<T> {
    text_of(node, name)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index as Harmony 4.9+ writes it: channels in Maps, images by number only.
    const NEWER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<EvaluationInputData xmlns="http://www.perkinelmer.com/PEHH/HarmonyV6" Version="2">
  <Plates><Plate><PlateID>1a2b</PlateID><Name>Screen-7</Name>
    <PlateRows>8</PlateRows><PlateColumns>12</PlateColumns></Plate></Plates>
  <Maps><Map>
    <Entry ChannelID="1"><ChannelName>Brightfield</ChannelName>
      <ImageResolutionX Unit="m">3.112E-07</ImageResolutionX>
      <ImageResolutionY Unit="m">3.112E-07</ImageResolutionY></Entry>
    <Entry ChannelID="2"><ChannelName>HOECHST 33342</ChannelName>
      <ImageResolutionX Unit="m">3.112E-07</ImageResolutionX></Entry>
  </Map></Maps>
  <Images>
    <Image Version="1"><id>0202K1F1P1R2</id><URL>r02c02f01p01-ch2sk1fk1fl1.tiff</URL>
      <Row>2</Row><Col>2</Col><FieldID>1</FieldID><PlaneID>1</PlaneID><TimepointID>0</TimepointID>
      <ChannelID>2</ChannelID></Image>
    <Image Version="1"><id>0202K1F1P1R1</id><URL>r02c02f01p01-ch1sk1fk1fl1.tiff</URL>
      <Row>2</Row><Col>2</Col><FieldID>1</FieldID><PlaneID>1</PlaneID><TimepointID>0</TimepointID>
      <ChannelID>1</ChannelID></Image>
    <Image Version="1"><id>0101K1F2P1R1</id><URL>r01c01f02p01-ch1sk1fk1fl1.tiff</URL>
      <Row>1</Row><Col>1</Col><FieldID>2</FieldID><PlaneID>1</PlaneID><TimepointID>0</TimepointID>
      <ChannelID>1</ChannelID></Image>
    <Image Version="1"><id>0101K1F1P1R1</id><URL></URL>
      <Row>1</Row><Col>1</Col><FieldID>1</FieldID><PlaneID>1</PlaneID><TimepointID>0</TimepointID>
      <ChannelID>1</ChannelID></Image>
  </Images>
</EvaluationInputData>"#;

    /// An older index: every image names its channel and pixel size.
    const OLDER: &str = r#"<EvaluationInputData xmlns="http://www.perkinelmer.com/PEHH/HarmonyV5">
  <Plates><Plate><PlateID>P1</PlateID></Plate></Plates>
  <Images>
    <Image><URL>r03c05f02p01-ch1sk1fk1fl1.tiff</URL><Row>3</Row><Col>5</Col><FieldID>2</FieldID>
      <PlaneID>1</PlaneID><TimepointID>0</TimepointID><ChannelID>1</ChannelID>
      <ChannelName>DAPI &amp; co</ChannelName>
      <ImageResolutionX Unit="m">6.5E-07</ImageResolutionX></Image>
  </Images>
</EvaluationInputData>"#;

    #[test]
    fn a_newer_index_gives_channels_pixel_sizes_and_files_in_plate_order() {
        let folder = Path::new("/plates/Screen-7/Images");
        let index = parse_index(NEWER, folder, &folder.join("Index.idx.xml")).expect("index");
        assert_eq!(index.plate, "Screen-7");
        assert_eq!(index.plate_size, Some((8, 12)));
        assert_eq!(
            index.channel_listing(),
            "1 (Brightfield), 2 (HOECHST 33342)"
        );
        assert_eq!(index.missing, 1);
        let bright = index.resolve_channel(Some("brightfield")).expect("by name");
        assert_eq!(bright.id, 1);
        let um = bright.calibration.pixel_width_um.expect("pixel size");
        assert!((um - 0.3112).abs() < 1e-12, "{um}");
        // Y falls back to X where only X is given.
        let stain = index.resolve_channel(Some("2")).expect("by number");
        assert_eq!(
            stain.calibration.pixel_height_um,
            stain.calibration.pixel_width_um
        );
        let files: Vec<(String, u32, PathBuf)> = index
            .images_of(1)
            .iter()
            .map(|i| (i.well(), i.field, i.path.clone()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "A01".into(),
                    2,
                    folder.join("r01c01f02p01-ch1sk1fk1fl1.tiff")
                ),
                (
                    "B02".into(),
                    1,
                    folder.join("r02c02f01p01-ch1sk1fk1fl1.tiff")
                ),
            ]
        );
        // No choice among two channels, or a wrong one: the channels are listed.
        for choice in [None, Some("Phase"), Some("3")] {
            let err = index.resolve_channel(choice).expect_err("no such channel");
            assert!(
                err.to_string()
                    .contains("1 (Brightfield), 2 (HOECHST 33342)"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_older_index_describes_channels_on_each_image() {
        let index = parse_index(OLDER, Path::new("x"), Path::new("x/Index.xml")).expect("index");
        assert_eq!(index.plate, "P1");
        assert_eq!(index.plate_size, None);
        let only = index.resolve_channel(None).expect("the only channel");
        assert_eq!(only.name, "DAPI & co");
        let um = only.calibration.pixel_width_um.expect("pixel size");
        assert!((um - 0.65).abs() < 1e-12);
        assert_eq!(index.images[0].well(), "C05");
    }

    #[test]
    fn what_is_not_an_index_is_refused_with_the_reason() {
        for (text, reason) in [
            ("<OME/>", "root element is <OME>"),
            ("<EvaluationInputData/>", "no <Images>"),
            ("not xml", "not a Harmony export index"),
            (
                "<EvaluationInputData><Images><Image><URL>a.tif</URL><Row>1</Row>\
                 <ChannelID>1</ChannelID></Image></Images></EvaluationInputData>",
                "no valid <Col>",
            ),
        ] {
            let err = parse_index(text, Path::new("."), Path::new("Index.xml"))
                .expect_err("not an index");
            assert!(err.to_string().contains(reason), "{reason}: {err}");
        }
        assert_eq!(well_name(16, 24), "P24");
        assert_eq!(well_name(32, 48), "AF48");
    }
}
