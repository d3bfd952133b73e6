//! `synth-artifacts`, `train classifier` and `cam`: the weak-label half of artifact segmentation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use brightseg::image::Calibration;
use brightseg::io::{read_image, write_png_rgb, write_tiff, OutputPlane};
use brightseg::metrics::{match_objects, Coverage, ObjectMatch};
use brightseg::objects::{label_components, Labels};
use brightseg_train::artifacts::pseudo::{select_pseudo_mask, Refinement, THRESHOLDS};
use brightseg_train::artifacts::scorecam::{plain_cam, score_cam, Masking};
use brightseg_train::artifacts::synth::{synthesize, SynthConfig};
use brightseg_train::artifacts::train::{split_by_class, train_artifacts, ArtifactTraining};
use brightseg_train::data::fields::load_fields;
use brightseg_train::data::samples::ARTIFACT_NORMALIZATION;
use brightseg_train::data::{normalize, normalize_with, FloatPlane};
use brightseg_train::fit::{CheckpointDir, FitConfig, FitOptions, Progress};
use brightseg_train::nets::Architecture;
use brightseg_train::tasks::classification::{
    load_classifier, probabilities, save_classifier, train_classifier, ClassifierCard,
    ClassifierConfig, LabelledImage,
};
use brightseg_train::tasks::segmentation::{ObjectScoring, TrainConfig};

use crate::artifact_args::{CamArgs, SynthArtifactsArgs, TrainArtifactsArgs, TrainClassifierArgs};
use crate::train_cmd::{field_spec, stem};

/// Header of the labels CSV.
const LABELS_HEADER: [&str; 2] = ["file", "label"];

/// `brightseg synth-artifacts`.
pub fn synth_artifacts(args: &SynthArtifactsArgs) -> Result<()> {
    if args.tile < 16 || !args.tile.is_multiple_of(8) {
        bail!("--tile {} must be a multiple of 8, at least 16", args.tile);
    }
    if !(0.0..=1.0).contains(&args.fraction) {
        bail!("--fraction {} must be between 0 and 1", args.fraction);
    }
    let mut spec = field_spec(&args.selection)?;
    spec.brightfield = Some(args.channel.clone().unwrap_or_else(|| "1".into()));
    let fields = load_fields(&args.inputs, &spec)?;
    let t = args.tile;
    let mut tiles = Vec::new();
    let mut calibrations = Vec::new();
    for f in &fields {
        let (w, h) = (f.brightfield.width, f.brightfield.height);
        for y in (0..h / t).map(|k| k * t) {
            for x in (0..w / t).map(|k| k * t) {
                tiles.push((
                    format!("{}_x{x}_y{y}", stem(f)),
                    f.brightfield.crop(x, y, t, t),
                ));
                calibrations.push(
                    f.pixel_um
                        .map_or_else(Calibration::default, Calibration::square),
                );
            }
        }
    }
    if tiles.is_empty() {
        bail!("the images are smaller than one {t} × {t} tile");
    }
    let config = SynthConfig {
        seed: args.seed,
        fraction: args.fraction,
        max_per_tile: args.max_per_tile.max(1),
    };
    let set = synthesize(&tiles, &config);
    let images = args.out.join("images");
    let truth = args.out.join("truth");
    for dir in [&images, &truth] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut labels = csv::Writer::from_path(args.out.join("labels.csv"))?;
    labels.write_record(LABELS_HEADER)?;
    let mut kinds = csv::Writer::from_path(args.out.join("truth.csv"))?;
    kinds.write_record(["file", "label", "artifacts", "artifact_pixels"])?;
    for (tile, &calibration) in set.iter().zip(&calibrations) {
        let file = format!("{}.tif", tile.name);
        write_tiff(
            &images.join(&file),
            t,
            t,
            &[OutputPlane::Float(&tile.image.data)],
            1,
            calibration,
        )?;
        // The truth as instance labels (connected artifact regions), so `evaluate` can score
        // objects as well as pixels.
        let truth_mask: Vec<bool> = tile.mask.iter().map(|&m| m > 0).collect();
        let mask = label_components(&truth_mask, t, t, true).data;
        write_tiff(
            &truth.join(&file),
            t,
            t,
            &[OutputPlane::Labels(&mask)],
            1,
            calibration,
        )?;
        let label = if tile.has_artifact() {
            "artifact"
        } else {
            "clean"
        };
        labels.write_record([format!("images/{file}"), label.to_string()])?;
        let names: Vec<&str> = tile.kinds.iter().map(|k| k.name()).collect();
        kinds.write_record([
            format!("images/{file}"),
            label.to_string(),
            names.join(" "),
            mask.iter().filter(|&&m| m > 0).count().to_string(),
        ])?;
    }
    labels.flush()?;
    kinds.flush()?;
    let with = set.iter().filter(|t| t.has_artifact()).count();
    let readme = format!(
        "# SYNTHETIC artifact set\n\nReal transmitted-light tiles ({t} × {t} px) from {}, with \
         synthetic artifacts (dust, fibres, bubbles, debris) composited on {with} of {} tiles by \
         `brightseg synth-artifacts` (seed {}, fraction {}, at most {} per tile).\n\n\
         - `labels.csv`: image-level labels, the only thing training may use.\n\
         - `truth/`: the composited masks (labels of connected artifact regions), for \
         evaluation only.\n\
         - `truth.csv`: which artifacts each tile got.\n",
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        set.len(),
        args.seed,
        args.fraction,
        config.max_per_tile
    );
    std::fs::write(args.out.join("README.md"), readme)?;
    println!(
        "{} tiles ({with} with synthetic artifacts) written to {}",
        set.len(),
        args.out.display()
    );
    Ok(())
}

