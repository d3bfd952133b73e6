//! The fit loop every network of the toolkit trains with, knowing nothing of nuclei or
//! artifacts: epochs of steps (Adam, a learning-rate schedule), validation after every epoch,
//! the best epoch by the task's score, early stopping, a time budget, a cancel that keeps the
//! best network, fine-tuning from saved weights, and checkpoints after every epoch from which
//! a killed run resumes exactly.
//!
//! What is learnt is a [`Task`]: it makes the network, draws a batch, computes the loss (from
//! [`crate::loss`]) and validates to a score. Segmentation ([`crate::tasks::segmentation`]) and
//! the artifact classifier ([`crate::tasks::classification`]) are the tasks today.

mod checkpoint;

use std::path::Path;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

pub use checkpoint::CheckpointDir;
use checkpoint::State;

use crate::nets::DrawWeights;

/// How the learning rate moves over the epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// From the peak along a cosine to a twentieth of it by the last epoch.
    #[default]
    Cosine,
    /// The peak throughout.
    Constant,
}

/// Which network a run ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The network of the best validation epoch (early stopping by `patience`).
    #[default]
    Best,
    /// The network of the last epoch, all epochs run (no early stopping): for validation data
    /// too small to choose an epoch by, where the best score is mostly luck.
    Last,
    /// The network of the epoch with the lowest validation loss (early stopping by `patience`):
    /// the loss counts every validation pixel, where a score such as object F1 on a few objects
    /// moves in steps.
    #[serde(rename = "lowest-loss")]
    LowestLoss,
}

impl std::str::FromStr for Keep {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "best" => Ok(Keep::Best),
            "last" => Ok(Keep::Last),
            "lowest-loss" => Ok(Keep::LowestLoss),
            other => Err(Error::invalid(format!(
                "keep '{other}': say best (the best validation epoch), last (the last epoch) or \
                 lowest-loss (the epoch with the lowest validation loss)"
            ))),
        }
    }
}

/// Settings of the loop itself, the same for every task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Most epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Peak learning rate (Adam).
    pub learning_rate: f64,
    /// How the learning rate moves from the peak (absent in older checkpoints: cosine).
    #[serde(default)]
    pub schedule: Schedule,
    /// Seed of the weights and of every random choice: same seed, same data, same threads →
    /// same network.
    pub seed: u64,
    /// Which network the run ends with (absent in older checkpoints: the best).
    #[serde(default)]
    pub keep: Keep,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            steps_per_epoch: 40,
            max_epochs: 60,
            patience: 12,
            learning_rate: 2e-3,
            schedule: Schedule::Cosine,
            seed: 1,
            keep: Keep::Best,
        }
    }
}

