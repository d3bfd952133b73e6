//! Training on several datasets at once: a sources file (YAML) lists each dataset's images, its
//! channels, where its targets come from and its pixel size; every field is resampled to the
//! one pixel size the model learns at. This is how a generalist model is trained, and how the
//! leave-one-dataset-out runs leave one out (a sources file without it).
//!
//! ```yaml
//! pixel_size: 0.619          # µm per pixel the model learns at [default: the first source's]
//! sources:
//!   - name: ndev scratch assay
//!     images: [data/ndev/scratch-assay-labeled-10T-2Ch.tiff]
//!     brightfield: oblique
//!     fluorescence: H3342     # targets from the stain
//!     frames: 0-6
//!     region: 0,0,384,210
//!   - name: BriFiSeg A549
//!     images: [brifiseg/A549/train/*.tif]   # globs, relative to this file's folder
//!     masks: [brifiseg/A549/train-labels/*.tif]  # or mask_channel: a channel of the images
//!     pixel_size: 0.3
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use brightseg::{Error, Result};

use super::fields::{load_fields, Field, FieldSpec, Frames, Region};

/// A sources file: datasets to train on together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// Pixel size (µm) the model learns at; every source is resampled to it.
    #[serde(default)]
    pub pixel_size: Option<f64>,
    /// The datasets.
    pub sources: Vec<Source>,
}

/// One dataset of a sources file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name, for messages and the model description.
    pub name: String,
    /// A line for the model description's training data (where the set comes from, licence).
    #[serde(default)]
    pub about: Option<String>,
    /// Image files or glob patterns, relative to the sources file's folder.
    pub images: Vec<String>,
    /// Transmitted-light channel (number from 1, or name).
    #[serde(default)]
    pub brightfield: Option<ChannelChoice>,
    /// Nuclear stain channel: targets are derived from it.
    #[serde(default)]
    pub fluorescence: Option<ChannelChoice>,
    /// Stain files (or globs), one per image in the same order.
    #[serde(default)]
    pub fluorescence_images: Vec<String>,
    /// Label images (or globs), one per image in the same order: targets from labels.
    #[serde(default)]
    pub masks: Vec<String>,
    /// A label channel of the images: targets from labels.
    #[serde(default)]
    pub mask_channel: Option<ChannelChoice>,
    /// Frames to use, e.g. "0-6" [default: all].
    #[serde(default)]
    pub frames: Option<String>,
    /// Region "x,y,width,height" in pixels [default: the whole plane].
    #[serde(default)]
    pub region: Option<String>,
    /// Pixel size in µm, overriding the files' calibration.
    #[serde(default)]
    pub pixel_size: Option<f64>,
}

/// A channel given as a number (from 1) or a name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChannelChoice {
    /// Channel number, from 1.
    Number(u32),
    /// Channel name.
    Name(String),
}

impl ChannelChoice {
    fn text(&self) -> String {
        match self {
            ChannelChoice::Number(n) => n.to_string(),
            ChannelChoice::Name(s) => s.clone(),
        }
    }
}

/// The fields of every source, at one pixel size.
#[derive(Debug, Clone)]
pub struct SourceFields {
    /// All fields, resampled to `pixel_um`.
    pub fields: Vec<Field>,
    /// µm per pixel of every field.
    pub pixel_um: f64,
    /// Per source: its name, how many fields it gave and a line for the model description.
    pub summary: Vec<SourceSummary>,
}

/// What one source contributed.
#[derive(Debug, Clone)]
pub struct SourceSummary {
    /// The source's name.
    pub name: String,
    /// Fields (planes) read.
    pub fields: usize,
    /// Its pixel size before resampling, µm.
    pub pixel_um: f64,
    /// A line for the model description.
    pub training_data: String,
}

