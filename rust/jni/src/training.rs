//! Train Nuclei DNN across JNI: the Java side hands over the brightfield and target planes of
//! every field (concatenated, one `float[]` each) and the settings as `key=value` lines; the
//! targets are a nuclear stain, or (`targets=labels`) label images drawn by hand: whole numbers,
//! 1, 2, … one per nucleus, 0 unlabelled (background when the labels are complete) and −1 sure
//! background;
//! training runs on a helper thread while the calling (Java) thread forwards progress to a
//! `TrainingListener` and asks it whether to cancel. The report comes back as `key=value` lines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use brightseg::objects::{relabel_and_filter, Labels};
use brightseg_train::data::fields::Field;
use brightseg_train::data::FloatPlane;
use brightseg_train::fit::{FitConfig, Progress, StopReason};
use brightseg_train::nets::Architecture;
use brightseg_train::nuclei::{train_nuclei, NucleiTraining, TrainingReport};
use brightseg_train::targets::incomplete::IncompleteLabels;
use brightseg_train::targets::TargetParams;
use brightseg_train::tasks::segmentation::{default_learning_rate, ObjectScoring, TrainConfig};
use jni::objects::{JFloatArray, JObject};
use jni::{jni_sig, jni_str, Env, JValue};

use crate::error::{JniError, JniResult};
use crate::nuclei::read_array;

/// A training request as the Java API sends it, parsed and checked.
#[derive(Debug)]
pub struct TrainingSettings {
    /// What to train and where to write it.
    pub request: NucleiTraining,
    /// Pixel size of every field, µm.
    pub pixel_um: f64,
    /// What the second plane of every field holds.
    pub targets: TargetPlanes,
}

/// What the second pixel array of a training call holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPlanes {
    /// A nuclear stain (Hoechst/DAPI): targets are derived from it.
    Stain,
    /// Label images: 1, 2, … one per nucleus, 0 unlabelled, −1 sure background.
    Labels,
}

/// The largest nucleus number a label plane may hold (labels are renumbered, so this only keeps
/// a stray value from allocating a huge table).
const MAX_LABEL: f32 = 16_777_216.0;

/// Keys the settings may contain; anything else is refused (a typo would otherwise be ignored).
const KEYS: [&str; 22] = [
    "name",
    "out",
    "architecture",
    "epochs",
    "steps",
    "batch",
    "patch",
    "patience",
    "learning_rate",
    "seed",
    "time_budget_s",
    "threads",
    "from",
    "pixel_um",
    "min_size_um2",
    "threshold_method",
    "val_fraction",
    "register",
    "training_data",
    "targets",
    "labels_incomplete",
    "unlabelled_weight",
];

fn invalid(message: String) -> JniError {
    JniError::InvalidArgument(message)
}

fn number<T: std::str::FromStr>(
    map: &BTreeMap<&str, Vec<&str>>,
    key: &str,
    default: T,
) -> JniResult<T> {
    match map.get(key).and_then(|v| v.last()) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{key} = '{text}' is not a valid number"))),
    }
}

