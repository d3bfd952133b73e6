//! The whole weak-label pipeline as one function: image-level labels → classifier → ScoreCAM →
//! MI-selected pseudo-masks → artifact U-Net (the nuclei trainer) → a model folder that
//! Find Artifacts runs.

use std::path::PathBuf;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use brightseg::objects::label_components;
use brightseg::{Error, Result};

use super::pseudo::{select_pseudo_mask, Refinement, THRESHOLDS};
use super::scorecam::{score_cam, Masking};
use crate::data::samples::{Sample, ARTIFACT_PERCENTILES};
use crate::export::{write_trained_model, ModelInfo};
use crate::fit::{CheckpointDir, EpochRecord, FitOptions, Progress, StopReason};
use crate::nets::{Architecture, Classifier};
use crate::tasks::classification::{
    load_classifier, save_classifier, train_classifier, ClassifierCard, ClassifierConfig,
    LabelledImage,
};
use crate::tasks::segmentation::{choose_scoring, train, TrainConfig};

/// Everything an artifact training run needs besides the images.
#[derive(Debug, Clone)]
pub struct ArtifactTraining {
    /// Model name.
    pub name: String,
    /// The model folder to write (the classifier goes in its `classifier/` subfolder).
    pub out: PathBuf,
    /// Classifier settings (ignored with `classifier_from`).
    pub classifier: ClassifierConfig,
    /// Use this trained classifier folder instead of training one.
    pub classifier_from: Option<PathBuf>,
    /// ScoreCAM masking.
    pub masking: Masking,
    /// How the image refines the thresholded maps before mutual information picks one.
    pub refinement: Refinement,
    /// Train the U-Net on the ScoreCAM maps themselves (soft targets) instead of the
    /// MI-selected masks.
    pub soft_targets: bool,
    /// U-Net settings.
    pub unet: TrainConfig,
    /// Share of each class held out for validation.
    pub val_fraction: f64,
    /// Pixel size of the images, µm.
    pub pixel_um: f64,
    /// Stop the U-Net after this long, keeping the best epoch.
    pub time_budget: Option<Duration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Lines for the description's training_data.
    pub training_data: Vec<String>,
    /// Licence of the weights.
    pub license: String,
}

/// One image's pseudo-mask, for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PseudoRecord {
    /// Image name.
    pub image: String,
    /// Threshold chosen by mutual information (None: a clean image, empty target).
    pub threshold: Option<f32>,
    /// Pixels in the pseudo-mask.
    pub pixels: usize,
}

/// What a run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactReport {
    /// Model name.
    pub name: String,
    /// Classifier validation accuracy.
    pub classifier_accuracy: f64,
    /// Classifier epochs.
    pub classifier_history: Vec<EpochRecord>,
    /// How the image refined the pseudo-mask candidates (absent in reports written before the
    /// refinement existed: none).
    #[serde(default)]
    pub refinement: Refinement,
    /// How often each threshold of [`THRESHOLDS`] won.
    pub threshold_wins: Vec<(f32, usize)>,
    /// Every image's pseudo-mask.
    pub pseudo_masks: Vec<PseudoRecord>,
    /// Soft targets used.
    pub soft_targets: bool,
    /// U-Net architecture.
    pub architecture: Architecture,
    /// U-Net epochs.
    pub history: Vec<EpochRecord>,
    /// Kept U-Net epoch.
    pub best_epoch: usize,
    /// Threshold chosen on validation pseudo-masks.
    pub threshold: f32,
    /// Validation object F1 against the pseudo-masks at that threshold.
    pub val_f1_vs_pseudo: f64,
    /// Why U-Net training ended.
    pub stop: StopReason,
}

/// The pseudo-target of one image: the MI-selected (refined) mask, or the map itself with soft
/// targets, for an artifact image; empty for a clean one.
pub fn pseudo_target(
    classifier: &Classifier,
    image: &LabelledImage,
    masking: Masking,
    refinement: Refinement,
    soft: bool,
) -> (Vec<f32>, PseudoRecord) {
    let n = image.image.data.len();
    if !image.artifact {
        return (
            vec![0.0; n],
            PseudoRecord {
                image: image.name.clone(),
                threshold: None,
                pixels: 0,
            },
        );
    }
    let cam = score_cam(classifier, &image.image, masking, 64);
    let chosen = select_pseudo_mask(&cam, &image.image, refinement);
    let pixels = chosen.mask.iter().filter(|&&m| m > 0).count();
    let target = if soft {
        cam
    } else {
        chosen.mask.iter().map(|&m| f32::from(m)).collect()
    };
    (
        target,
        PseudoRecord {
            image: image.name.clone(),
            threshold: Some(chosen.threshold),
            pixels,
        },
    )
}