impl FitConfig {
    /// Checks the ranges before any work is done.
    pub fn validate(&self) -> Result<()> {
        let counts = [
            ("steps per epoch", self.steps_per_epoch),
            ("epochs", self.max_epochs),
            ("patience", self.patience),
        ];
        for (name, v) in counts {
            if v == 0 {
                return Err(Error::invalid(format!("{name} must be at least 1")));
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(Error::invalid(format!(
                "learning rate {} must be between 0 and 1 (1e-3 is usual)",
                self.learning_rate
            )));
        }
        Ok(())
    }

    /// Learning rate in `epoch` (from 0).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine => {
                let floor = self.learning_rate / 20.0;
                let t = (epoch as f64 / self.max_epochs.max(1) as f64).min(1.0);
                floor
                    + (self.learning_rate - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// The random generator of `epoch` (from 1): one per epoch, so a resumed run draws what
    /// the uninterrupted one would.
    fn epoch_rng(&self, epoch: usize) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// A network's loss and score on the validation data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validation {
    /// The training loss on the validation data.
    pub loss: f64,
    /// The task's score, higher is better (object F1 for segmentation, accuracy for
    /// classification): the best epoch is the one with the highest.
    pub score: f64,
}

/// Something the fit loop can learn: a network, batches, a loss and a validation score.
pub trait Task: Sync {
    /// The network trained.
    type Net: DrawWeights;
    /// One training batch, on the training device.
    type Batch;

    /// Names the network in messages ("U-Net", "artifact classifier").
    fn name(&self) -> &str;

    /// A fresh network on `device` (the loop draws its weights under the run's seed).
    fn network(&self, device: &Device) -> Self::Net;

    /// Draws one training batch with `rng`, on `device`.
    fn batch(&self, rng: &mut ChaCha8Rng, device: &Device) -> Self::Batch;

    /// The loss of `net` on `batch`: a scalar whose gradient the step follows.
    fn loss(&self, net: &Self::Net, batch: Self::Batch) -> Tensor<1>;

    /// Loss and score of `net` (without automatic differentiation) on the validation data.
    fn validate(&self, net: &Self::Net) -> Validation;

    /// The task's settings as a checkpoint records them: a run resumes only a checkpoint made
    /// with the same settings, [`FitConfig`] and data.
    fn settings(&self) -> serde_json::Value;

    /// A cheap fingerprint of the training and validation data.
    fn data_fingerprint(&self) -> u64;
}

/// A cheap fingerprint of a task's data (FNV-1a over sizes, labels and every 97th value), for
/// [`Task::data_fingerprint`]: a checkpoint is resumed only on the same data.
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    /// Adds one value.
    pub fn add(&mut self, value: u64) {
        self.0 ^= value;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }

    /// Adds every 97th value of `values`, with its index.
    pub fn add_sampled(&mut self, values: &[f32]) {
        for (i, v) in values.iter().enumerate().step_by(97) {
            self.add(u64::from(v.to_bits()) ^ i as u64);
        }
    }

    /// The fingerprint.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss (the same loss on the validation data).
    pub val_loss: f64,
    /// Validation score of the task (segmentation: object F1 at IoU 0.5, threshold 0.5;
    /// classification: accuracy). Reports written before the fit loop was shared name it
    /// `val_f1` or `val_accuracy`.
    #[serde(alias = "val_f1", alias = "val_accuracy")]
    pub val_score: f64,
    /// Learning rate used.
    #[serde(default)]
    pub learning_rate: f64,
    /// Seconds the epoch took.
    #[serde(default)]
    pub seconds: f64,
}

/// Progress reports from a training run; the callback returns `false` to cancel.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// The targets of `done` of `total` images are ready (before training starts).
    Preparing {
        /// Images done, from 1.
        done: usize,
        /// All images, training and validation.
        total: usize,
    },
    /// A step finished.
    Step {
        /// Epoch, from 1.
        epoch: usize,
        /// Step within the epoch, from 1.
        step: usize,
        /// Loss of this step's batch.
        loss: f64,
    },
    /// An epoch finished and was validated.
    Epoch {
        /// The record.
        record: &'a EpochRecord,
        /// Best validation score so far.
        best_score: f64,
    },
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All epochs ran.
    Finished,
    /// The validation score did not improve for `patience` epochs.
    EarlyStopped,
    /// The time budget ran out.
    TimeBudget,
    /// The caller cancelled.
    Cancelled,
}

/// The result of a training run.
#[derive(Debug)]
pub struct FitOutcome<N> {
    /// The network of the best validation epoch (without automatic differentiation).
    pub model: N,
    /// Every epoch, including those of earlier runs this one resumed.
    pub history: Vec<EpochRecord>,
    /// Epoch of the best validation score (0: none finished, or none beat the starting
    /// network).
    pub best_epoch: usize,
    /// Best validation score.
    pub best_score: f64,
    /// Why it stopped.
    pub stop: StopReason,
    /// Epoch this run resumed after (0: started fresh).
    pub resumed_after: usize,
}

/// Options of [`fit`] that are not part of the reproducible configuration.
pub struct FitOptions<'a> {
    /// Where checkpoints live; a matching checkpoint there is resumed.
    pub checkpoints: CheckpointDir,
    /// Start from these weights (fine-tuning) instead of random ones; ignored when resuming.
    pub start_from: Option<&'a Path>,
    /// Stop (keeping the best network) once this much time has passed.
    pub time_budget: Option<Duration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
}

/// Trains `task`'s network with `config`, validating after each epoch. `progress` is called
/// after every step and epoch; returning `false` cancels (the best network so far is kept).
pub fn fit<T: Task>(
    task: &T,
    config: &FitConfig,
    options: &FitOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<FitOutcome<T::Net>> {
    config.validate()?;
    worker_pool(options.threads)?.install(|| run(task, config, options, progress))
}

/// How long one training step took, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSeconds {
    /// The whole step.
    pub total: f64,
    /// Drawing and augmenting the batch, part of `total`.
    pub batch: f64,
}

