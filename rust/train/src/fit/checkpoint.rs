//! What a training run saves after every epoch so a killed run continues where it stopped: the
//! loop's state (history, best epoch, patience count), the last and the best network, and the
//! optimiser. Every file is written to a temporary name and renamed into place, so a kill never
//! leaves half of one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use brightseg::{Error, Result};

use super::{EpochRecord, FitConfig, Keep, Task};

const STATE: &str = "state.json";
const LAST: &str = "last.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const BEST: &str = "best.bpk";

/// The loop's state between epochs, as `state.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    fit: FitConfig,
    task: serde_json::Value,
    data_fingerprint: u64,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub best_score: f64,
    pub best_val_loss: f64,
    pub epochs_without_gain: usize,
}

impl State {
    /// The state of a run of `task` with `fit` that has not started.
    pub fn new<T: Task>(fit: &FitConfig, task: &T) -> State {
        State {
            fit: fit.clone(),
            task: task.settings(),
            data_fingerprint: task.data_fingerprint(),
            history: Vec::new(),
            best_epoch: 0,
            best_score: f64::NEG_INFINITY,
            best_val_loss: f64::INFINITY,
            epochs_without_gain: 0,
        }
    }

    /// True when `saved` was made by a run with the same settings on the same data.
    fn continues(&self, saved: &State) -> bool {
        self.fit == saved.fit
            && self.task == saved.task
            && self.data_fingerprint == saved.data_fingerprint
    }

    /// Adds an epoch; true when it is the best so far: a higher score, or the same score
    /// (early on, often 0) with a lower validation loss; with [`Keep::LowestLoss`], a lower
    /// validation loss.
    pub fn record(&mut self, record: EpochRecord) -> bool {
        let improved = match self.fit.keep {
            Keep::LowestLoss => record.val_loss < self.best_val_loss - 1e-9,
            Keep::Best | Keep::Last => {
                record.val_score > self.best_score + 1e-9
                    || ((record.val_score - self.best_score).abs() <= 1e-9
                        && record.val_loss < self.best_val_loss)
            }
        };
        if improved {
            self.best_val_loss = record.val_loss;
            self.best_score = record.val_score;
            self.best_epoch = record.epoch;
            self.epochs_without_gain = 0;
        } else {
            self.epochs_without_gain += 1;
        }
        self.history.push(record);
        improved
    }
}

/// Where a training run keeps its checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointDir(pub PathBuf);

impl CheckpointDir {
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The best network saved so far, if any.
    pub fn best_model(&self) -> Option<PathBuf> {
        let p = self.file(BEST);
        p.is_file().then_some(p)
    }

    /// Saves `model` as the best network so far.
    pub(super) fn save_best<M: Module>(&self, model: &M) -> Result<()> {
        save_atomically(self.file(BEST), |p| model.clone().save_file(p))
    }

    pub(super) fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.0).map_err(|e| Error::io("create", &self.0, e))
    }

    /// The saved state when it continues `fresh` (same settings and data) and its network and
    /// optimiser are there too.
    pub(super) fn resumable(&self, fresh: &State) -> Option<State> {
        fs::read_to_string(self.file(STATE))
            .ok()
            .and_then(|text| serde_json::from_str::<State>(&text).ok())
            .filter(|saved| fresh.continues(saved))
            .filter(|_| self.file(LAST).is_file() && self.file(OPTIMIZER).is_file())
    }

    pub(super) fn load_last<M: Module>(&self, model: M) -> Result<M> {
        model
            .try_load_file(self.file(LAST))
            .map_err(|e| Error::model(format!("cannot resume from {}: {e}", self.0.display())))
    }

    pub(super) fn load_optimizer(&self, optimizer: ModuleOptimizer) -> Result<ModuleOptimizer> {
        optimizer
            .load(self.file(OPTIMIZER))
            .map_err(|e| Error::model(format!("cannot resume from {}: {e}", self.0.display())))
    }

    /// Saves the state after an epoch with the network as it is and the optimiser.
    pub(super) fn save<M: Module>(
        &self,
        state: &State,
        model: &M,
        optimizer: &ModuleOptimizer,
    ) -> Result<()> {
        save_atomically(self.file(LAST), |p| model.clone().save_file(p))?;
        save_atomically(self.file(OPTIMIZER), |p| optimizer.save(p))?;
        let json = serde_json::to_string_pretty(state)
            .map_err(|e| save_err("training state", &self.file(STATE), e))?;
        brightseg::io::write_bytes_atomically(&self.file(STATE), json.as_bytes())
    }
}

fn save_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        brightseg::ErrorKind::Io,
        format!("cannot write {what} {}: {e}", path.display()),
    )
}

/// Writes through `write` to a temporary name beside `path`, then renames it into place, so a
/// kill never leaves a half-written checkpoint.
fn save_atomically<E: std::fmt::Display>(
    path: PathBuf,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> Result<()> {
    let tmp = path.with_extension("partial.bpk");
    write(&tmp).map_err(|e| save_err("checkpoint", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io("replace", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(keep: Keep) -> State {
        State {
            fit: FitConfig {
                keep,
                ..FitConfig::default()
            },
            task: serde_json::Value::Null,
            data_fingerprint: 0,
            history: Vec::new(),
            best_epoch: 0,
            best_score: f64::NEG_INFINITY,
            best_val_loss: f64::INFINITY,
            epochs_without_gain: 0,
        }
    }

    /// By score, the epoch with the best validation score wins; by loss, the one with the
    /// lowest validation loss, whatever its score, and epochs without a gain count by the same
    /// rule (they drive early stopping). Catches a criterion that is ignored.
    #[test]
    fn the_best_epoch_is_the_best_score_or_the_lowest_loss() {
        let epochs = [(0.8, 0.5), (0.6, 0.4), (0.7, 0.6), (0.65, 0.55)];
        let run = |keep| {
            let mut s = state(keep);
            for (i, &(val_loss, val_score)) in epochs.iter().enumerate() {
                s.record(EpochRecord {
                    epoch: i + 1,
                    train_loss: 1.0,
                    val_loss,
                    val_score,
                    learning_rate: 1e-3,
                    seconds: 1.0,
                });
            }
            (s.best_epoch, s.best_score, s.epochs_without_gain)
        };
        assert_eq!(run(Keep::Best), (3, 0.6, 1));
        assert_eq!(run(Keep::LowestLoss), (2, 0.4, 2));
        assert_eq!(
            "lowest-loss".parse::<Keep>().expect("a choice"),
            Keep::LowestLoss
        );
        assert_eq!(
            serde_json::to_string(&Keep::LowestLoss).expect("json"),
            "\"lowest-loss\""
        );
        assert!("lowest".parse::<Keep>().is_err());
    }
}