/// One row of a labels CSV.
struct LabelledFile {
    path: PathBuf,
    artifact: bool,
}

fn read_labels(csv_path: &Path) -> Result<Vec<LabelledFile>> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("cannot read {}", csv_path.display()))?;
    let mut out = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", csv_path.display(), row + 2))?;
        let (Some(file), Some(label)) = (record.get(0), record.get(1)) else {
            bail!(
                "{} row {}: expected file,label",
                csv_path.display(),
                row + 2
            );
        };
        let artifact = match label.trim().to_ascii_lowercase().as_str() {
            "artifact" | "1" | "yes" | "true" => true,
            "clean" | "0" | "no" | "false" => false,
            other => bail!(
                "{} row {}: label '{other}' should be artifact or clean (or 1/0)",
                csv_path.display(),
                row + 2
            ),
        };
        out.push(LabelledFile {
            path: base.join(file.trim()),
            artifact,
        });
    }
    if out.is_empty() {
        bail!("{} lists no images", csv_path.display());
    }
    Ok(out)
}

fn read_plane(path: &Path) -> Result<FloatPlane> {
    let image = read_image(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(FloatPlane::from_plane(image.plane(0, 0, 0)))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

fn labelled_images(files: &[LabelledFile]) -> Result<Vec<LabelledImage>> {
    files
        .iter()
        .map(|f| {
            Ok(LabelledImage {
                name: file_stem(&f.path),
                image: normalize_with(&read_plane(&f.path)?, ARTIFACT_NORMALIZATION),
                artifact: f.artifact,
            })
        })
        .collect()
}

/// `brightseg train classifier`.
pub fn train_classifier_cmd(args: &TrainClassifierArgs) -> Result<()> {
    crate::train_cmd::select_engine(&args.engine, args.jobs)?;
    if !(0.05..=0.5).contains(&args.val_fraction) {
        bail!(
            "--val-fraction {} must be between 0.05 and 0.5",
            args.val_fraction
        );
    }
    let files = read_labels(&args.labels)?;
    let images = labelled_images(&files)?;
    let (train, val) = split_by_class(&images, args.val_fraction, args.seed);
    let config = ClassifierConfig {
        width: args.width,
        epochs: args.epochs,
        steps: args.steps,
        batch: args.batch,
        learning_rate: args.learning_rate,
        patience: args.patience,
        seed: args.seed,
    };
    eprintln!(
        "training the artifact classifier on {} tiles ({} artifact), validating on {}",
        train.len(),
        train.iter().filter(|t| t.artifact).count(),
        val.len()
    );
    let mut progress = |p: Progress<'_>| {
        if let Progress::Epoch { record, .. } = p {
            eprintln!(
                "epoch {:>3}: loss {:.4}, validation loss {:.4}, accuracy {:.3}",
                record.epoch, record.train_loss, record.val_loss, record.val_score
            );
        }
        true
    };
    // Checkpoints beside the classifier: a killed run, started again, resumes.
    let options = FitOptions {
        checkpoints: CheckpointDir(args.out.join(".checkpoints")),
        start_from: None,
        time_budget: crate::train_cmd::time_budget(args.time_budget.as_deref())?,
        threads: args.jobs.unwrap_or(0),
    };
    let outcome = train_classifier(&train, &val, &config, &options, &mut progress)?;
    if outcome.history.is_empty() {
        bail!(
            "the time budget ran out before the first epoch finished: no classifier was written \
             to {}",
            args.out.display()
        );
    }
    save_classifier(
        &outcome.model,
        &ClassifierCard::new(&outcome, &config, train[0].image.width),
        &args.out,
    )?;
    let val_images: Vec<&FloatPlane> = val.iter().map(|v| &v.image).collect();
    let p = probabilities(&outcome.model, &val_images, 32);
    let mut writer = csv::Writer::from_path(args.out.join("validation.csv"))?;
    writer.write_record(["tile", "label", "artifact_probability"])?;
    for (v, p) in val.iter().zip(&p) {
        let label = if v.artifact { "artifact" } else { "clean" };
        writer.write_record([v.name.as_str(), label, &format!("{p:.4}")])?;
    }
    writer.flush()?;
    println!(
        "classifier written to {}: validation accuracy {:.3} ({} tiles) at epoch {}",
        args.out.display(),
        outcome.best_score,
        val.len(),
        outcome.best_epoch
    );
    Ok(())
}

/// Pixel IoU of two binary masks (1 when both are empty).
fn iou(a: &[u8], b: &[u8]) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        inter += usize::from(x > 0 && y > 0);
        union += usize::from(x > 0 || y > 0);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Scores of one kind of mask summed over images: pooled pixel IoU and object matches at IoU 0.5
/// (objects: connected regions, as `evaluate --no-split` counts them).
#[derive(Default)]
struct MaskScore {
    intersection: usize,
    union: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl MaskScore {
    fn add(&mut self, mask: &[u8], truth: &Labels) {
        for (&m, &t) in mask.iter().zip(&truth.data) {
            self.intersection += usize::from(m > 0 && t > 0);
            self.union += usize::from(m > 0 || t > 0);
        }
        let binary: Vec<bool> = mask.iter().map(|&m| m > 0).collect();
        let objects = label_components(&binary, truth.width, truth.height, true);
        let m = match_objects(&objects, truth, Coverage::Complete, 0.5);
        self.tp += m.true_positives;
        self.fp += m.false_positives;
        self.fn_ += m.false_negatives;
    }

    fn line(&self, what: &str) -> String {
        let m = ObjectMatch::from_counts(self.tp, self.fp, self.fn_);
        let iou = if self.union > 0 {
            self.intersection as f64 / self.union as f64
        } else {
            1.0
        };
        format!(
            "  {what:<34} pixel IoU {iou:.3}   objects: precision {:.3}, recall {:.3}, F1 {:.3}",
            m.precision, m.recall, m.f1
        )
    }
}

/// Grey image (normalised for display) with the map in red and the pseudo-mask's outline in yellow.
fn cam_overlay(image: &FloatPlane, cam: &[f32], mask: &[u8]) -> Vec<u8> {
    let (w, h) = (image.width, image.height);
    let mut rgb = Vec::with_capacity(3 * w * h);
    for i in 0..w * h {
        let (x, y) = (i % w, i / w);
        let edge = mask[i] > 0
            && [(0, -1), (0, 1), (-1, 0), (1, 0)].iter().any(|&(dx, dy)| {
                let (nx, ny) = (x as isize + dx, y as isize + dy);
                nx < 0
                    || ny < 0
                    || nx >= w as isize
                    || ny >= h as isize
                    || mask[ny as usize * w + nx as usize] == 0
            });
        let g = image.data[i].clamp(0.0, 1.0) * 255.0;
        let c = 0.6 * cam[i];
        if edge {
            rgb.extend([255, 230, 0]);
        } else {
            rgb.extend([
                (g * (1.0 - c) + 255.0 * c) as u8,
                (g * (1.0 - c)) as u8,
                (g * (1.0 - c)) as u8,
            ]);
        }
    }
    rgb
}

/// `brightseg cam`.
pub fn cam(args: &CamArgs) -> Result<()> {
    let masking: Masking = args.masking.parse().map_err(anyhow::Error::msg)?;
    let refinement = args.refine;
    let (model, card) = load_classifier(&args.classifier)?;
    let files = read_labels(&args.labels)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut table = csv::Writer::from_path(args.out.join("pseudo.csv"))?;
    let mut header = vec![
        "file".to_string(),
        "label".into(),
        "artifact_probability".into(),
        "threshold".into(),
    ];
    header.extend(THRESHOLDS.iter().map(|t| format!("mi_{t}")));
    if args.truth_dir.is_some() {
        header.extend([
            "iou_cam_0.5".into(),
            "iou_pseudo_unrefined".into(),
            "iou_pseudo".into(),
            "iou_plain_cam_0.5".into(),
        ]);
    }
    table.write_record(&header)?;
    let mut wins: BTreeMap<String, usize> = BTreeMap::new();
    let mut scores: [MaskScore; 4] = Default::default();
    for f in &files {
        let name = file_stem(&f.path);
        let raw = read_plane(&f.path)?;
        let image = normalize_with(&raw, ARTIFACT_NORMALIZATION);
        let (w, h) = (image.width, image.height);
        if !w.is_multiple_of(8) || !h.is_multiple_of(8) {
            bail!(
                "{}: {w} × {h} px; sides must be multiples of 8",
                f.path.display()
            );
        }
        let probability = probabilities(&model, &[&image], 1)[0];
        let mut row = vec![
            f.path.display().to_string(),
            if f.artifact { "artifact" } else { "clean" }.to_string(),
            format!("{probability:.4}"),
        ];
        // Only images labelled "artifact" get a map; a clean image's target is empty.
        let (cam, pseudo) = if f.artifact {
            let cam = score_cam(&model, &image, masking, args.batch);
            let pseudo = select_pseudo_mask(&cam, &image, refinement);
            *wins.entry(format!("{}", pseudo.threshold)).or_default() += 1;
            row.push(format!("{}", pseudo.threshold));
            row.extend(pseudo.scores.iter().map(|s| format!("{s:.5}")));
            (cam, pseudo.mask)
        } else {
            row.push(String::new());
            row.extend(THRESHOLDS.iter().map(|_| String::new()));
            (vec![0.0; w * h], vec![0u8; w * h])
        };
        if let Some(dir) = &args.truth_dir {
            let truth_file = dir.join(f.path.file_name().unwrap_or_default());
            let truth_plane = read_plane(&truth_file)?;
            let truth_labels = Labels {
                width: w,
                height: h,
                count: truth_plane.data.iter().fold(0f32, |a, &b| a.max(b)) as usize,
                data: truth_plane
                    .data
                    .iter()
                    .map(|&v| v.max(0.0) as u32)
                    .collect(),
            };
            let truth: Vec<u8> = truth_labels.data.iter().map(|&v| u8::from(v > 0)).collect();
            let raw: Vec<u8> = cam.iter().map(|&v| u8::from(v >= 0.5)).collect();
            let (plain, unrefined): (Vec<u8>, Vec<u8>) = if f.artifact {
                let plain = plain_cam(&model, &image)
                    .iter()
                    .map(|&v| u8::from(v >= 0.5))
                    .collect();
                (
                    plain,
                    select_pseudo_mask(&cam, &image, Refinement::None).mask,
                )
            } else {
                (vec![0; w * h], vec![0; w * h])
            };
            let masks = [&raw, &unrefined, &pseudo, &plain];
            for (score, mask) in scores.iter_mut().zip(masks) {
                score.add(mask, &truth_labels);
            }
            row.extend(masks.map(|mask| format!("{:.4}", iou(mask, &truth))));
        }
        table.write_record(&row)?;
        write_tiff(
            &args.out.join(format!("{name}.cam.tif")),
            w,
            h,
            &[OutputPlane::Float(&cam)],
            1,
            Calibration::default(),
        )?;
        let mask32: Vec<u32> = pseudo.iter().map(|&m| u32::from(m)).collect();
        write_tiff(
            &args.out.join(format!("{name}.pseudo.tif")),
            w,
            h,
            &[OutputPlane::Labels(&mask32)],
            1,
            Calibration::default(),
        )?;
        write_png_rgb(
            &args.out.join(format!("{name}.cam.png")),
            w,
            h,
            &cam_overlay(&normalize(&raw), &cam, &pseudo),
        )?;
    }
    table.flush()?;
    let total: usize = wins.values().sum();
    println!(
        "ScoreCAM maps and pseudo-masks for {total} artifact images (classifier of {} px tiles, \
         validation accuracy {:.3}) in {}",
        card.tile,
        card.val_accuracy,
        args.out.display()
    );
    println!("threshold chosen by mutual information:");
    for t in THRESHOLDS {
        let n = wins.get(&format!("{t}")).copied().unwrap_or(0);
        println!("  {t:<5} {n:>4} images");
    }
    if args.truth_dir.is_some() {
        println!("against the true masks (all images; clean-labelled ones have empty masks):");
        println!("{}", scores[0].line("(a) ScoreCAM map at 0.5"));
        println!("{}", scores[1].line("MI-selected, unrefined"));
        println!(
            "{}",
            scores[2].line(&format!("(b) pseudo-masks, refine {refinement}"))
        );
        println!("{}", scores[3].line("plain CAM at 0.5 (reference)"));
    }
    Ok(())
}

/// `brightseg train artifacts`.
pub fn train_artifacts_cmd(args: &TrainArtifactsArgs) -> Result<()> {
    crate::train_cmd::select_engine(&args.engine, args.jobs)?;
    let masking: Masking = args.masking.parse().map_err(anyhow::Error::msg)?;
    let refinement = args.refine;
    let architecture = Architecture::named(&args.architecture)?;
    let files = read_labels(&args.labels)?;
    let first = read_image(&files[0].path)
        .with_context(|| format!("cannot read {}", files[0].path.display()))?;
    let pixel_um = match (args.pixel_size, first.calibration.pixel_width_um) {
        (Some(p), _) if p.is_finite() && p > 0.0 => p,
        (Some(p), _) => bail!("--pixel-size {p} must be a positive number of µm"),
        (None, Some(p)) => p,
        (None, None) => bail!(
            "{} has no pixel size: give it with --pixel-size (µm)",
            files[0].path.display()
        ),
    };
    let images = labelled_images(&files)?;
    let name = crate::train_cmd::model_name(&args.out)?;
    let unet = TrainConfig {
        architecture,
        patch: args.patch,
        batch: args.batch,
        fit: FitConfig {
            steps_per_epoch: args.steps,
            max_epochs: args.epochs,
            patience: args.patience,
            seed: args.seed,
            ..FitConfig::default()
        },
        scoring: ObjectScoring {
            pixel_um,
            min_area_um2: args.min_size,
            split_objects: false,
        },
        ..TrainConfig::default()
    };
    unet.validate()?;
    let training_data = if args.training_data.is_empty() {
        vec![format!(
            "image-level labels from {} ({} images, {} labelled artifact)",
            args.labels.display(),
            files.len(),
            files.iter().filter(|f| f.artifact).count()
        )]
    } else {
        args.training_data.clone()
    };
    let request = ArtifactTraining {
        name,
        out: args.out.clone(),
        classifier: ClassifierConfig {
            epochs: args.classifier_epochs,
            seed: args.seed,
            ..ClassifierConfig::default()
        },
        classifier_from: args.classifier.clone(),
        masking,
        refinement,
        soft_targets: args.soft_targets,
        unet: unet.clone(),
        val_fraction: args.val_fraction,
        pixel_um,
        time_budget: crate::train_cmd::time_budget(args.time_budget.as_deref())?,
        threads: args.jobs.unwrap_or(0),
        training_data,
        license: args.license.clone(),
    };
    eprintln!(
        "training an artifact U-Net ({architecture}) from the image-level labels of {} images",
        files.len()
    );
    let mut progress = |p: Progress<'_>| {
        if let Progress::Epoch { record, best_score } = p {
            eprintln!(
                "epoch {:>3}: train loss {:.4}, validation loss {:.4}, F1 vs pseudo-masks {:.3} \
                 (best {:.3}), {:.0} s",
                record.epoch,
                record.train_loss,
                record.val_loss,
                record.val_score,
                best_score,
                record.seconds
            );
        }
        true
    };
    let report = train_artifacts(&images, &request, &mut progress)?;
    let wins: Vec<String> = report
        .threshold_wins
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    println!(
        "model {} written to {}: classifier validation accuracy {:.3}; MI chose thresholds {}; \
         U-Net {} epochs ({:?}), best epoch {}, validation F1 vs pseudo-masks {:.3} at threshold \
         {:.2}",
        report.name,
        args.out.display(),
        report.classifier_accuracy,
        wins.join(", "),
        report.history.len(),
        report.stop,
        report.best_epoch,
        report.val_f1_vs_pseudo,
        report.threshold
    );
    Ok(())
}