fn sample_of(image: &LabelledImage, target: Vec<f32>) -> Result<Sample> {
    let (w, h) = (image.image.width, image.image.height);
    let mask: Vec<bool> = target.iter().map(|&t| t >= 0.5).collect();
    let truth = label_components(&mask, w, h, true);
    let mut sample = Sample::new(image.name.clone(), image.image.clone(), truth, None)?;
    sample.target = target;
    Ok(sample)
}

/// A stratified split: `fraction` of each class (at least one) held out, drawn with `seed`.
pub fn split_by_class(
    images: &[LabelledImage],
    fraction: f64,
    seed: u64,
) -> (Vec<LabelledImage>, Vec<LabelledImage>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for class in [true, false] {
        let mut of_class: Vec<&LabelledImage> =
            images.iter().filter(|i| i.artifact == class).collect();
        of_class.shuffle(&mut rng);
        let held = ((of_class.len() as f64 * fraction).round() as usize)
            .clamp(1, of_class.len().saturating_sub(1).max(1));
        for (k, image) in of_class.into_iter().enumerate() {
            if k < held {
                val.push(image.clone());
            } else {
                train.push(image.clone());
            }
        }
    }
    (train, val)
}

/// Trains the classifier (or loads it), makes the pseudo-masks and trains the artifact U-Net on
/// them; writes the model folder. `images` are normalised with the artifact normalisation.
pub fn train_artifacts(
    images: &[LabelledImage],
    request: &ArtifactTraining,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<ArtifactReport> {
    if !(0.05..=0.5).contains(&request.val_fraction) {
        return Err(Error::invalid(format!(
            "validation fraction {} must be between 0.05 and 0.5",
            request.val_fraction
        )));
    }
    let (train_images, val_images) =
        split_by_class(images, request.val_fraction, request.classifier.seed);
    let classifier_dir = request.out.join("classifier");
    let (classifier, accuracy, history) = match &request.classifier_from {
        Some(folder) => {
            let (model, card) = load_classifier(folder)?;
            (model, card.val_accuracy, card.history)
        }
        None => {
            log::info!(
                "training the artifact classifier on {} tiles, validating on {}",
                train_images.len(),
                val_images.len()
            );
            let options = FitOptions {
                checkpoints: CheckpointDir(request.out.join(".checkpoints").join("classifier")),
                start_from: None,
                // The budget is the U-Net's, as it has always been.
                time_budget: None,
                threads: request.threads,
            };
            let outcome = train_classifier(
                &train_images,
                &val_images,
                &request.classifier,
                &options,
                &mut |p| match p {
                    // The caller's reports are the U-Net's; a cancel reaches the classifier too.
                    Progress::Step { .. } => progress(p),
                    Progress::Epoch { record, .. } => {
                        log::info!(
                            "classifier epoch {}: loss {:.4}, validation accuracy {:.3}",
                            record.epoch,
                            record.train_loss,
                            record.val_score
                        );
                        true
                    }
                    Progress::Preparing { .. } => true,
                },
            )?;
            if outcome.history.is_empty() {
                return Err(Error::cancelled(format!(
                    "training stopped before the classifier's first epoch finished: no model \
                     was written to {}",
                    request.out.display()
                )));
            }
            let card =
                ClassifierCard::new(&outcome, &request.classifier, train_images[0].image.width);
            save_classifier(&outcome.model, &card, &classifier_dir)?;
            (outcome.model, outcome.best_score, outcome.history)
        }
    };
    let mut records = Vec::new();
    let mut to_samples = |set: &[LabelledImage]| -> Result<Vec<Sample>> {
        set.iter()
            .map(|image| {
                let (target, record) = pseudo_target(
                    &classifier,
                    image,
                    request.masking,
                    request.refinement,
                    request.soft_targets,
                );
                records.push(record);
                sample_of(image, target)
            })
            .collect()
    };
    let train_samples = to_samples(&train_images)?;
    let val_samples = to_samples(&val_images)?;
    let threshold_wins: Vec<(f32, usize)> = THRESHOLDS
        .iter()
        .map(|&t| (t, records.iter().filter(|r| r.threshold == Some(t)).count()))
        .collect();
    let mut config = request.unet.clone();
    config.scoring.pixel_um = request.pixel_um;
    config.scoring.split_objects = false;
    let options = FitOptions {
        checkpoints: CheckpointDir(request.out.join(".checkpoints")),
        start_from: None,
        time_budget: request.time_budget,
        threads: request.threads,
    };
    let outcome = train(&config, &train_samples, &val_samples, &options, progress)?;
    if outcome.history.is_empty() {
        return Err(Error::cancelled(format!(
            "training stopped before the first epoch finished: no model was written to {}",
            request.out.display()
        )));
    }
    let chosen = choose_scoring(&outcome.model, &val_samples, &config);
    let (threshold, f1) = (chosen.threshold, chosen.f1);
    let arch = config.architecture;
    let report = ArtifactReport {
        name: request.name.clone(),
        classifier_accuracy: accuracy,
        classifier_history: history,
        refinement: request.refinement,
        threshold_wins,
        pseudo_masks: records,
        soft_targets: request.soft_targets,
        architecture: arch,
        history: outcome.history.clone(),
        best_epoch: outcome.best_epoch,
        threshold,
        val_f1_vs_pseudo: f1,
        stop: outcome.stop,
    };
    let info = ModelInfo {
        name: request.name.clone(),
        description: format!(
            "U-Net ({arch}, {} parameters) finding artifacts (dust, fibres, bubbles, \
             debris) in transmitted-light images, trained by brightseg-train from image-level \
             labels only (classifier, ScoreCAM, pseudo-masks chosen by mutual information).",
            arch.parameter_count()
        ),
        pixel_um: request.pixel_um,
        threshold,
        min_size_um2: config.scoring.min_area_um2,
        split_depth_px: chosen.split_depth_px,
        tile_size: crate::export::TILE_SIZE,
        size_multiple: arch.size_multiple(),
        training_data: request.training_data.clone(),
        metrics: vec![
            ("classifier_validation_accuracy".into(), accuracy),
            ("validation_object_f1_vs_pseudo_masks".into(), f1),
        ],
        license: request.license.clone(),
        training: vec![
            ("architecture".into(), arch.to_string()),
            ("epochs".into(), outcome.history.len().to_string()),
            ("best_epoch".into(), outcome.best_epoch.to_string()),
            ("seed".into(), config.fit.seed.to_string()),
            (
                "targets".into(),
                if request.soft_targets {
                    "ScoreCAM maps (soft)".into()
                } else if request.refinement == Refinement::None {
                    "ScoreCAM pseudo-masks, threshold by mutual information".into()
                } else {
                    format!(
                        "ScoreCAM pseudo-masks refined by the image ({}), threshold by mutual \
                         information",
                        request.refinement
                    )
                },
            ),
        ],
        object: "artifact".into(),
        percentiles: ARTIFACT_PERCENTILES,
        // Inference sharpens the network's mask the way the targets were sharpened (soft
        // targets are the maps themselves: nothing to repeat).
        refine: if request.soft_targets {
            Refinement::None
        } else {
            request.refinement
        },
        uncertain_percent: None,
    };
    let summary = format!(
        "Trained with `brightseg train artifacts` from image-level labels only. Classifier \
         validation accuracy {accuracy:.3}; U-Net validation object F1 against the pseudo-masks \
         {f1:.3} at threshold {threshold:.2}."
    );
    // The zoo's test input: a validation tile (normalised as the network saw it).
    let test_image = val_images
        .first()
        .or(train_images.first())
        .map(|i| &i.image)
        .ok_or_else(|| Error::invalid("no tile to take the model's test input from"))?;
    write_trained_model(
        &outcome.model,
        &info,
        &request.out,
        &report,
        &summary,
        test_image,
    )?;
    Ok(report)
}
