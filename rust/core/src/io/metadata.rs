//! What image files say about themselves: the ImageJ description and OME-XML (dimensions,
//! dimension order, channel names, series and pixel size).

/// Dimensions and calibration from an ImageJ `ImageDescription` ("ImageJ=1.53t\nchannels=2…").
#[derive(Debug, Default, PartialEq)]
pub(super) struct ImageJMeta {
    pub(super) channels: Option<usize>,
    pub(super) slices: Option<usize>,
    pub(super) frames: Option<usize>,
    pub(super) unit_to_um: Option<f64>,
}

pub(super) fn parse_imagej_description(desc: &str) -> Option<ImageJMeta> {
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
pub(super) fn unit_to_um(unit: &str) -> Option<f64> {
    crate::image::microns_per_unit(unit)
}

/// Dimensions, order and calibration from OME-XML.
#[derive(Debug, Default)]
pub(super) struct OmeMeta {
    pub(super) size_c: usize,
    pub(super) size_z: usize,
    pub(super) size_t: usize,
    pub(super) dimension_order: String,
    pub(super) pixel_width_um: Option<f64>,
    pub(super) pixel_height_um: Option<f64>,
    pub(super) channel_names: Vec<Option<String>>,
    /// Names (or IDs) of the images (series) the file holds.
    pub(super) series: Vec<String>,
}

pub(super) fn parse_ome_xml(xml: &str) -> Option<OmeMeta> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let pixels = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Pixels")?;
    let size = |name: &str| pixels.attribute(name).and_then(|v| v.parse::<usize>().ok());
    let physical = |axis: &str| physical_size_um(pixels, axis);
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

/// The size of a pixel along `axis` ("X", "Y") in µm, from an OME `Pixels` element's
/// `PhysicalSize{axis}` and its unit (µm when not given).
fn physical_size_um(pixels: roxmltree::Node<'_, '_>, axis: &str) -> Option<f64> {
    let value = pixels
        .attribute(format!("PhysicalSize{axis}").as_str())?
        .parse::<f64>()
        .ok()?;
    let unit = pixels
        .attribute(format!("PhysicalSize{axis}Unit").as_str())
        .unwrap_or("µm");
    Some(value * unit_to_um(unit)?).filter(|v| *v > 0.0 && v.is_finite())
}

/// Maps IFD index `i` in OME `order` (e.g. "XYZCT": z fastest) to (c, z, t).
pub(super) fn ome_plane_index(
    order: &str,
    i: usize,
    c: usize,
    z: usize,
    t: usize,
) -> (usize, usize, usize) {
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

/// One image (series) of an OME-XML document: its size, planes and where they are, and the
/// plate well and field it was imaged in when the document describes a plate.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OmeSeriesMeta {
    pub(super) name: String,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) size_c: usize,
    pub(super) size_z: usize,
    pub(super) size_t: usize,
    pub(super) pixel_width_um: Option<f64>,
    pub(super) pixel_height_um: Option<f64>,
    pub(super) channel_names: Vec<Option<String>>,
    /// The file page (IFD) of each plane, in (t, z, c) order, c fastest.
    pub(super) pages: Vec<usize>,
    pub(super) place: crate::plate_map::PlatePlace,
}

