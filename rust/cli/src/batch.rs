//! `batch.yaml`, written into every output folder when a batch starts: the settings, the shard
//! and the inputs of the batch. It lets a rerun refuse to mix outputs of other settings into the
//! folder, and lets `brightseg merge` check that shards fit together (same settings, every image
//! exactly once).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// File name of the record inside an output folder.
pub const BATCH_FILE: &str = "batch.yaml";

/// The settings that decide the numbers in the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Model name (from its description).
    pub model: String,
    /// Threshold asked for (none: the model's default).
    pub threshold: Option<f32>,
    /// Minimum size asked for, µm² (none: the model's default).
    pub min_size_um2: Option<f64>,
    /// Channel asked for.
    pub channel: Option<String>,
    /// Pixel size forced, µm.
    pub pixel_size_um: Option<f64>,
    /// Touching nuclei split.
    pub split: bool,
    /// Split depth in the model's pixels: the one asked for, else the model's (none: a record
    /// older than model-chosen depths).
    pub split_depth_px: Option<f32>,
    /// Refinement of the mask asked for (none given: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine: Option<String>,
    /// Artifact model whose objects exclude nuclei (none: no exclusion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_artifacts: Option<String>,
}

impl Settings {
    /// The differences to `other`, one "name: ours → theirs" each.
    pub fn differences(&self, other: &Settings) -> Vec<String> {
        let mut d = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{name}: {a} → {b}"));
            }
        };
        check("model", self.model.clone(), other.model.clone());
        check("threshold", show(self.threshold), show(other.threshold));
        check(
            "min size",
            show(self.min_size_um2),
            show(other.min_size_um2),
        );
        check(
            "channel",
            show(self.channel.as_ref()),
            show(other.channel.as_ref()),
        );
        check(
            "pixel size",
            show(self.pixel_size_um),
            show(other.pixel_size_um),
        );
        check("split", self.split.to_string(), other.split.to_string());
        check(
            "split depth",
            show(self.split_depth_px),
            show(other.split_depth_px),
        );
        check(
            "refine",
            show(self.refine.as_ref()),
            show(other.refine.as_ref()),
        );
        check(
            "artifact exclusion",
            self.exclude_artifacts
                .clone()
                .unwrap_or_else(|| "none".into()),
            other
                .exclude_artifacts
                .clone()
                .unwrap_or_else(|| "none".into()),
        );
        d
    }
}

fn show<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "model default".to_owned(), |v| v.to_string())
}

/// What one run of `find-nuclei` into one folder was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// brightseg version that wrote the folder.
    pub brightseg_version: String,
    /// Settings.
    pub settings: Settings,
    /// `i/n` when the batch was one shard.
    pub shard: Option<String>,
    /// Every input of the whole batch, as given (folders expanded), before sharding.
    pub all_inputs: Vec<PathBuf>,
    /// The inputs this folder is responsible for.
    pub inputs: Vec<PathBuf>,
}

impl BatchRecord {
    /// Reads `dir/batch.yaml`, or None when the folder has none.
    pub fn read(dir: &Path) -> Result<Option<BatchRecord>> {
        let path = dir.join(BATCH_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let record = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{} is not a brightseg batch record", path.display()))?;
        Ok(Some(record))
    }

    /// Writes `dir/batch.yaml` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_yaml_ng::to_string(self).context("cannot format the batch record")?;
        brightseg::io::write_bytes_atomically(&dir.join(BATCH_FILE), text.as_bytes())?;
        Ok(())
    }

    /// Refuses to continue in `dir` when finished outputs there were made with other settings.
    /// `model_split_depth_px` is the model's own split depth, which a record that left the depth
    /// to the model (no number) was made with.
    pub fn check_compatible(
        &self,
        dir: &Path,
        overwrite: bool,
        model_split_depth_px: f32,
    ) -> Result<()> {
        let Some(mut previous) = BatchRecord::read(dir)? else {
            return Ok(());
        };
        previous
            .settings
            .split_depth_px
            .get_or_insert(model_split_depth_px);
        let diff = previous.settings.differences(&self.settings);
        if !diff.is_empty() && !overwrite && holds_finished_images(dir) {
            bail!(
                "{} holds outputs made with other settings ({}): choose another --out, or give \
                 --overwrite to redo every image",
                dir.display(),
                diff.join("; ")
            );
        }
        Ok(())
    }
}

/// Whether any image in `dir` was finished (its per-image summary, written last, exists).
fn holds_finished_images(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with("_summary.csv"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            model: "UNet".into(),
            threshold: Some(0.5),
            min_size_um2: None,
            channel: Some("2".into()),
            pixel_size_um: None,
            split: true,
            split_depth_px: Some(0.5),
            refine: None,
            exclude_artifacts: None,
        }
    }

    #[test]
    fn round_trips_and_names_differences() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = BatchRecord {
            brightseg_version: "0.1.0".into(),
            settings: settings(),
            shard: Some("2/3".into()),
            all_inputs: vec!["a.tif".into(), "b.tif".into()],
            inputs: vec!["b.tif".into()],
        };
        record.write(dir.path()).expect("write");
        assert_eq!(
            BatchRecord::read(dir.path()).expect("read"),
            Some(record.clone())
        );
        record
            .check_compatible(dir.path(), false, 0.5)
            .expect("same settings");
        let mut other = record.clone();
        other.settings.threshold = Some(0.9);
        other
            .check_compatible(dir.path(), false, 0.5)
            .expect("no finished image yet: nothing to protect");
        std::fs::write(dir.path().join("b_summary.csv"), "").expect("finished image");
        other.settings.threshold = Some(0.6);
        other.settings.min_size_um2 = Some(20.0);
        let err = other
            .check_compatible(dir.path(), false, 0.5)
            .expect_err("differs");
        let msg = format!("{err}");
        assert!(msg.contains("threshold: 0.5 → 0.6"), "{msg}");
        assert!(msg.contains("min size: model default → 20"), "{msg}");
        other
            .check_compatible(dir.path(), true, 0.5)
            .expect("overwrite allows it");
    }

    #[test]
    fn a_record_that_left_the_split_depth_to_the_model_was_made_with_the_models() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut left_to_model = settings();
        left_to_model.split_depth_px = None;
        let old = BatchRecord {
            brightseg_version: "0.1.0".into(),
            settings: left_to_model,
            shard: None,
            all_inputs: vec!["b.tif".into()],
            inputs: vec!["b.tif".into()],
        };
        old.write(dir.path()).expect("write");
        std::fs::write(dir.path().join("b_summary.csv"), "").expect("finished image");
        let mut now = old.clone();
        now.settings.split_depth_px = Some(2.0);
        now.check_compatible(dir.path(), false, 2.0)
            .expect("the model's depth is 2: the same setting");
        let err = now
            .check_compatible(dir.path(), false, 0.5)
            .expect_err("made with the model's 0.5");
        assert!(format!("{err}").contains("split depth: 0.5 → 2"), "{err}");
    }
}
