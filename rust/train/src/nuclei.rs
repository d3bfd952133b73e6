//! "Train a nuclei model from paired fluorescence" as one function: check registration, derive
//! targets from the stain (or take given labels), hold out a validation strip of every field,
//! train, choose the threshold on validation data, and write a model folder that Find Nuclei
//! DNN runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

use crate::data::Sample;
use crate::dataset::Field;
use crate::export::{write_trained_model, ModelInfo};
use crate::register::{measure_shift, translate};
use crate::targets::{nucleus_targets, TargetParams};
use crate::trainer::{
    choose_threshold, train, CheckpointDir, EpochRecord, Progress, RunOptions, StopReason,
    TrainConfig,
};
use crate::unet::{Architecture, UNet};

/// Everything a nuclei training run needs besides the fields.
#[derive(Debug, Clone)]
pub struct NucleiTraining {
    /// Model name (also the folder name when `out` is a parent).
    pub name: String,
    /// The model folder to write.
    pub out: PathBuf,
    /// Target derivation from the fluorescence channel.
    pub targets: TargetParams,
    /// Move the fluorescence onto the brightfield by the measured shift when it is clear.
    pub register: bool,
    /// Share of every field's width (its right-hand strip) held out for validation.
    pub val_fraction: f64,
    /// Use only the first N fields (for learning curves).
    pub max_fields: Option<usize>,
    /// Trainer settings.
    pub config: TrainConfig,
    /// Fine-tune from this model folder (one written by brightseg-train).
    pub start_from: Option<PathBuf>,
    /// Stop after this long, keeping the best model.
    pub time_budget: Option<Duration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Lines for the description's training_data.
    pub training_data: Vec<String>,
    /// Licence of the weights (SPDX).
    pub license: String,
}

/// Registration measured for one field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationCheck {
    /// Field name.
    pub field: String,
    /// Pixels right the fluorescence moves onto the brightfield.
    pub dx: isize,
    /// Pixels down.
    pub dy: isize,
    /// Correlation of the channels' features at that shift (see [`crate::register::Shift`]).
    pub correlation: f64,
    /// Correlation without a shift.
    pub correlation_at_zero: f64,
    /// Whether the shift is clear enough to correct ([`crate::register::Shift::should_apply`]).
    #[serde(default)]
    pub clear: bool,
    /// Whether the shift was applied.
    pub applied: bool,
}

/// What a training run did, saved as `training.json` in the model folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Model name.
    pub name: String,
    /// Network shape.
    pub architecture: Architecture,
    /// Parameters.
    pub parameters: usize,
    /// Training fields (names).
    pub train_fields: Vec<String>,
    /// Validation strips (names).
    pub val_fields: Vec<String>,
    /// Where targets came from.
    pub targets_from: String,
    /// Registration checks.
    pub registration: Vec<RegistrationCheck>,
    /// Epoch history.
    pub history: Vec<EpochRecord>,
    /// Best epoch.
    pub best_epoch: usize,
    /// Validation object F1 at 0.5.
    pub val_f1: f64,
    /// Threshold chosen on validation data.
    pub threshold: f32,
    /// Validation object F1 at that threshold.
    pub val_f1_at_threshold: f64,
    /// Why training stopped.
    pub stop: StopReason,
    /// Epoch the run resumed after (0: fresh).
    pub resumed_after: usize,
    /// Seed.
    pub seed: u64,
    /// Fine-tuned from.
    pub started_from: Option<String>,
}

/// File in a model folder with the trained weights in burn's format (for fine-tuning).
pub const WEIGHTS: &str = "weights.bpk";
/// File in a model folder with the training report.
pub const REPORT: &str = "training.json";

/// The architecture of a model folder written by brightseg-train.
pub fn architecture_of(folder: &Path) -> Result<Architecture> {
    let path = folder.join(REPORT);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::model(format!(
            "{} is not a model trained by brightseg (no {REPORT}: {e}); fine-tuning starts from \
             such a folder",
            folder.display()
        ))
    })?;
    let report: TrainingReport = serde_json::from_str(&text)
        .map_err(|e| Error::model(format!("{} is unreadable: {e}", path.display())))?;
    Ok(report.architecture)
}