/// Every image of an OME-XML document with the file page of each of its planes, for a file
/// whose images are all in it (`file_name`: the TIFF holding the XML). Err with what is not
/// understood: planes in other files, a `TiffData` mapping that does not cover every plane,
/// a size or dimension order that is not one.
pub(super) fn parse_ome_series(xml: &str, file_name: &str) -> Result<Vec<OmeSeriesMeta>, String> {
    let doc =
        roxmltree::Document::parse(xml).map_err(|e| format!("its OME-XML is invalid: {e}"))?;
    let is =
        |n: &roxmltree::Node<'_, '_>, name: &str| n.is_element() && n.tag_name().name() == name;
    // Image ID → (plate name, plate size, row, column, field) from Plate/Well/WellSample.
    type Place = (Option<String>, Option<(u32, u32)>, u32, u32, u32);
    let mut placed: std::collections::HashMap<&str, Place> = std::collections::HashMap::new();
    for plate in doc.descendants().filter(|n| is(n, "Plate")) {
        let plate_name = plate
            .attribute("Name")
            .or_else(|| plate.attribute("ID"))
            .map(str::to_owned);
        let count = |name: &str| plate.attribute(name).and_then(|v| v.parse::<u32>().ok());
        let plate_size = count("Rows").zip(count("Columns"));
        for well in plate.children().filter(|n| is(n, "Well")) {
            let index = |name: &str| well.attribute(name).and_then(|v| v.parse::<u32>().ok());
            let (Some(row), Some(column)) = (index("Row"), index("Column")) else {
                continue;
            };
            let samples = well.children().filter(|n| is(n, "WellSample"));
            for (k, sample) in samples.enumerate() {
                let image = sample
                    .children()
                    .find(|n| is(n, "ImageRef"))
                    .and_then(|r| r.attribute("ID"));
                if let Some(id) = image {
                    let field = u32::try_from(k + 1).unwrap_or(u32::MAX);
                    placed.insert(
                        id,
                        (plate_name.clone(), plate_size, row + 1, column + 1, field),
                    );
                }
            }
        }
    }
    let mut series = Vec::new();
    let mut next_page = 0usize;
    for image in doc.descendants().filter(|n| is(n, "Image")) {
        let Some(pixels) = image.children().find(|n| is(n, "Pixels")) else {
            continue;
        };
        let id = image.attribute("ID").unwrap_or("?");
        let name = image.attribute("Name").unwrap_or(id).to_owned();
        let size = |attr: &str| -> Result<usize, String> {
            pixels
                .attribute(attr)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("image {name:?} has no valid {attr}"))
        };
        let (width, height) = (size("SizeX")?, size("SizeY")?);
        let (c, z, t) = (size("SizeC")?, size("SizeZ")?, size("SizeT")?);
        let planes = c * z * t;
        let order = pixels.attribute("DimensionOrder").unwrap_or("XYCZT");
        if !["XYCZT", "XYCTZ", "XYZCT", "XYZTC", "XYTCZ", "XYTZC"].contains(&order) {
            return Err(format!("image {name:?} has dimension order {order:?}"));
        }
        // Plane number in the dimension order → (c, z, t) → slot (t, z, c), c fastest.
        let slot = |i: usize| {
            let (ci, zi, ti) = ome_plane_index(order, i, c, z, t);
            (ti * z + zi) * c + ci
        };
        let mut pages: Vec<Option<usize>> = vec![None; planes];
        let tiff_data: Vec<roxmltree::Node<'_, '_>> =
            pixels.children().filter(|n| is(n, "TiffData")).collect();
        if tiff_data.is_empty() {
            for (i, page) in (next_page..next_page + planes).enumerate() {
                pages[slot(i)] = Some(page);
            }
        } else {
            for data in &tiff_data {
                if let Some(uuid) = data.children().find(|n| is(n, "UUID")) {
                    let other = uuid.attribute("FileName").unwrap_or("");
                    if !other.is_empty() && other != file_name {
                        return Err(format!(
                            "image {name:?} has planes in another file ({other}): a multi-file \
                             OME-TIFF set"
                        ));
                    }
                }
                let attr = |a: &str| data.attribute(a).and_then(|v| v.parse::<usize>().ok());
                let ifd = attr("IFD").unwrap_or(0);
                let count =
                    attr("PlaneCount").unwrap_or(if tiff_data.len() == 1 { planes } else { 1 });
                let (fc, fz, ft) = (
                    attr("FirstC").unwrap_or(0),
                    attr("FirstZ").unwrap_or(0),
                    attr("FirstT").unwrap_or(0),
                );
                if fc >= c || fz >= z || ft >= t {
                    return Err(format!("image {name:?} has a TiffData outside its planes"));
                }
                let first = (0..planes)
                    .find(|&i| ome_plane_index(order, i, c, z, t) == (fc, fz, ft))
                    .unwrap_or(0);
                for k in 0..count {
                    if first + k < planes {
                        pages[slot(first + k)] = Some(ifd + k);
                    }
                }
            }
        }
        let pages: Vec<usize> = pages
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| format!("image {name:?} does not say which page holds every plane"))?;
        next_page = pages.iter().max().map_or(next_page, |&p| p + 1);
        let physical = |axis: &str| physical_size_um(pixels, axis);
        let place = placed.get(id);
        series.push(OmeSeriesMeta {
            name,
            width,
            height,
            size_c: c,
            size_z: z,
            size_t: t,
            pixel_width_um: physical("X"),
            pixel_height_um: physical("Y"),
            channel_names: pixels
                .children()
                .filter(|n| is(n, "Channel"))
                .map(|n| n.attribute("Name").map(str::to_owned))
                .collect(),
            pages,
            place: place.map_or_else(Default::default, |p| crate::plate_map::PlatePlace {
                plate: p.0.clone(),
                plate_size: p.1,
                well: Some((p.2, p.3)),
                field: Some(p.4),
            }),
        });
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images as Bio-Formats writes a plate: one TiffData per plane with its first C/Z/T,
    /// the second image's planes in reverse page order, Plate/Well/WellSample links.
    const PLATE: &str = r#"<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
      <Plate ID="Plate:0" Name="P1" Rows="16" Columns="24"><Well ID="Well:0" Row="1" Column="2">
        <WellSample ID="WS:0" Index="0"><ImageRef ID="Image:1"/></WellSample>
        <WellSample ID="WS:1" Index="1"><ImageRef ID="Image:0"/></WellSample></Well></Plate>
      <Image ID="Image:0" Name="first"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16"
        SizeX="4" SizeY="3" SizeC="2" SizeZ="1" SizeT="1" PhysicalSizeX="650" PhysicalSizeXUnit="nm">
        <Channel ID="C:0:0" Name="BF"/><Channel ID="C:0:1"/>
        <TiffData FirstC="0" IFD="0" PlaneCount="1"/><TiffData FirstC="1" IFD="1" PlaneCount="1"/>
      </Pixels></Image>
      <Image ID="Image:1"><Pixels ID="Pixels:1" DimensionOrder="XYCZT" Type="uint16" SizeX="5"
        SizeY="5" SizeC="1" SizeZ="2" SizeT="1">
        <TiffData FirstZ="0" IFD="3" PlaneCount="1"/><TiffData FirstZ="1" IFD="2" PlaneCount="1"/>
      </Pixels></Image></OME>"#;

    #[test]
    fn every_image_with_its_pages_and_its_well() {
        let series = parse_ome_series(PLATE, "plate.ome.tif").expect("parse");
        assert_eq!(series.len(), 2);
        let (a, b) = (&series[0], &series[1]);
        assert_eq!(
            (a.name.as_str(), a.width, a.height, a.size_c),
            ("first", 4, 3, 2)
        );
        assert_eq!(a.pages, [0, 1]);
        assert_eq!(a.pixel_width_um, Some(0.65));
        assert_eq!(a.channel_names, [Some("BF".to_owned()), None]);
        assert_eq!(
            (a.place.plate.as_deref(), a.place.well, a.place.field),
            (Some("P1"), Some((2, 3)), Some(2))
        );
        assert_eq!(a.place.plate_size, Some((16, 24)));
        assert_eq!(b.name, "Image:1");
        assert_eq!(b.pages, [3, 2], "z 0 on page 3, z 1 on page 2");
        assert_eq!((b.place.well, b.place.field), (Some((2, 3)), Some(1)));
    }

    #[test]
    fn images_without_tiff_data_follow_each_other_and_the_rest_is_refused() {
        let two = |extra: &str| {
            format!(
                r#"<OME><Image ID="Image:0"><Pixels SizeX="2" SizeY="2" SizeC="1" SizeZ="3"
                SizeT="1" DimensionOrder="XYCZT"/></Image><Image ID="Image:1"><Pixels SizeX="2"
                SizeY="2" SizeC="2" SizeZ="1" SizeT="1" DimensionOrder="XYCZT">{extra}</Pixels>
                </Image></OME>"#
            )
        };
        let series = parse_ome_series(&two(""), "a.ome.tif").expect("parse");
        assert_eq!(series[0].pages, [0, 1, 2]);
        assert_eq!(series[1].pages, [3, 4]);
        assert!(series[0].place.well.is_none());
        let elsewhere = two(
            r#"<TiffData IFD="0" PlaneCount="2"><UUID FileName="b.ome.tif">u</UUID></TiffData>"#,
        );
        let err = parse_ome_series(&elsewhere, "a.ome.tif").expect_err("other file");
        assert!(err.contains("b.ome.tif"), "{err}");
        let short = two(r#"<TiffData IFD="3" PlaneCount="1"/>"#);
        let err = parse_ome_series(&short, "a.ome.tif").expect_err("a plane without a page");
        assert!(err.contains("every plane"), "{err}");
    }
}