/// Seconds each of `steps` training steps of `task` took, after `warmup` untimed ones: a
/// batch drawn, the forward pass and loss, the backward pass and an Adam update, as [`fit`]
/// runs them (no validation, no checkpoints), on the engine [`crate::compute::select_engine`]
/// chose, with `threads` workers (0: all cores). For benchmarks of the engines.
pub fn time_steps<T: Task>(
    task: &T,
    seed: u64,
    warmup: usize,
    steps: usize,
    threads: usize,
) -> Result<Vec<StepSeconds>> {
    worker_pool(threads)?.install(|| {
        let device = crate::compute::training_device();
        let mut model = crate::nets::seeded(&device, seed, || task.network(&device));
        let mut optimizer = AdamConfig::new().init();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seconds = Vec::with_capacity(steps);
        for step in 0..warmup + steps {
            let started = Instant::now();
            let stepped = train_step(task, model, &mut optimizer, &mut rng, &device, 1e-3)
                .map_err(|value| {
                    Error::backend(format!(
                        "{} diverged (loss {value}) while timing steps",
                        task.name()
                    ))
                })?;
            model = stepped.model;
            if step >= warmup {
                seconds.push(StepSeconds {
                    total: started.elapsed().as_secs_f64(),
                    batch: stepped.batch_seconds,
                });
            }
        }
        Ok(seconds)
    })
}

/// A pool of `threads` workers (0: all cores) for the engines that take their threads from
/// rayon.
fn worker_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::invalid(format!("cannot start {threads} threads: {e}")))
}

/// What one training step left.
struct Stepped<N> {
    /// The updated network.
    model: N,
    /// Its loss on the batch, before the update.
    loss: f64,
    /// Seconds spent drawing the batch.
    batch_seconds: f64,
}