impl TrainingSettings {
    /// Parses `key=value` lines (a key may repeat only for `training_data`).
    pub fn parse(text: &str) -> JniResult<Self> {
        let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| invalid(format!("setting '{line}' is not key=value")))?;
            let key = key.trim();
            if !KEYS.contains(&key) {
                return Err(invalid(format!(
                    "unknown training setting '{key}': known are {}",
                    KEYS.join(", ")
                )));
            }
            map.entry(key).or_default().push(value);
        }
        let text_of = |key: &str| map.get(key).and_then(|v| v.last()).map(|v| v.trim());
        let name = text_of("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("no model name given".into()))?
            .to_string();
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(invalid(format!(
                "model name '{name}' cannot be a folder name: use letters, digits, '-' and '_'"
            )));
        }
        let out = PathBuf::from(
            text_of("out")
                .filter(|o| !o.is_empty())
                .ok_or_else(|| invalid("no model folder (out) given".into()))?,
        );
        let arch_name = text_of("architecture").unwrap_or("tiny");
        let architecture = Architecture::named(arch_name).map_err(|e| invalid(e.to_string()))?;
        let defaults = TrainConfig::default();
        let pixel_um: f64 = number(&map, "pixel_um", f64::NAN)?;
        if !(pixel_um.is_finite() && pixel_um > 0.0) {
            return Err(invalid(
                "no pixel size: calibrate the images (Image › Properties…) or give the pixel \
                 size in µm"
                    .into(),
            ));
        }
        let min_size_um2: f64 = number(&map, "min_size_um2", defaults.scoring.min_area_um2)?;
        let config = TrainConfig {
            architecture,
            patch: number(&map, "patch", defaults.patch)?,
            batch: number(&map, "batch", defaults.batch)?,
            fit: FitConfig {
                steps_per_epoch: number(&map, "steps", defaults.fit.steps_per_epoch)?,
                max_epochs: number(&map, "epochs", defaults.fit.max_epochs)?,
                patience: number(&map, "patience", defaults.fit.patience)?,
                learning_rate: number(
                    &map,
                    "learning_rate",
                    default_learning_rate(text_of("from").is_some_and(|f| !f.is_empty())),
                )?,
                seed: number(&map, "seed", defaults.fit.seed)?,
                ..defaults.fit.clone()
            },
            scoring: ObjectScoring {
                pixel_um,
                min_area_um2: min_size_um2,
                ..defaults.scoring.clone()
            },
            ..defaults
        };
        config.validate()?;
        let budget_s: f64 = number(&map, "time_budget_s", 0.0)?;
        if !(budget_s.is_finite() && budget_s >= 0.0) {
            return Err(invalid(format!(
                "time budget {budget_s} s is invalid: give 0 (none) or a number of seconds"
            )));
        }
        let method = text_of("threshold_method").unwrap_or("otsu");
        let targets = TargetParams {
            method: method.parse().map_err(invalid)?,
            min_area_um2: min_size_um2,
            ..TargetParams::default()
        };
        targets.validate()?;
        let flag = |key: &str| match text_of(key).unwrap_or("false") {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(invalid(format!("{key} = '{other}': give true or false"))),
        };
        let register = flag("register")?;
        let target_planes = match text_of("targets").unwrap_or("stain") {
            "stain" => TargetPlanes::Stain,
            "labels" => TargetPlanes::Labels,
            other => {
                return Err(invalid(format!(
                    "targets = '{other}': give stain (a nuclear stain channel) or labels (label \
                     images)"
                )))
            }
        };
        let incomplete_labels = if flag("labels_incomplete")? {
            if target_planes != TargetPlanes::Labels {
                return Err(invalid(
                    "labels_incomplete = true needs label images (targets = labels), not a stain"
                        .into(),
                ));
            }
            let params = IncompleteLabels {
                unlabelled_weight: number(
                    &map,
                    "unlabelled_weight",
                    IncompleteLabels::default().unlabelled_weight,
                )?,
                ..IncompleteLabels::default()
            };
            params.validate()?;
            Some(params)
        } else {
            None
        };
        let start_from = text_of("from").filter(|f| !f.is_empty()).map(PathBuf::from);
        Ok(TrainingSettings {
            request: NucleiTraining {
                name,
                out,
                targets,
                incomplete_labels,
                register,
                val_fraction: number(&map, "val_fraction", 0.2)?,
                selection: Default::default(),
                config,
                start_from,
                time_budget: (budget_s > 0.0).then(|| Duration::from_secs_f64(budget_s)),
                threads: number(&map, "threads", 0)?,
                training_data: map
                    .get("training_data")
                    .map(|v| v.iter().map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default(),
                license: "CC-BY-4.0".into(),
            },
            pixel_um,
            targets: target_planes,
        })
    }
}

