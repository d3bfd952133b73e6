//! OME-Zarr (OME-NGFF 0.4 on Zarr v2, 0.5 on Zarr v3) images and HCS plates, read through the
//! `zarrs` crate plane by plane (only the chunks of the plane being read are decoded), as
//! napari, Fractal, MoBIE and `ome-zarr-py` write them.
//!
//! An image is a group whose attributes hold `multiscales` (under `ome` in 0.5): its axes
//! (`t`, `c`, `z`, `y`, `x`, those present, in that order), the full-resolution array (the first
//! dataset) and its scale. A plate is a group with `plate` (rows, columns, wells), each well a
//! group with `well` (its fields, each an image). brightseg reads the full-resolution level.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArraySubset};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::Group;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::image::{microns_per_unit, Calibration, Image, PixelData, Plane};
use crate::plate_map::PlatePlace;

/// One image of an OME-Zarr store, as [`list_images`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ZarrImage {
    /// Its group in the store (`""` for a store that is one image, `B/3/0` for a plate's field).
    pub group: String,
    /// Width in pixels (full resolution).
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// For a plate's field: the plate (its `name`, else the store's folder name; its size, as
    /// many rows and columns as it lists), the well and the field.
    pub place: PlatePlace,
}

/// Whether `path` is a Zarr group folder (`.zattrs`/`.zgroup` of Zarr v2, `zarr.json` of v3).
pub fn is_zarr(path: &Path) -> bool {
    path.is_dir()
        && (path.join("zarr.json").is_file()
            || path.join(".zgroup").is_file()
            || path.join(".zattrs").is_file())
}

/// What a store's messages call it.
fn not_readable(store: &Path, what: impl std::fmt::Display) -> Error {
    Error::image(format!(
        "{} is not an OME-Zarr image or plate brightseg can read: {what}",
        store.display()
    ))
}

struct Store {
    root: std::path::PathBuf,
    storage: Arc<FilesystemStore>,
}

impl Store {
    fn open(root: &Path) -> Result<Self> {
        let storage = FilesystemStore::new(root).map_err(|e| not_readable(root, e))?;
        Ok(Store {
            root: root.to_path_buf(),
            storage: Arc::new(storage),
        })
    }

    /// The OME attributes of a group: those under `ome` (NGFF 0.5), else the group's own.
    fn ome_attributes(&self, group: &str) -> Result<Map<String, Value>> {
        let path = if group.is_empty() {
            "/".to_owned()
        } else {
            format!("/{group}")
        };
        let opened = Group::open(self.storage.clone(), &path)
            .map_err(|e| not_readable(&self.root, format!("group {path:?}: {e}")))?;
        let attributes = opened.attributes();
        Ok(match attributes.get("ome").and_then(Value::as_object) {
            Some(ome) => ome.clone(),
            None => attributes.clone(),
        })
    }

    fn array(&self, path: &str) -> Result<Array<FilesystemStore>> {
        Array::open(self.storage.clone(), &format!("/{path}"))
            .map_err(|e| not_readable(&self.root, format!("array {path:?}: {e}")))
    }
}

/// What an image group's `multiscales` says of its full-resolution level.
struct Multiscale {
    /// The level-0 array's path in the store.
    array: String,
    /// Axis names, in array order.
    axes: Vec<String>,
    /// Size of a pixel along each axis, and the axis unit's size in µm where known.
    scale: Vec<f64>,
    units: Vec<Option<f64>>,
}

fn join(group: &str, child: &str) -> String {
    if group.is_empty() {
        child.trim_matches('/').to_owned()
    } else {
        format!("{group}/{}", child.trim_matches('/'))
    }
}

