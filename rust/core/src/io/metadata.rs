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