/// Cuts the concatenated planes into fields: `sizes` holds width and height of each, `names`
/// one line per field, `second` the stain or the label planes as `targets` says.
pub fn fields(
    names: &str,
    sizes: &[i32],
    brightfield: Vec<f32>,
    second: Vec<f32>,
    targets: TargetPlanes,
    pixel_um: f64,
) -> JniResult<Vec<Field>> {
    let names: Vec<&str> = names.lines().collect();
    if sizes.len() != 2 * names.len() || names.is_empty() {
        return Err(invalid(format!(
            "{} field names but {} sizes: give width and height of every field",
            names.len(),
            sizes.len() / 2
        )));
    }
    let mut out = Vec::with_capacity(names.len());
    let mut offset = 0usize;
    for (k, name) in names.iter().enumerate() {
        let (w, h) = (sizes[2 * k], sizes[2 * k + 1]);
        let (w, h) = match (usize::try_from(w), usize::try_from(h)) {
            (Ok(w), Ok(h)) if w >= 16 && h >= 16 => (w, h),
            _ => {
                return Err(invalid(format!(
                    "{name}: {w} × {h} pixels is too small to train on (16 × 16 at least)"
                )))
            }
        };
        let end = offset
            .checked_add(w * h)
            .filter(|&e| e <= brightfield.len() && e <= second.len())
            .ok_or_else(|| {
                invalid(format!(
                    "the pixel arrays end before {name}: they must hold every field's width × \
                     height values"
                ))
            })?;
        let plane = &second[offset..end];
        let (fluorescence, truth, background) = match targets {
            TargetPlanes::Stain => (Some(FloatPlane::new(w, h, plane.to_vec())), None, None),
            TargetPlanes::Labels => {
                let (labels, background) = label_plane(name, w, h, plane)?;
                (None, Some(labels), background)
            }
        };
        out.push(Field {
            name: name.to_string(),
            path: PathBuf::from(name),
            frame: 0,
            brightfield: FloatPlane::new(w, h, brightfield[offset..end].to_vec()),
            fluorescence,
            truth,
            background,
            pixel_um: Some(pixel_um),
            dataset: 0,
        });
        offset = end;
    }
    if offset != brightfield.len() || offset != second.len() {
        return Err(invalid(format!(
            "the pixel arrays hold {} and {} values but the fields need {offset}",
            brightfield.len(),
            second.len()
        )));
    }
    Ok(out)
}

/// The nuclei (renumbered 1..n) and the sure background (where any pixel is −1) of a label
/// plane: whole numbers from −1, one per nucleus.
fn label_plane(
    name: &str,
    width: usize,
    height: usize,
    values: &[f32],
) -> JniResult<(Labels, Option<Vec<bool>>)> {
    if let Some(bad) = values
        .iter()
        .find(|&&v| !((-1.0..=MAX_LABEL).contains(&v) && v.fract() == 0.0))
    {
        return Err(invalid(format!(
            "{name}: the label plane holds {bad}: labels are whole numbers, 1, 2, … for nuclei, \
             0 for unlabelled pixels and -1 for sure background"
        )));
    }
    let ids = values.iter().map(|&v| v.max(0.0) as u32).collect();
    let labels = relabel_and_filter(ids, width, height, 0.0);
    let background = values
        .iter()
        .any(|&v| v < 0.0)
        .then(|| values.iter().map(|&v| v < 0.0).collect());
    Ok((labels, background))
}

/// The report as `key=value` lines for the Java side.
pub fn report_lines(report: &TrainingReport, out: &std::path::Path) -> String {
    let stop = match report.stop {
        StopReason::Finished => "finished",
        StopReason::EarlyStopped => "early_stopped",
        StopReason::TimeBudget => "time_budget",
        StopReason::Cancelled => "cancelled",
    };
    let seconds: f64 = report.history.iter().map(|r| r.seconds).sum();
    [
        format!("name={}", report.name),
        format!("folder={}", out.display()),
        format!("stop={stop}"),
        format!("epochs={}", report.history.len()),
        format!("best_epoch={}", report.best_epoch),
        format!("validation_f1={}", report.val_f1_at_threshold),
        format!("threshold={}", report.threshold),
        format!("split_depth_px={}", report.split_depth_px),
        format!("parameters={}", report.parameters),
        format!("resumed_after={}", report.resumed_after),
        format!("seconds={seconds}"),
        format!("engine={}", report.engine.as_deref().unwrap_or("flex")),
    ]
    .join("\n")
}

/// One progress report, sent from the training thread to the Java thread.
enum Report {
    Preparing {
        done: usize,
        total: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    Epoch {
        epoch: usize,
        train_loss: f64,
        val_loss: f64,
        val_f1: f64,
        best_f1: f64,
        seconds: f64,
    },
}

fn int(v: usize) -> JValue<'static> {
    JValue::Int(i32::try_from(v).unwrap_or(i32::MAX))
}