fn multiscale(store: &Store, group: &str, attributes: &Map<String, Value>) -> Result<Multiscale> {
    let bad = |what: String| not_readable(&store.root, format!("image {group:?}: {what}"));
    let first = attributes
        .get("multiscales")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .ok_or_else(|| bad("no multiscales".into()))?;
    let axes_value = first.get("axes").and_then(Value::as_array);
    let (axes, units): (Vec<String>, Vec<Option<f64>>) = match axes_value {
        Some(axes) => axes
            .iter()
            .map(|a| match a {
                // NGFF 0.3 listed names only.
                Value::String(name) => (name.clone(), None),
                other => (
                    other
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    other
                        .get("unit")
                        .and_then(Value::as_str)
                        .and_then(microns_per_unit),
                ),
            })
            .unzip(),
        None => (
            ["t", "c", "z", "y", "x"].map(str::to_owned).to_vec(),
            vec![None; 5],
        ),
    };
    let dataset = first
        .get("datasets")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .ok_or_else(|| bad("no datasets".into()))?;
    let path = dataset
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("its first dataset has no path".into()))?;
    // The dataset's scale, times the multiscale's own (NGFF applies both).
    let scale_of = |transforms: Option<&Value>| -> Option<Vec<f64>> {
        transforms?.as_array()?.iter().find_map(|t| {
            (t.get("type").and_then(Value::as_str) == Some("scale")).then(|| {
                t.get("scale")
                    .and_then(Value::as_array)
                    .map(|s| s.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
            })?
        })
    };
    let mut scale = scale_of(dataset.get("coordinateTransformations"))
        .filter(|s| s.len() == axes.len())
        .unwrap_or_else(|| vec![1.0; axes.len()]);
    if let Some(outer) =
        scale_of(first.get("coordinateTransformations")).filter(|s| s.len() == axes.len())
    {
        for (s, o) in scale.iter_mut().zip(outer) {
            *s *= o;
        }
    }
    Ok(Multiscale {
        array: join(group, path),
        axes,
        scale,
        units,
    })
}

/// The images of an OME-Zarr store: the store itself when it is an image, every field of every
/// well when it is a plate (wells in the plate's order, fields in each well's), the fields of a
/// well when it is a well. Refuses a store with none of these.
pub fn list_images(root: &Path) -> Result<Vec<ZarrImage>> {
    let store = Store::open(root)?;
    let attributes = store.ome_attributes("")?;
    let size = |group: &str, attributes: &Map<String, Value>| -> Result<(usize, usize)> {
        let scales = multiscale(&store, group, attributes)?;
        let array = store.array(&scales.array)?;
        let shape = array.shape();
        let dim = |from_end: usize| {
            shape
                .len()
                .checked_sub(from_end)
                .and_then(|i| usize::try_from(shape[i]).ok())
                .unwrap_or(0)
        };
        Ok((dim(1), dim(2)))
    };
    let fields_of = |well: &str,
                     plate: Option<String>,
                     plate_size: Option<(u32, u32)>,
                     position: Option<(u32, u32)>|
     -> Result<Vec<ZarrImage>> {
        let attributes = store.ome_attributes(well)?;
        let images = attributes
            .get("well")
            .and_then(|w| w.get("images"))
            .and_then(Value::as_array)
            .ok_or_else(|| not_readable(root, format!("well {well:?} lists no images")))?;
        let mut found = Vec::new();
        for (k, image) in images.iter().enumerate() {
            let Some(path) = image.get("path").and_then(Value::as_str) else {
                continue;
            };
            let group = join(well, path);
            let (width, height) = size(&group, &store.ome_attributes(&group)?)?;
            found.push(ZarrImage {
                group,
                width,
                height,
                place: PlatePlace {
                    plate: plate.clone(),
                    plate_size,
                    well: position,
                    field: u32::try_from(k + 1).ok(),
                },
            });
        }
        Ok(found)
    };
    if attributes.contains_key("multiscales") {
        let (width, height) = size("", &attributes)?;
        return Ok(vec![ZarrImage {
            group: String::new(),
            width,
            height,
            place: PlatePlace::default(),
        }]);
    }
    if let Some(plate) = attributes.get("plate") {
        let name = plate
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                root.file_name()
                    .map(|n| n.to_string_lossy().trim_end_matches(".zarr").to_owned())
            })
            .map(|n| n.trim_end_matches(".ome").to_owned());
        let names = |key: &str| -> Vec<String> {
            plate
                .get(key)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|r| {
                            r.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (rows, columns) = (names("rows"), names("columns"));
        let plate_size = u32::try_from(rows.len())
            .ok()
            .zip(u32::try_from(columns.len()).ok())
            .filter(|&(r, c)| r > 0 && c > 0);
        let wells = plate
            .get("wells")
            .and_then(Value::as_array)
            .ok_or_else(|| not_readable(root, "its plate lists no wells"))?;
        let mut found = Vec::new();
        for well in wells {
            let Some(path) = well.get("path").and_then(Value::as_str) else {
                continue;
            };
            let index = |key: &str, names: &[String], part: usize| -> Option<u32> {
                let from_key = well
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|i| u32::try_from(i).ok());
                // NGFF 0.3 wells have no indices: their path names the row and column.
                from_key
                    .or_else(|| {
                        let name = path.split('/').nth(part)?;
                        names
                            .iter()
                            .position(|n| n == name)
                            .and_then(|i| u32::try_from(i).ok())
                    })
                    .map(|i| i + 1)
            };
            let position = index("rowIndex", &rows, 0).zip(index("columnIndex", &columns, 1));
            found.extend(fields_of(path, name.clone(), plate_size, position)?);
        }
        return Ok(found);
    }
    if attributes.contains_key("well") {
        return fields_of("", None, None, None);
    }
    Err(not_readable(
        root,
        "its attributes hold no multiscales (image), plate or well",
    ))
}