/// Loads the network of a model folder written by brightseg-train.
pub fn load_network(folder: &Path) -> Result<UNet> {
    let arch = architecture_of(folder)?;
    let path = folder.join(WEIGHTS);
    let device = Device::flex();
    crate::unet::seeded(&device, 0, || UNet::new(arch, &device))
        .try_load_file(&path)
        .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))
}

/// Training and validation samples made from fields.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// Training samples.
    pub train: Vec<Sample>,
    /// Validation samples.
    pub val: Vec<Sample>,
    /// Registration measured per field (empty when targets came from labels).
    pub registration: Vec<RegistrationCheck>,
    /// "labels" or "fluorescence (otsu)".
    pub targets_from: String,
    /// Pixel size, µm.
    pub pixel_um: f64,
}

/// Turns fields into samples: targets from labels when the fields have them, else from the
/// fluorescence. Validation: the `validation` fields when given, else the right `val_fraction`
/// of each training field's width.
pub fn prepare(
    fields: &[Field],
    validation: Option<&[Field]>,
    request: &NucleiTraining,
) -> Result<PreparedData> {
    let fields = &fields[..request.max_fields.unwrap_or(fields.len()).min(fields.len())];
    if fields.is_empty() {
        return Err(Error::invalid("no training images"));
    }
    if validation.is_none() && !(0.05..=0.5).contains(&request.val_fraction) {
        return Err(Error::invalid(format!(
            "validation fraction {} must be between 0.05 and 0.5",
            request.val_fraction
        )));
    }
    let pixel_um = fields[0].pixel_um.ok_or_else(|| {
        Error::invalid(format!(
            "{} has no pixel size: give it with --pixel-size (µm)",
            fields[0].name
        ))
    })?;
    let mut registration = Vec::new();
    let mut from_labels = 0;
    let mut samples = Vec::new();
    let val_fields = validation.unwrap_or(&[]);
    for f in fields.iter().chain(val_fields) {
        let px = f.pixel_um.unwrap_or(pixel_um);
        if (px - pixel_um).abs() > pixel_um * 0.01 {
            return Err(Error::invalid(format!(
                "{} has {px} µm pixels, {} has {pixel_um}: train on images of one pixel size",
                f.name, fields[0].name
            )));
        }
        let image = f.network_input();
        let sample = match (&f.truth, &f.fluorescence) {
            (Some(labels), _) => {
                from_labels += 1;
                Sample::new(f.name.clone(), image, labels.clone(), None)?
            }
            (None, Some(fl)) => {
                let shift = measure_shift(&f.brightfield, fl);
                let clear = shift.should_apply();
                let apply = request.register && clear;
                registration.push(RegistrationCheck {
                    field: f.name.clone(),
                    dx: shift.dx,
                    dy: shift.dy,
                    correlation: shift.correlation,
                    correlation_at_zero: shift.correlation_at_zero,
                    clear,
                    applied: apply,
                });
                let fl = if apply {
                    translate(fl, shift.dx, shift.dy)
                } else {
                    fl.clone()
                };
                let t = nucleus_targets(&fl, px, &request.targets)?;
                Sample::new(f.name.clone(), image, t.labels, Some(t.weights))?
            }
            (None, None) => {
                return Err(Error::invalid(format!(
                    "{}: no targets: give the stain channel (--fluorescence) or label images \
                     (--masks)",
                    f.name
                )))
            }
        };
        samples.push(sample);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    if !val_fields.is_empty() {
        let given_val = samples.split_off(fields.len());
        return Ok(PreparedData {
            train: samples,
            val: given_val,
            registration,
            targets_from: targets_from(from_labels, fields.len() + val_fields.len(), request),
            pixel_um,
        });
    }
    for s in &samples {
        let (w, h) = (s.image.width, s.image.height);
        let val_w = ((w as f64 * request.val_fraction).round() as usize).clamp(1, w - 1);
        let split = w - val_w;
        train.push(s.crop(0, 0, split, h, format!("{} train", s.name)));
        val.push(s.crop(split, 0, val_w, h, format!("{} validation", s.name)));
    }
    Ok(PreparedData {
        train,
        val,
        registration,
        targets_from: targets_from(from_labels, fields.len(), request),
        pixel_um,
    })
}

fn targets_from(from_labels: usize, total: usize, request: &NucleiTraining) -> String {
    if from_labels == total {
        "labels".into()
    } else {
        format!("fluorescence ({})", request.targets.method)
    }
}

/// Trains on `fields` (validating on `validation`, or on a strip of each field) and writes the
/// model folder. `progress` as in [`train`].
pub fn train_nuclei(
    fields: &[Field],
    validation: Option<&[Field]>,
    request: &NucleiTraining,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<TrainingReport> {
    let data = prepare(fields, validation, request)?;
    let mut config = request.config.clone();
    config.pixel_um = data.pixel_um;
    let start_weights = match &request.start_from {
        Some(folder) => {
            let arch = architecture_of(folder)?;
            if arch != config.architecture {
                log::info!("fine-tuning: using the starting model's architecture ({arch})");
                config.architecture = arch;
            }
            Some(folder.join(WEIGHTS))
        }
        None => None,
    };
    let checkpoints = CheckpointDir(request.out.join(".checkpoints"));
    let options = RunOptions {
        checkpoints: checkpoints.clone(),
        start_from: start_weights.as_deref(),
        time_budget: request.time_budget,
        threads: request.threads,
    };
    let outcome = train(&config, &data.train, &data.val, &options, progress)?;
    if outcome.history.is_empty() {
        // Nothing was validated, so there is no model worth writing (the checkpoints stay, and
        // a rerun resumes from them).
        return Err(match outcome.stop {
            StopReason::TimeBudget => Error::invalid(format!(
                "the time budget ran out before the first epoch finished: no model was \
                 written to {}; give more time or fewer steps per epoch",
                request.out.display()
            )),
            _ => Error::cancelled(format!(
                "training was cancelled before the first epoch finished: no model was written \
                 to {}",
                request.out.display()
            )),
        });
    }
    let (threshold, f1_at_threshold) = choose_threshold(&outcome.model, &data.val, &config);
    let arch = config.architecture;
    let report = TrainingReport {
        name: request.name.clone(),
        architecture: arch,
        parameters: arch.parameter_count(),
        train_fields: data.train.iter().map(|s| s.name.clone()).collect(),
        val_fields: data.val.iter().map(|s| s.name.clone()).collect(),
        targets_from: data.targets_from.clone(),
        registration: data.registration.clone(),
        history: outcome.history.clone(),
        best_epoch: outcome.best_epoch,
        val_f1: outcome.best_f1,
        threshold,
        val_f1_at_threshold: f1_at_threshold,
        stop: outcome.stop,
        resumed_after: outcome.resumed_after,
        seed: config.seed,
        started_from: request.start_from.as_ref().map(|p| p.display().to_string()),
    };
    let info = ModelInfo {
        name: request.name.clone(),
        description: format!(
            "U-Net ({arch}, {} parameters) finding nuclei in transmitted-light \
             images, trained by brightseg-train on targets from {}.",
            arch.parameter_count(),
            data.targets_from
        ),
        pixel_um: data.pixel_um,
        threshold,
        min_size_um2: config.min_area_um2,
        tile_size: crate::export::tile_size_for(&arch),
        size_multiple: arch.size_multiple(),
        training_data: request.training_data.clone(),
        metrics: vec![
            ("validation_object_f1_iou50".into(), f1_at_threshold),
            ("validation_object_f1_iou50_at_0_5".into(), outcome.best_f1),
        ],
        license: request.license.clone(),
        training: vec![
            ("architecture".into(), arch.to_string()),
            ("epochs".into(), outcome.history.len().to_string()),
            ("best_epoch".into(), outcome.best_epoch.to_string()),
            ("seed".into(), config.seed.to_string()),
            ("targets".into(), data.targets_from.clone()),
            (
                "patch".into(),
                format!("{0}x{0}, batch {1}", config.patch, config.batch),
            ),
        ],
        object: "nucleus".into(),
        percentiles: crate::data::NORMALIZATION_PERCENTILES,
        refine: brightseg::refine::Refinement::None,
    };
    let summary = format!(
        "Trained with `brightseg train nuclei`. Validation object F1 (IoU 0.5): {f1_at_threshold:.3} \
         at threshold {threshold:.2}."
    );
    write_trained_model(&outcome.model, &info, &request.out, &report, &summary)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::FloatPlane;
    use brightseg::objects::Labels;

    /// A 64×64 field with two labelled discs.
    fn field() -> Field {
        let (w, h) = (64, 64);
        let mut labels = vec![0u32; w * h];
        let image = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                for (k, (cx, cy)) in [(16.0, 20.0), (44.0, 40.0)].iter().enumerate() {
                    if (x - cx).powi(2) + (y - cy).powi(2) <= 36.0 {
                        labels[i] = k as u32 + 1;
                        return 0.8;
                    }
                }
                0.2 + 0.01 * ((i * 7919) % 13) as f32
            })
            .collect();
        Field {
            name: "discs".into(),
            path: PathBuf::from("discs.tif"),
            frame: 0,
            brightfield: FloatPlane::new(w, h, image),
            fluorescence: None,
            truth: Some(Labels {
                width: w,
                height: h,
                data: labels,
                count: 2,
            }),
            pixel_um: Some(1.0),
            normalized: false,
        }
    }

    fn request(out: PathBuf) -> NucleiTraining {
        NucleiTraining {
            name: "discs".into(),
            out,
            targets: TargetParams::default(),
            register: false,
            val_fraction: 0.25,
            max_fields: None,
            config: TrainConfig {
                architecture: Architecture {
                    depth: 2,
                    width: 4,
                    stem: 1,
                },
                patch: 32,
                batch: 2,
                steps_per_epoch: 2,
                max_epochs: 1,
                min_area_um2: 5.0,
                ..TrainConfig::default()
            },
            start_from: None,
            time_budget: None,
            threads: 1,
            training_data: vec!["synthetic discs".into()],
            license: "MIT".into(),
        }
    }

    /// Tiles come normalised over their whole field and go to the network as they are; a
    /// whole field is normalised here.
    #[test]
    fn tiles_keep_the_whole_fields_normalisation() {
        let tiles = crate::dataset::tile_fields(&[field()], 32, 32);
        let dir = tempfile::tempdir().expect("temp dir");
        let req = request(dir.path().join("discs"));
        let data = prepare(&tiles[..2], Some(&tiles[2..]), &req).expect("prepared");
        assert_eq!(data.train[0].image.data, tiles[0].brightfield.data);
        assert_eq!(data.val[1].image.data, tiles[3].brightfield.data);
        let whole = prepare(&[field()], Some(&[field()]), &req).expect("prepared");
        assert_eq!(
            whole.train[0].image.data,
            crate::data::normalize(&field().brightfield).data
        );
    }

    #[test]
    fn cancelling_before_the_first_epoch_writes_no_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("discs");
        let e = train_nuclei(&[field()], None, &request(out.clone()), &mut |_| false)
            .expect_err("cancelled at the first step");
        assert_eq!(e.kind(), brightseg::ErrorKind::Cancelled, "{e}");
        assert!(e.to_string().contains("before the first epoch"), "{e}");
        assert!(!out.join("bioimageio.yaml").exists());
    }

    #[test]
    fn cancelling_after_an_epoch_keeps_the_best_model() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("discs");
        let mut req = request(out.clone());
        req.config.max_epochs = 5;
        let mut progress =
            |p: Progress<'_>| !matches!(p, Progress::Epoch { record, .. } if record.epoch == 2);
        let report = train_nuclei(&[field()], None, &req, &mut progress).expect("trained");
        assert_eq!(report.stop, StopReason::Cancelled);
        assert_eq!(report.history.len(), 2);
        assert!((1..=2).contains(&report.best_epoch));
        assert!(out.join("bioimageio.yaml").is_file());
        assert!(out.join(WEIGHTS).is_file());
    }
}