impl SourcesFile {
    /// Reads and checks a sources file.
    pub fn read(path: &Path) -> Result<SourcesFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        let file: SourcesFile = serde_yaml_ng::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        file.check()
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))?;
        Ok(file)
    }

    fn check(&self) -> Result<()> {
        if self.sources.is_empty() {
            return Err(Error::invalid("no sources listed"));
        }
        let positive = |p: Option<f64>, what: &str| match p {
            Some(p) if !(p.is_finite() && p > 0.0) => Err(Error::invalid(format!(
                "{what}pixel_size {p} must be a positive number of µm"
            ))),
            _ => Ok(()),
        };
        positive(self.pixel_size, "")?;
        for s in &self.sources {
            positive(s.pixel_size, &format!("source '{}': ", s.name))?;
            let targets = [
                s.fluorescence.is_some(),
                !s.masks.is_empty(),
                s.mask_channel.is_some(),
            ];
            if targets.iter().filter(|&&t| t).count() != 1 {
                return Err(Error::invalid(format!(
                    "source '{}': give exactly one of fluorescence, masks or mask_channel (where \
                     its targets come from)",
                    s.name
                )));
            }
            if !s.fluorescence_images.is_empty() && s.fluorescence.is_none() {
                return Err(Error::invalid(format!(
                    "source '{}': fluorescence_images need fluorescence (the stain channel of \
                     those files, 1 for single-channel files)",
                    s.name
                )));
            }
        }
        Ok(())
    }

    /// Reads every source's fields (paths relative to `base`, the sources file's folder) and
    /// resamples them to the model's pixel size. `progress(source, done, total)` after each.
    pub fn load(
        &self,
        base: &Path,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<SourceFields> {
        let mut fields = Vec::new();
        let mut summary = Vec::new();
        let mut model_px = self.pixel_size;
        for (k, source) in self.sources.iter().enumerate() {
            let in_source = |e: Error| {
                Error::new(
                    e.kind(),
                    format!("source '{}': {}", source.name, e.message()),
                )
            };
            let images = expand(base, &source.images).map_err(in_source)?;
            if images.is_empty() {
                return Err(in_source(Error::invalid(format!(
                    "no images match {}",
                    source.images.join(", ")
                ))));
            }
            let spec = source.spec(base).map_err(in_source)?;
            let loaded = load_fields(&images, &spec).map_err(in_source)?;
            // Every field needs a pixel size; the source's is its first field's.
            let pixel_sizes: Option<Vec<f64>> = loaded.iter().map(|f| f.pixel_um).collect();
            let Some(&px) = pixel_sizes.as_deref().and_then(<[f64]>::first) else {
                return Err(in_source(Error::invalid(
                    "some images have no pixel size: give the source a pixel_size (µm)",
                )));
            };
            let model_px = *model_px.get_or_insert(px);
            let count = loaded.len();
            fields.extend(loaded.into_iter().map(|f| Field {
                dataset: k,
                ..f.resampled_to(model_px)
            }));
            let mut line = format!(
                "{}: {count} field(s) at {} µm/px",
                source.name,
                readable_um(px)
            );
            if let Some(about) = &source.about {
                line.push_str(&format!(" ({about})"));
            }
            summary.push(SourceSummary {
                name: source.name.clone(),
                fields: count,
                pixel_um: px,
                training_data: line,
            });
            progress(&source.name, k + 1, self.sources.len());
        }
        Ok(SourceFields {
            fields,
            pixel_um: model_px.unwrap_or(1.0),
            summary,
        })
    }
}

impl Source {
    fn spec(&self, base: &Path) -> Result<FieldSpec> {
        let frames = self
            .frames
            .as_deref()
            .map(str::parse::<Frames>)
            .transpose()
            .map_err(Error::invalid)?;
        let region = self
            .region
            .as_deref()
            .map(str::parse::<Region>)
            .transpose()
            .map_err(Error::invalid)?;
        Ok(FieldSpec {
            brightfield: self.brightfield.as_ref().map(ChannelChoice::text),
            fluorescence: self.fluorescence.as_ref().map(ChannelChoice::text),
            brightfield_option: "brightfield:",
            fluorescence_option: "fluorescence:",
            fluorescence_files: expand(base, &self.fluorescence_images)?,
            truth_channel: self.mask_channel.as_ref().map(ChannelChoice::text),
            truth_files: expand(base, &self.masks)?,
            background_files: Vec::new(),
            frames,
            region,
            pixel_um: self.pixel_size,
        })
    }
}

/// A pixel size for people: rounded to 6 decimals, so that a TIFF's 1/3533.57 reads 0.283.
pub fn readable_um(um: f64) -> f64 {
    (um * 1e6).round() / 1e6
}