/// Reads image `group` (see [`list_images`]) of the OME-Zarr store at `root`: its full
/// resolution, every (t, z) plane of every channel, with its pixel size (the `scale` of `x`
/// and `y` in their unit) and channel names (`omero` labels); refuses what would exceed
/// `budget` before reading a chunk.
pub fn read_image(root: &Path, group: &str, budget: MemoryBudget) -> Result<Image> {
    let store = Store::open(root)?;
    let attributes = store.ome_attributes(group)?;
    let scales = multiscale(&store, group, &attributes)?;
    let array = store.array(&scales.array)?;
    let shape: Vec<u64> = array.shape().to_vec();
    let bad = |what: String| not_readable(root, format!("image {group:?}: {what}"));
    if shape.len() != scales.axes.len() || shape.len() < 2 {
        return Err(bad(format!(
            "its array has {} dimensions but {} axes",
            shape.len(),
            scales.axes.len()
        )));
    }
    let axis = |name: &str| scales.axes.iter().position(|a| a == name);
    let (Some(y_axis), Some(x_axis)) = (axis("y"), axis("x")) else {
        return Err(bad(format!(
            "its axes ({}) have no y and x",
            scales.axes.join(", ")
        )));
    };
    for (i, a) in scales.axes.iter().enumerate() {
        if !["t", "c", "z", "y", "x"].contains(&a.as_str()) && shape[i] > 1 {
            return Err(bad(format!(
                "axis {a:?} of size {} is not one brightseg reads",
                shape[i]
            )));
        }
    }
    let size = |a: Option<usize>| a.map_or(Ok(1), |i| usize::try_from(shape[i]));
    let too_large = |_| bad("it is larger than this machine can address".into());
    let (w, h) = (
        size(Some(x_axis)).map_err(too_large)?,
        size(Some(y_axis)).map_err(too_large)?,
    );
    let (c, z, t) = (
        size(axis("c")).map_err(too_large)?,
        size(axis("z")).map_err(too_large)?,
        size(axis("t")).map_err(too_large)?,
    );
    // Its Zarr v3 name ("uint16"), which zarrs writes first ("uint16 / <u2" for a v2 array).
    let data_type = array
        .data_type()
        .to_string()
        .split(" / ")
        .next()
        .unwrap_or_default()
        .to_owned();
    let sample_bytes: u64 = match data_type.as_str() {
        "uint8" | "int8" => 1,
        "uint16" => 2,
        _ => 4,
    };
    let planes_total = (c * z * t) as u64;
    budget.check(
        (w as u64)
            .saturating_mul(h as u64)
            .saturating_mul(sample_bytes)
            .saturating_mul(planes_total),
        &format!(
            "reading {} image {group:?} ({w} × {h} pixels, {planes_total} plane(s))",
            root.display()
        ),
        "read fewer planes (one time point per store) or a lower resolution level",
    )?;
    let mut planes = Vec::with_capacity(c * z * t);
    for ti in 0..t {
        for zi in 0..z {
            for ci in 0..c {
                let ranges: Vec<std::ops::Range<u64>> = scales
                    .axes
                    .iter()
                    .enumerate()
                    .map(|(i, a)| match a.as_str() {
                        "t" => ti as u64..ti as u64 + 1,
                        "c" => ci as u64..ci as u64 + 1,
                        "z" => zi as u64..zi as u64 + 1,
                        "y" | "x" => 0..shape[i],
                        _ => 0..1,
                    })
                    .collect();
                let subset = ArraySubset::new_with_ranges(&ranges);
                let read_err = |e: zarrs::array::ArrayError| {
                    Error::image(format!(
                        "cannot read {} image {group:?} plane (t {ti}, z {zi}, c {ci}): {e}",
                        root.display()
                    ))
                };
                let data = match data_type.as_str() {
                    "uint8" => PixelData::U8(
                        array
                            .retrieve_array_subset::<Vec<u8>>(&subset)
                            .map_err(read_err)?,
                    ),
                    "uint16" => PixelData::U16(
                        array
                            .retrieve_array_subset::<Vec<u16>>(&subset)
                            .map_err(read_err)?,
                    ),
                    "float32" => PixelData::F32(
                        array
                            .retrieve_array_subset::<Vec<f32>>(&subset)
                            .map_err(read_err)?,
                    ),
                    "int8" => floats::<i8>(&array, &subset, read_err)?,
                    "int16" => floats::<i16>(&array, &subset, read_err)?,
                    "int32" => floats::<i32>(&array, &subset, read_err)?,
                    "uint32" => floats::<u32>(&array, &subset, read_err)?,
                    "float64" => floats::<f64>(&array, &subset, read_err)?,
                    other => {
                        return Err(bad(format!(
                            "its data type {other} is not one brightseg reads (integers of up \
                             to 32 bits, float32, float64)"
                        )))
                    }
                };
                planes.push(Plane::new(w, h, data)?);
            }
        }
    }
    let um = |i: usize| -> Option<f64> {
        let s = scales.scale.get(i).copied()?;
        let unit = scales.units.get(i).copied().flatten()?;
        Some(s * unit).filter(|v| v.is_finite() && *v > 0.0)
    };
    let calibration = Calibration {
        pixel_width_um: um(x_axis),
        pixel_height_um: um(y_axis).or(um(x_axis)),
    };
    let names: Vec<Option<String>> = attributes
        .get("omero")
        .and_then(|o| o.get("channels"))
        .and_then(Value::as_array)
        .map(|channels| {
            channels
                .iter()
                .map(|ch| ch.get("label").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let image = Image::new(planes, c, z, t, calibration)?;
    Ok(if names.len() == c {
        image.with_channel_names(names)
    } else {
        image
    })
}

/// A plane of a type read as 32-bit floats.
fn floats<T: Copy + Into<f64>>(
    array: &Array<FilesystemStore>,
    subset: &ArraySubset,
    read_err: impl Fn(zarrs::array::ArrayError) -> Error,
) -> Result<PixelData>
where
    Vec<T>: zarrs::array::FromArrayBytes,
{
    let values = array
        .retrieve_array_subset::<Vec<T>>(subset)
        .map_err(read_err)?;
    Ok(PixelData::F32(
        values.into_iter().map(|v| v.into() as f32).collect(),
    ))
}

/// The name of the label image brightseg writes into an OME-Zarr image (`labels/brightseg`).
pub const LABELS_NAME: &str = "brightseg";

/// Writes a label image into an OME-Zarr image as NGFF says (`<image>/labels/brightseg/0`,
/// listed in `<image>/labels`, with `image-label` pointing back at the image), in the image's
/// own format (Zarr v2 for NGFF 0.4, v3 for 0.5), so that napari, MoBIE and `ome-zarr-py` show
/// it over the image. Its axes are the image's without `c`, at the image's scale; it is written
/// band by band as the labels are found.
pub struct LabelsWriter {
    array: Array<FilesystemStore>,
    /// Label axes in array order (`t`, `z`, `y`, `x`, those the image has).
    axes: Vec<String>,
    width: u64,
}

impl LabelsWriter {
    /// Creates (or replaces) `labels/brightseg` in image `group` of the store at `root`.
    pub fn create(root: &Path, group: &str) -> Result<Self> {
        let store = Store::open(root)?;
        let attributes = store.ome_attributes(group)?;
        let scales = multiscale(&store, group, &attributes)?;
        let image = store.array(&scales.array)?;
        let v3 = root.join("zarr.json").is_file();
        let keep: Vec<usize> = (0..scales.axes.len())
            .filter(|&i| scales.axes[i] != "c")
            .collect();
        let axes: Vec<String> = keep.iter().map(|&i| scales.axes[i].clone()).collect();
        let shape: Vec<u64> = keep.iter().map(|&i| image.shape()[i]).collect();
        let scale: Vec<f64> = keep.iter().map(|&i| scales.scale[i]).collect();
        let axes_json: Vec<Value> = keep
            .iter()
            .map(|&i| {
                let name = &scales.axes[i];
                let kind = match name.as_str() {
                    "t" => "time",
                    _ => "space",
                };
                let mut axis = serde_json::json!({"name": name, "type": kind});
                if kind == "space" && scales.units[i].is_some() {
                    axis["unit"] = Value::from("micrometer");
                }
                axis
            })
            .collect();
        // Scales in micrometres where the image's unit is known, as the axes now say.
        let scale: Vec<f64> = keep
            .iter()
            .zip(scale)
            .map(|(&i, s)| scales.units[i].map_or(s, |u| s * u))
            .collect();
        let width = *shape.last().unwrap_or(&0);
        let height = shape.len().checked_sub(2).map_or(0, |i| shape[i]);
        let chunks: Vec<u64> = axes
            .iter()
            .map(|a| match a.as_str() {
                "y" => height.clamp(1, 1024),
                "x" => width.clamp(1, 1024),
                _ => 1,
            })
            .collect();
        let version = if v3 { "0.5" } else { "0.4" };
        let label_image = serde_json::json!({
            "multiscales": [{
                "version": version,
                "name": LABELS_NAME,
                "axes": axes_json,
                "datasets": [{
                    "path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": scale}],
                }],
            }],
            "image-label": {"version": version, "source": {"image": "../../"}},
        });
        let labels_dir = root.join(join(group, "labels"));
        let label_dir = labels_dir.join(LABELS_NAME);
        let array_dir = label_dir.join("0");
        if array_dir.exists() {
            std::fs::remove_dir_all(&array_dir)
                .map_err(|e| Error::io("replace the labels in", &array_dir, e))?;
        }
        std::fs::create_dir_all(&array_dir)
            .map_err(|e| Error::io("create the labels in", &array_dir, e))?;
        // Other label images of the image stay listed.
        let mut listed: Vec<Value> = store
            .ome_attributes(&join(group, "labels"))
            .ok()
            .and_then(|a| a.get("labels").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        if !listed.iter().any(|l| l.as_str() == Some(LABELS_NAME)) {
            listed.push(Value::from(LABELS_NAME));
        }
        let write = |path: std::path::PathBuf, json: Value| -> Result<()> {
            let text = serde_json::to_string_pretty(&json)
                .map_err(|e| Error::invalid(format!("label metadata: {e}")))?;
            crate::io::write_bytes_atomically(&path, text.as_bytes())
        };
        if v3 {
            let group_json = |ome: Value| serde_json::json!({"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome}});
            let labels_ome = serde_json::json!({"version": version, "labels": listed});
            write(labels_dir.join("zarr.json"), group_json(labels_ome))?;
            let mut label_ome = label_image.clone();
            label_ome["version"] = Value::from(version);
            write(label_dir.join("zarr.json"), group_json(label_ome))?;
            write(
                array_dir.join("zarr.json"),
                serde_json::json!({
                    "zarr_format": 3,
                    "node_type": "array",
                    "shape": shape,
                    "data_type": "uint32",
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
                    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                    "fill_value": 0,
                    "codecs": [
                        {"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "zstd", "configuration": {"level": 5, "checksum": false}},
                    ],
                    "dimension_names": axes,
                }),
            )?;
        } else {
            let zgroup = serde_json::json!({"zarr_format": 2});
            write(labels_dir.join(".zgroup"), zgroup.clone())?;
            write(
                labels_dir.join(".zattrs"),
                serde_json::json!({"labels": listed}),
            )?;
            write(label_dir.join(".zgroup"), zgroup)?;
            write(label_dir.join(".zattrs"), label_image)?;
            write(
                array_dir.join(".zarray"),
                serde_json::json!({
                    "zarr_format": 2,
                    "shape": shape,
                    "chunks": chunks,
                    "dtype": "<u4",
                    "compressor": {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0},
                    "fill_value": 0,
                    "order": "C",
                    "filters": null,
                    "dimension_separator": "/",
                }),
            )?;
        }
        let array = store.array(&join(group, &format!("labels/{LABELS_NAME}/0")))?;
        Ok(LabelsWriter { array, axes, width })
    }

    /// Writes `rows` (whole rows of labels, `rows.len() / width` of them) of plane (`t`, `z`)
    /// from row `first_row` on.
    pub fn write_rows(&self, t: usize, z: usize, first_row: usize, rows: &[u32]) -> Result<()> {
        let count = rows.len() as u64 / self.width.max(1);
        if count == 0 {
            return Ok(());
        }
        let first_row = first_row as u64;
        let ranges: Vec<std::ops::Range<u64>> = self
            .axes
            .iter()
            .map(|a| match a.as_str() {
                "t" => t as u64..t as u64 + 1,
                "z" => z as u64..z as u64 + 1,
                "y" => first_row..first_row + count,
                "x" => 0..self.width,
                _ => 0..1,
            })
            .collect();
        self.array
            .store_array_subset(&ArraySubset::new_with_ranges(&ranges), rows)
            .map_err(|e| Error::image(format!("cannot write the labels into the store: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes JSON to `path`, creating its folder.
    fn json(path: &Path, value: &Value) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(path, value.to_string()).expect("write");
    }

    /// An NGFF 0.5 image (Zarr v3, metadata under `ome`) of 2 time points × 2 channels, 3 × 4
    /// pixels of 0.5 µm, chunks smaller than the plane: read back plane by plane in order, with
    /// its pixel size and channel names; labels written into it as a v3 label image.
    #[test]
    fn an_ngff_0_5_image_is_read_and_takes_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("image.zarr");
        let axes = serde_json::json!([
            {"name": "t", "type": "time"},
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}
        ]);
        json(
            &root.join("zarr.json"),
            &serde_json::json!({"zarr_format": 3, "node_type": "group", "attributes": {"ome": {
                "version": "0.5",
                "multiscales": [{"axes": axes, "datasets": [{"path": "s0",
                    "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 0.5, 0.5]}]}]}],
                "omero": {"channels": [{"label": "BF"}, {"label": "DAPI"}]}
            }}}),
        );
        json(
            &root.join("s0/zarr.json"),
            &serde_json::json!({"zarr_format": 3, "node_type": "array", "shape": [2, 2, 3, 4],
                "data_type": "uint16",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1, 2, 3]}},
                "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}),
        );
        let store = Store::open(&root).expect("store");
        let array = store.array("s0").expect("array");
        let values: Vec<u16> = (0..48).collect();
        array
            .store_array_subset(
                &ArraySubset::new_with_ranges(&[0..2, 0..2, 0..3, 0..4]),
                values.as_slice(),
            )
            .expect("store");
        let listed = list_images(&root).expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].width, listed[0].height, listed[0].place.well),
            (4, 3, None)
        );
        let image = read_image(&root, "", MemoryBudget::unlimited()).expect("read");
        assert_eq!(
            (image.channels(), image.slices(), image.frames()),
            (2, 1, 2)
        );
        assert_eq!(image.calibration.pixel_width_um, Some(0.5));
        let dapi = image.resolve_channel(Some("DAPI")).expect("named");
        let plane = image.plane(dapi, 0, 1);
        // t 1, c 1 is the fourth plane of 12 values.
        assert_eq!(plane.value(0), 36.0);
        assert_eq!(plane.value(11), 47.0);
        let tiny = MemoryBudget::bytes(10);
        assert!(read_image(&root, "", tiny).is_err(), "over the budget");
        // Labels: t, y, x at the image's scale, band by band.
        let writer = LabelsWriter::create(&root, "").expect("labels");
        writer.write_rows(1, 0, 0, &[1, 1, 0, 0]).expect("row 0");
        writer
            .write_rows(1, 0, 1, &[0, 2, 2, 0, 0, 0, 0, 3])
            .expect("rows 1-2");
        let labels = store.array("labels/brightseg/0").expect("labels array");
        assert_eq!(labels.shape(), [2, 3, 4]);
        let read: Vec<u32> = labels
            .retrieve_array_subset::<Vec<u32>>(&ArraySubset::new_with_ranges(&[1..2, 0..3, 0..4]))
            .expect("read labels");
        assert_eq!(read, [1, 1, 0, 0, 0, 2, 2, 0, 0, 0, 0, 3]);
        let label_attributes = store.ome_attributes("labels/brightseg").expect("attrs");
        assert_eq!(label_attributes["image-label"]["source"]["image"], "../../");
        assert_eq!(
            label_attributes["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
                ["scale"],
            serde_json::json!([1.0, 0.5, 0.5])
        );
        assert_eq!(
            store.ome_attributes("labels").expect("labels group")["labels"],
            serde_json::json!(["brightseg"])
        );
    }

    #[test]
    fn a_store_without_ngff_metadata_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("plain.zarr");
        json(
            &root.join(".zgroup"),
            &serde_json::json!({"zarr_format": 2}),
        );
        assert!(is_zarr(&root));
        let err = list_images(&root).expect_err("no NGFF metadata");
        assert!(err.to_string().contains("no multiscales"), "{err}");
        assert!(!is_zarr(dir.path()));
    }
}