/// One training step, as [`fit`] and [`time_steps`] both run it: a batch drawn with `rng`, the
/// loss (reading it waits for the engine, which on a GPU runs ahead otherwise), its gradient
/// and an Adam update at `lr`. A loss that is not finite is returned as the error, before any
/// update.
fn train_step<T: Task>(
    task: &T,
    model: T::Net,
    optimizer: &mut ModuleOptimizer,
    rng: &mut ChaCha8Rng,
    device: &Device,
    lr: f64,
) -> std::result::Result<Stepped<T::Net>, f64> {
    let started = Instant::now();
    let batch = task.batch(rng, device);
    let batch_seconds = started.elapsed().as_secs_f64();
    let loss = task.loss(&model, batch);
    let value = crate::loss::value(loss.clone());
    if !value.is_finite() {
        return Err(value);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok(Stepped {
        model: optimizer.step(lr, model, grads),
        loss: value,
        batch_seconds,
    })
}

fn run<T: Task>(
    task: &T,
    config: &FitConfig,
    options: &FitOptions<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) -> bool + Send),
) -> Result<FitOutcome<T::Net>> {
    let started = Instant::now();
    let device = crate::compute::training_device();
    let dir = &options.checkpoints;
    let mut model = crate::nets::seeded(&device, config.seed, || task.network(&device));
    let mut optimizer = AdamConfig::new().init();
    let mut state = State::new(config, task);
    if let Some(saved) = dir.resumable(&state) {
        model = dir.load_last(model)?;
        optimizer = dir.load_optimizer(optimizer)?;
        log::info!(
            "resuming the {} after epoch {} (best score {:.3} at epoch {})",
            task.name(),
            saved.history.len(),
            saved.best_score,
            saved.best_epoch
        );
        state = saved;
    } else {
        dir.create()?;
        if let Some(start) = options.start_from {
            model = model.try_load_file(start).map_err(|e| {
                Error::model(format!(
                    "cannot start from {}: {e}: it must be a checkpoint of a {} with the same \
                     shape",
                    start.display(),
                    task.name()
                ))
            })?;
            // The starting network is epoch 0 of the model selection: when fine-tuning on a
            // few images makes it worse on the validation data, the starting network is kept.
            let starting = model.valid();
            let v = task.validate(&starting);
            log::info!(
                "starting {}: validation loss {:.4}, score {:.3}",
                task.name(),
                v.loss,
                v.score
            );
            state.best_score = v.score;
            state.best_val_loss = v.loss;
            dir.save_best(&starting)?;
        }
    }
    let resumed_after = state.history.len();
    let mut stop = StopReason::Finished;
    for epoch in state.history.len() + 1..=config.max_epochs {
        if config.keep != Keep::Last && state.epochs_without_gain >= config.patience {
            stop = StopReason::EarlyStopped;
            break;
        }
        if options
            .time_budget
            .is_some_and(|budget| started.elapsed() >= budget)
        {
            stop = StopReason::TimeBudget;
            break;
        }
        let epoch_start = Instant::now();
        let lr = config.learning_rate_at(epoch - 1);
        let mut rng = config.epoch_rng(epoch);
        let mut loss_sum = 0.0;
        for step in 1..=config.steps_per_epoch {
            let stepped = train_step(task, model, &mut optimizer, &mut rng, &device, lr).map_err(
                |value| {
                    Error::backend(format!(
                        "{} training diverged (loss {value}) in epoch {epoch}: lower the \
                         learning rate",
                        task.name()
                    ))
                },
            )?;
            model = stepped.model;
            let value = stepped.loss;
            loss_sum += value;
            if !progress(Progress::Step {
                epoch,
                step,
                loss: value,
            }) {
                stop = StopReason::Cancelled;
                break;
            }
        }
        if stop == StopReason::Cancelled {
            break;
        }
        let current = model.valid();
        let v = task.validate(&current);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / config.steps_per_epoch as f64,
            val_loss: v.loss,
            val_score: v.score,
            learning_rate: lr,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        if state.record(record.clone()) {
            dir.save_best(&current)?;
        }
        dir.save(&state, &current, &optimizer)?;
        if !progress(Progress::Epoch {
            record: &record,
            best_score: state.best_score,
        }) {
            stop = StopReason::Cancelled;
            break;
        }
    }
    if config.keep == Keep::Last {
        // The last validated epoch's network, whatever the validation said: a run cancelled
        // in the middle of an epoch goes back to the checkpoint written after the last one.
        let last = state.history.last().map(|r| (r.epoch, r.val_score));
        if stop == StopReason::Cancelled && last.is_some() {
            model = dir.load_last(model)?;
        }
        return Ok(FitOutcome {
            model: model.valid(),
            best_epoch: last.map_or(0, |(epoch, _)| epoch),
            best_score: last.map_or(0.0, |(_, score)| score.max(0.0)),
            history: state.history,
            stop,
            resumed_after,
        });
    }
    if stop == StopReason::Finished && state.epochs_without_gain >= config.patience {
        stop = StopReason::EarlyStopped;
    }
    let best = match dir.best_model() {
        Some(path) => {
            let plain = crate::compute::device();
            crate::nets::seeded(&plain, 0, || task.network(&plain))
        }
        .try_load_file(&path)
        .map_err(|e| Error::model(format!("cannot read {}: {e}", path.display())))?,
        None => model.valid(),
    };
    Ok(FitOutcome {
        model: best,
        history: state.history,
        best_epoch: state.best_epoch,
        best_score: state.best_score.max(0.0),
        stop,
        resumed_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_follows_a_cosine_from_peak_to_a_twentieth_or_stays() {
        let c = FitConfig {
            max_epochs: 10,
            learning_rate: 1e-3,
            ..FitConfig::default()
        };
        assert!((c.learning_rate_at(0) - 1e-3).abs() < 1e-12);
        assert!((c.learning_rate_at(10) - 5e-5).abs() < 1e-12);
        assert!(c.learning_rate_at(5) < c.learning_rate_at(4));
        let constant = FitConfig {
            schedule: Schedule::Constant,
            ..c
        };
        assert_eq!(constant.learning_rate_at(7), 1e-3);
    }

    #[test]
    fn bad_settings_are_refused_before_work() {
        for bad in [
            FitConfig {
                steps_per_epoch: 0,
                ..FitConfig::default()
            },
            FitConfig {
                patience: 0,
                ..FitConfig::default()
            },
            FitConfig {
                learning_rate: 2.0,
                ..FitConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_written_before_the_loop_was_shared_still_read() {
        let nuclei: EpochRecord = serde_json::from_str(
            r#"{"epoch": 1, "train_loss": 1.5, "val_loss": 1.1, "val_f1": 0.5,
                "learning_rate": 0.002, "seconds": 4.3}"#,
        )
        .expect("nuclei record");
        assert_eq!(nuclei.val_score, 0.5);
        let classifier: EpochRecord = serde_json::from_str(
            r#"{"epoch": 1, "train_loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.625}"#,
        )
        .expect("classifier record");
        assert_eq!(
            (classifier.val_score, classifier.learning_rate),
            (0.625, 0.0)
        );
    }
}