/// Paths and glob patterns relative to `base`, each pattern's matches in name order.
fn expand(base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let full = base.join(pattern);
        if !pattern.contains(['*', '?', '[']) {
            out.push(full);
            continue;
        }
        let text = full.to_string_lossy();
        let mut matches: Vec<PathBuf> = glob::glob(&text)
            .map_err(|e| Error::invalid(format!("pattern '{pattern}': {e}")))?
            .filter_map(|m| m.ok())
            .collect();
        if matches.is_empty() {
            return Err(Error::invalid(format!("no files match '{pattern}'")));
        }
        matches.sort();
        out.extend(matches);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brightseg::image::Calibration;
    use brightseg::io::{write_tiff, OutputPlane};

    /// Writes `name`.tif (brightfield) and `name`-t.tif (stain, or labels when `labels`): a
    /// `size`² field with two square nuclei at `pixel_um`.
    fn write_field(dir: &Path, name: &str, size: usize, pixel_um: f64, labels: bool) {
        let mut bf = vec![1000u16; size * size];
        let mut target = vec![if labels { 0 } else { 100u16 }; size * size];
        for (k, c) in [10, size - 12].into_iter().enumerate() {
            for y in c - 4..c + 4 {
                for x in c - 4..c + 4 {
                    bf[y * size + x] = 600;
                    target[y * size + x] = if labels { k as u16 + 1 } else { 3000 };
                }
            }
        }
        for (plane, file) in [
            (bf, format!("{name}.tif")),
            (target, format!("{name}-t.tif")),
        ] {
            let out = [OutputPlane::Gray16(&plane)];
            write_tiff(
                &dir.join(file),
                size,
                size,
                &out,
                1,
                Calibration::square(pixel_um),
            )
            .expect("tiff");
        }
    }

    #[test]
    fn sources_of_two_pixel_sizes_and_two_kinds_of_targets_meet_at_one_pixel_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("a")).expect("mkdir");
        for i in 0..2 {
            write_field(&dir.path().join("a"), &format!("f{i}"), 48, 1.0, false);
        }
        write_field(dir.path(), "b", 96, 0.5, true);
        let yaml = "pixel_size: 1.0\nsources:\n  - name: stained\n    images: ['a/f?.tif']\n    \
                    fluorescence: 1\n    fluorescence_images: ['a/*-t.tif']\n  - name: labelled\n    \
                    images: [b.tif]\n    masks: [b-t.tif]\n    about: made up\n";
        let path = dir.path().join("sources.yaml");
        std::fs::write(&path, yaml).expect("write");
        let file = SourcesFile::read(&path).expect("read");
        let mut calls = Vec::new();
        let loaded = file
            .load(dir.path(), &mut |name, done, total| {
                calls.push((name.to_string(), done, total))
            })
            .expect("load");
        assert_eq!(loaded.fields.len(), 3);
        assert_eq!(loaded.pixel_um, 1.0);
        // The 96² field at 0.5 µm is resampled to 48² at 1 µm, and keeps its two nuclei.
        let b = &loaded.fields[2];
        assert_eq!((b.brightfield.width, b.brightfield.height), (48, 48));
        assert_eq!(b.pixel_um, Some(1.0));
        assert_eq!(b.truth.as_ref().map(|t| t.count), Some(2));
        assert!(loaded.fields[0].fluorescence.is_some() && loaded.fields[0].truth.is_none());
        assert_eq!(loaded.summary[1].pixel_um, 0.5);
        assert_eq!(
            loaded.summary[1].training_data,
            "labelled: 1 field(s) at 0.5 µm/px (made up)"
        );
        assert_eq!(
            calls,
            vec![("stained".into(), 1, 2), ("labelled".into(), 2, 2)]
        );
    }

    #[test]
    fn a_source_must_say_where_its_targets_come_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, "sources:\n  - name: x\n    images: [a.tif]\n").expect("write");
        let e = SourcesFile::read(&path).expect_err("no targets");
        assert!(
            e.message().contains("source 'x': give exactly one of"),
            "{e}"
        );
        std::fs::write(&path, "sources:\n  - name: x\n    image: [a.tif]\n").expect("write");
        let e = SourcesFile::read(&path).expect_err("typo");
        assert!(e.message().contains("unknown field `image`"), "{e}");
        std::fs::write(
            &path,
            "sources:\n  - name: x\n    images: ['nothing*.tif']\n    mask_channel: 2\n",
        )
        .expect("write");
        let file = SourcesFile::read(&path).expect("read");
        let e = file
            .load(dir.path(), &mut |_, _, _| {})
            .expect_err("no files");
        assert!(
            e.message()
                .contains("source 'x': no files match 'nothing*.tif'"),
            "{e}"
        );
    }
}