/// Forwards one report to the listener and returns whether it asks to cancel.
fn forward(
    env: &mut Env<'_>,
    listener: &JObject<'_>,
    report: &Report,
    settings: &TrainingSettings,
) -> JniResult<bool> {
    let config = &settings.request.config;
    match *report {
        Report::Preparing { done, total } => {
            env.call_method(
                listener,
                jni_str!("onPreparing"),
                jni_sig!("(II)V"),
                &[int(done), int(total)],
            )?;
        }
        Report::Step { epoch, step, loss } => {
            env.call_method(
                listener,
                jni_str!("onStep"),
                jni_sig!("(IIID)V"),
                &[
                    int(epoch),
                    int(step),
                    int(config.fit.steps_per_epoch),
                    JValue::Double(loss),
                ],
            )?;
        }
        Report::Epoch {
            epoch,
            train_loss,
            val_loss,
            val_f1,
            best_f1,
            seconds,
        } => {
            env.call_method(
                listener,
                jni_str!("onEpoch"),
                jni_sig!("(IIDDDDD)V"),
                &[
                    int(epoch),
                    int(config.fit.max_epochs),
                    JValue::Double(train_loss),
                    JValue::Double(val_loss),
                    JValue::Double(val_f1),
                    JValue::Double(best_f1),
                    JValue::Double(seconds),
                ],
            )?;
        }
    }
    Ok(env
        .call_method(listener, jni_str!("isCancelled"), jni_sig!("()Z"), &[])?
        .z()?)
}

/// Trains on the fields, reporting to `listener` (an `io.github.brightseg.TrainingListener`, or
/// null) on the calling thread; returns the report lines.
pub fn run(
    env: &mut Env<'_>,
    settings: &TrainingSettings,
    fields: &[Field],
    listener: &JObject<'_>,
) -> JniResult<String> {
    // The worker waits for the answer to each report, so a cancel takes effect after exactly
    // the step the listener saw (no step runs between the report and the answer).
    let (sender, receiver) = mpsc::channel::<Report>();
    let (answer, answers) = mpsc::channel::<bool>();
    let mut listener_failed = false;
    let outcome = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let mut progress = move |p: Progress<'_>| {
                let report = match p {
                    Progress::Preparing { done, total } => Report::Preparing { done, total },
                    Progress::Step { epoch, step, loss } => Report::Step { epoch, step, loss },
                    Progress::Epoch { record, best_score } => Report::Epoch {
                        epoch: record.epoch,
                        train_loss: record.train_loss,
                        val_loss: record.val_loss,
                        val_f1: record.val_score,
                        best_f1: best_score,
                        seconds: record.seconds,
                    },
                };
                sender.send(report).is_ok() && answers.recv().unwrap_or(false)
            };
            train_nuclei(fields, None, &settings.request, &mut progress)
        });
        for report in receiver {
            let go_on = if listener_failed || listener.is_null() {
                !listener_failed
            } else {
                match forward(env, listener, &report, settings) {
                    Ok(cancelled) => !cancelled,
                    Err(_) => {
                        // The listener threw: stop training (keeping the best epoch) and let
                        // the exception reach the caller.
                        listener_failed = true;
                        false
                    }
                }
            };
            let _ = answer.send(go_on);
        }
        worker.join()
    });
    let result = match outcome {
        Ok(result) => result,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    if listener_failed {
        // The listener's exception is pending: it, not the cancel it caused, reaches the caller.
        return Err(JniError::Jni(jni::errors::Error::JavaException));
    }
    let report = result?;
    Ok(report_lines(&report, &settings.request.out))
}

/// Reads the two pixel arrays (each the concatenation of every field's plane).
pub fn read_planes(
    env: &Env<'_>,
    sizes: &[i32],
    brightfield: &JFloatArray<'_>,
    targets: &JFloatArray<'_>,
) -> JniResult<(Vec<f32>, Vec<f32>)> {
    let total: usize = sizes
        .chunks(2)
        .map(|c| {
            c.iter()
                .map(|&v| usize::try_from(v).unwrap_or(0))
                .product::<usize>()
        })
        .sum();
    Ok((
        read_array(env, brightfield, total, "brightfield")?,
        read_array(env, targets, total, "targets")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brightseg_train::tasks::segmentation::FINE_TUNING_LEARNING_RATE;

    const MINIMAL: &str = "name=my-model\nout=/tmp/models/my-model\npixel_um=0.65\n";
    const STAIN: TargetPlanes = TargetPlanes::Stain;

    #[test]
    fn minimal_settings_take_the_defaults() {
        let s = TrainingSettings::parse(MINIMAL).expect("valid");
        assert_eq!(s.request.name, "my-model");
        assert_eq!(s.request.config.architecture, Architecture::TINY);
        assert_eq!(
            s.request.config.fit.max_epochs,
            TrainConfig::default().fit.max_epochs
        );
        assert!(s.request.time_budget.is_none());
        assert_eq!(s.pixel_um, 0.65);
        assert!((s.request.val_fraction - 0.2).abs() < 1e-12);
        assert_eq!(s.request.config.fit.learning_rate, 2e-3);
        let fine_tuning = TrainingSettings::parse(&format!("{MINIMAL}from=/m/base\n"));
        let lr = fine_tuning.expect("valid").request.config.fit.learning_rate;
        assert_eq!(lr, FINE_TUNING_LEARNING_RATE, "fine-tuning starts lower");
    }

    #[test]
    fn every_setting_is_read() {
        let text = format!(
            "{MINIMAL}architecture=standard\nepochs=3\nsteps=5\nbatch=2\npatch=64\npatience=4\n\
             learning_rate=0.001\nseed=9\ntime_budget_s=90\nthreads=2\nfrom=/m/base\n\
             min_size_um2=20\nthreshold_method=li\nval_fraction=0.3\nregister=true\n\
             training_data=a.tif\ntraining_data=b.tif\n"
        );
        let s = TrainingSettings::parse(&text).expect("valid");
        let r = &s.request;
        assert_eq!(r.config.architecture, Architecture::STANDARD);
        assert_eq!(
            (
                r.config.fit.max_epochs,
                r.config.fit.steps_per_epoch,
                r.config.batch,
                r.config.patch
            ),
            (3, 5, 2, 64)
        );
        assert_eq!(
            (r.config.fit.patience, r.config.fit.seed, r.threads),
            (4, 9, 2)
        );
        assert_eq!(r.time_budget, Some(Duration::from_secs(90)));
        assert_eq!(
            r.start_from.as_deref(),
            Some(std::path::Path::new("/m/base"))
        );
        assert_eq!(r.targets.min_area_um2, 20.0);
        assert_eq!(r.config.scoring.min_area_um2, 20.0);
        assert_eq!(r.targets.method.name(), "li");
        assert!(r.register);
        assert_eq!(r.training_data, ["a.tif", "b.tif"]);
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let cases = [
            ("out=/x\npixel_um=1\n", "no model name"),
            ("name=a/b\nout=/x\npixel_um=1\n", "cannot be a folder name"),
            ("name=a\npixel_um=1\n", "no model folder"),
            ("name=a\nout=/x\n", "no pixel size"),
            ("name=a\nout=/x\npixel_um=-1\n", "no pixel size"),
            (
                &format!("{MINIMAL}architecture=huge\n"),
                "unknown architecture 'huge'",
            ),
            (
                &format!("{MINIMAL}epochs=many\n"),
                "epochs = 'many' is not a valid number",
            ),
            (
                &format!("{MINIMAL}epoch=3\n"),
                "unknown training setting 'epoch'",
            ),
            (
                &format!("{MINIMAL}time_budget_s=-5\n"),
                "time budget -5 s is invalid",
            ),
            (&format!("{MINIMAL}register=yes\n"), "register = 'yes'"),
            (&format!("{MINIMAL}threshold_method=magic\n"), "magic"),
            (&format!("{MINIMAL}just words\n"), "is not key=value"),
            (&format!("{MINIMAL}targets=masks\n"), "targets = 'masks'"),
            (
                &format!("{MINIMAL}labels_incomplete=true\n"),
                "needs label images",
            ),
            (
                &format!("{MINIMAL}targets=labels\nlabels_incomplete=true\nunlabelled_weight=0\n"),
                "unlabelled weight 0 must be in (0, 1]",
            ),
        ];
        for (text, expected) in cases {
            let e = TrainingSettings::parse(text).expect_err(text);
            assert!(e.to_string().contains(expected), "{text:?}: {e}");
            assert_eq!(
                e.java_class(),
                "java/lang/IllegalArgumentException",
                "{text:?}"
            );
        }
    }

    #[test]
    fn planes_are_cut_into_fields_in_order() {
        let (a, b) = (20 * 16, 16 * 18);
        let bright: Vec<f32> = (0..a + b).map(|v| v as f32).collect();
        let stain: Vec<f32> = bright.iter().map(|v| -v).collect();
        let f = fields("one\ntwo", &[20, 16, 16, 18], bright, stain, STAIN, 0.5).expect("valid");
        assert_eq!(f.len(), 2);
        assert_eq!((f[1].brightfield.width, f[1].brightfield.height), (16, 18));
        assert_eq!(f[1].brightfield.data[0], a as f32);
        assert_eq!(
            f[1].fluorescence.as_ref().map(|p| p.data[0]),
            Some(-(a as f32))
        );
        assert_eq!(f[0].pixel_um, Some(0.5));
    }

    #[test]
    fn mismatched_planes_are_refused() {
        let too_short = fields("one", &[20, 20], vec![0.0; 100], vec![0.0; 400], STAIN, 1.0);
        assert!(too_short.is_err());
        let extra = fields("one", &[20, 20], vec![0.0; 500], vec![0.0; 500], STAIN, 1.0);
        assert!(extra.expect_err("extra").to_string().contains("need 400"));
        let names = fields(
            "one\ntwo",
            &[20, 20],
            vec![0.0; 400],
            vec![0.0; 400],
            STAIN,
            1.0,
        );
        assert!(names
            .expect_err("names")
            .to_string()
            .contains("2 field names but 1 sizes"));
        let tiny = fields("one", &[8, 8], vec![0.0; 64], vec![0.0; 64], STAIN, 1.0);
        assert!(tiny.expect_err("tiny").to_string().contains("too small"));
    }

    #[test]
    fn label_planes_become_nuclei_and_sure_background() {
        let text =
            format!("{MINIMAL}targets=labels\nlabels_incomplete=true\nunlabelled_weight=0.2\n");
        let s = TrainingSettings::parse(&text).expect("valid");
        assert_eq!(s.targets, TargetPlanes::Labels);
        let incomplete = s.request.incomplete_labels.expect("incomplete labels");
        assert!((incomplete.unlabelled_weight - 0.2).abs() < 1e-6);
        let plain = TrainingSettings::parse(&format!("{MINIMAL}targets=labels\n")).expect("valid");
        assert!(
            plain.request.incomplete_labels.is_none(),
            "complete by default"
        );
        // 16 × 16: nucleus 7 at the top left, nucleus 3 below it, a background scribble.
        let mut labels = vec![0.0f32; 256];
        labels[0] = 7.0;
        labels[1] = 7.0;
        labels[16 * 5] = 3.0;
        labels[255] = -1.0;
        let f = fields(
            "one",
            &[16, 16],
            vec![1.0; 256],
            labels,
            TargetPlanes::Labels,
            0.5,
        )
        .expect("valid");
        assert!(f[0].fluorescence.is_none());
        let truth = f[0].truth.as_ref().expect("labels");
        assert_eq!(truth.count, 2, "renumbered 1..n");
        assert_eq!((truth.data[0], truth.data[1], truth.data[80]), (1, 1, 2));
        assert_eq!(truth.data[255], 0, "background is not a nucleus");
        let background = f[0].background.as_ref().expect("sure background");
        assert_eq!(background.iter().filter(|&&b| b).count(), 1);
        assert!(background[255]);
        // Without a −1 pixel no background is marked; a fraction or −2 is refused.
        let unmarked = fields(
            "one",
            &[16, 16],
            vec![1.0; 256],
            vec![0.0; 256],
            TargetPlanes::Labels,
            0.5,
        );
        assert!(unmarked.expect("valid")[0].background.is_none());
        for bad in [0.5f32, -2.0, f32::NAN] {
            let mut values = vec![0.0f32; 256];
            values[9] = bad;
            let e = fields(
                "one",
                &[16, 16],
                vec![1.0; 256],
                values,
                TargetPlanes::Labels,
                0.5,
            )
            .expect_err("refused");
            assert!(e.to_string().contains("label plane holds"), "{e}");
        }
    }
}
