//! Many models trained in one pass over the data: every combination of a few
//! optimizer settings and seeds, side by side in one kernel (the fused one
//! shares each pass over the rows among the models; the GEMM baseline, for
//! weights beyond half the L2, takes them one after another).
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{Grid, SweepConfig, sweep}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), Some(10))?;
//! let grid = Grid { learning_rates: vec![0.03, 0.1, 0.3], seeds: vec![0, 1], ..Grid::default() };
//! let config = SweepConfig { settings: grid.settings(), ..SweepConfig::default() };
//! let swept = sweep(&data, &config, |_, _| {}, |_| {})?;
//! let best = swept.best().expect("a model that did not diverge");
//! println!("lr {} val acc {:?}", best.setting.learning_rate, best.val_acc());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The models share the data's order ([`super::DataOrder`] of
//! [`SweepConfig::data_seed`]), while each model's weights start from its own
//! seed; `train` is the same run of one model whose seed is the data's, so a
//! model seeded like the data trains bit for bit as `train` trains it alone.
//! A sweep is the epoch loop of `train` with two other policies: a model that
//! diverges is dropped while the others go on, and the test split is scored
//! once, at the end.

use super::optimizer::Optimizer;
use super::run::{self, Policy, Run};
use super::{Divergence, EpochControl, RunConfig, Schedule, Setting, TrainError};
use crate::data::Dataset;
use crate::eval::Evaluation;
use crate::kernel::Kernel;
use crate::model::Model;

/// The most models one sweep trains together.
pub const MAX_SWEEP_MODELS: usize = 1024;

/// Which optimizer a sweep's models use; a sweep may list both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerKind {
    /// `torch.optim.SGD`, with the grid's momenta.
    Sgd,
    /// `torch.optim.Adam` with its default betas and epsilon.
    Adam,
}

/// The values to combine: every combination is one model. Momentum and
/// Nesterov apply to SGD only; Adam takes its default betas and epsilon.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// SGD, Adam or both.
    pub optimizers: Vec<OptimizerKind>,
    /// Learning rates.
    pub learning_rates: Vec<f32>,
    /// SGD momentum factors.
    pub momenta: Vec<f32>,
    /// Nesterov momentum for every SGD model with momentum.
    pub nesterov: bool,
    /// L2 weight decays.
    pub weight_decays: Vec<f32>,
    /// Learning-rate schedules.
    pub schedules: Vec<Schedule>,
    /// Seeds of the initial weights.
    pub seeds: Vec<u64>,
}

impl Default for Grid {
    /// The tutorial's one model: SGD, lr 0.1, seed 0.
    fn default() -> Self {
        Self {
            optimizers: vec![OptimizerKind::Sgd],
            learning_rates: vec![0.1],
            momenta: vec![0.0],
            nesterov: false,
            weight_decays: vec![0.0],
            schedules: vec![Schedule::Constant],
            seeds: vec![0],
        }
    }
}

impl Grid {
    /// How many models [`Grid::settings`] makes (saturating: it is checked
    /// against [`MAX_SWEEP_MODELS`] before they are made).
    pub fn count(&self) -> usize {
        self.optimizers
            .iter()
            .map(|&kind| match kind {
                OptimizerKind::Sgd => self.momenta.len(),
                OptimizerKind::Adam => 1,
            })
            .fold(0usize, |n, momenta| {
                n.saturating_add(
                    momenta
                        .saturating_mul(self.learning_rates.len())
                        .saturating_mul(self.weight_decays.len())
                        .saturating_mul(self.schedules.len())
                        .saturating_mul(self.seeds.len()),
                )
            })
    }

    /// Every combination, optimizer outermost and seed innermost (so the seeds
    /// of one configuration are neighbours).
    pub fn settings(&self) -> Vec<Setting> {
        let mut settings = Vec::new();
        for &kind in &self.optimizers {
            let momenta: &[f32] = match kind {
                OptimizerKind::Sgd => &self.momenta,
                OptimizerKind::Adam => &[0.0],
            };
            for &learning_rate in &self.learning_rates {
                for &momentum in momenta {
                    for &weight_decay in &self.weight_decays {
                        let optimizer = match kind {
                            OptimizerKind::Sgd => Optimizer::Sgd {
                                momentum,
                                nesterov: self.nesterov && momentum > 0.0,
                                weight_decay,
                            },
                            OptimizerKind::Adam => Optimizer::adam(weight_decay),
                        };
                        for &schedule in &self.schedules {
                            for &seed in &self.seeds {
                                settings.push(Setting {
                                    optimizer,
                                    learning_rate,
                                    seed,
                                    schedule,
                                });
                            }
                        }
                    }
                }
            }
        }
        settings
    }
}

/// A sweep's models and what they share.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// Epochs, batches, the held-out images every model is scored on after
    /// every epoch and ranked by, and threads.
    pub run: RunConfig,
    /// One entry per model.
    pub settings: Vec<Setting>,
    /// Seeds the per-epoch shuffles every model shares.
    pub data_seed: u64,
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
}

impl SweepConfig {
    /// Refuses a sweep that cannot run on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        if self.settings.is_empty() {
            return Err(TrainError::NoModels);
        }
        if self.settings.len() > MAX_SWEEP_MODELS {
            return Err(TrainError::TooManyModels(self.settings.len()));
        }
        if self.run.epochs == 0 {
            return Err(TrainError::NothingToRank);
        }
        if self.run.validation == 0 {
            return Err(TrainError::NoValidation);
        }
        self.run.check(data)?;
        self.run
            .check_memory(data, self.kernel, self.settings.len())?;
        self.settings.iter().try_for_each(Setting::check)
    }

    /// Bytes the sweep holds beyond the data ([`RunConfig::memory_needed`]).
    pub fn memory_needed(&self, data: &Dataset) -> u64 {
        self.run
            .memory_needed(data, self.kernel, self.settings.len())
    }
}

impl Default for SweepConfig {
    /// The tutorial's model, 10,000 images held out.
    fn default() -> Self {
        Self {
            run: RunConfig {
                validation: 10_000,
                ..RunConfig::default()
            },
            settings: Grid::default().settings(),
            data_seed: 0,
            kernel: Kernel::Fused,
        }
    }
}

/// One epoch of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEpoch {
    /// Mean training loss over the epoch's minibatches (before each update).
    pub loss: f64,
    /// Training accuracy accumulated over the epoch's minibatches.
    pub train_acc: f64,
    /// The learning rate the epoch trained with (its schedule's).
    pub learning_rate: f32,
    /// Loss and accuracy on the held-out validation images after the epoch,
    /// when some are held out (a sweep always holds some out).
    pub validation: Option<Evaluation>,
    /// Loss and accuracy on the test set after the epoch, when the run scores
    /// it every epoch (`train` does, a sweep only at the end).
    pub test: Option<Evaluation>,
}

/// A trained (or diverged) model of a sweep.
#[derive(Debug, Clone)]
pub struct SweptModel {
    /// Its settings.
    pub setting: Setting,
    /// Its weights after the last epoch, or where it diverged.
    pub model: Model,
    /// One entry per epoch it completed.
    pub epochs: Vec<ModelEpoch>,
    /// Loss and accuracy on the test set of the chosen epoch's weights
    /// ([`SweptModel::chosen`]); `None` for a model that diverged.
    pub test: Option<Evaluation>,
    /// Where and why the model diverged, if it did.
    pub diverged: Option<Divergence>,
    /// Its best epoch so far, when images are held out.
    pub best: Option<BestEpoch>,
    /// Whether it stopped before the run's last epoch because its validation
    /// accuracy had not improved for the run's patience.
    pub stopped_early: bool,
}

/// A model's best epoch: the highest validation accuracy, the earliest of
/// equals, with the weights it ended with.
#[derive(Debug, Clone)]
pub struct BestEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// The weights after that epoch.
    pub model: Model,
}

impl SweptModel {
    /// Validation accuracy of the chosen epoch, unless the model diverged.
    pub fn val_acc(&self) -> Option<f64> {
        Some(self.chosen()?.validation?.accuracy)
    }

    /// The epoch the model is ranked and saved by, unless it diverged: its
    /// best by validation accuracy, or the last when nothing is held out.
    pub fn chosen(&self) -> Option<&ModelEpoch> {
        match (&self.diverged, &self.best) {
            (Some(_), _) => None,
            (None, Some(best)) => self.epochs.get(best.epoch - 1),
            (None, None) => self.epochs.last(),
        }
    }

    /// The chosen epoch's number (1-based), unless the model diverged.
    pub fn chosen_epoch(&self) -> Option<usize> {
        self.chosen()?;
        Some(self.best.as_ref().map_or(self.epochs.len(), |b| b.epoch))
    }

    /// The chosen epoch's weights (the last weights for a model that
    /// diverged).
    pub fn chosen_model(&self) -> &Model {
        match (&self.diverged, &self.best) {
            (None, Some(best)) => &best.model,
            _ => &self.model,
        }
    }

    /// Records epoch `epoch`, just appended to [`SweptModel::epochs`] with
    /// the weights [`SweptModel::model`] holds, as the best if its validation
    /// accuracy beats the best so far, and says whether `patience` epochs
    /// have now passed since the best.
    pub(super) fn track_best(&mut self, epoch: usize, patience: Option<usize>) -> bool {
        let accuracy = |e: &ModelEpoch| e.validation.map(|v| v.accuracy);
        let Some(latest) = self.epochs.last().and_then(accuracy) else {
            return false;
        };
        let top = self
            .best
            .as_ref()
            .and_then(|b| accuracy(&self.epochs[b.epoch - 1]));
        if top.is_none_or(|top| latest > top) {
            self.best = Some(BestEpoch {
                epoch,
                model: self.model.clone(),
            });
        }
        let since = epoch - self.best.as_ref().map_or(epoch, |b| b.epoch);
        patience.is_some_and(|patience| since >= patience)
    }
}

/// The outcome of a sweep.
#[derive(Debug, Clone)]
pub struct Swept {
    /// One entry per setting, in the order of [`SweepConfig::settings`].
    pub models: Vec<SweptModel>,
    /// Wall time of the training steps, evaluation excluded.
    pub train_seconds: f64,
    /// Training samples computed, summed over models (a model trained on
    /// 50,000 samples for 5 epochs adds 250,000; one that diverged, the
    /// samples up to the minibatch it diverged at).
    pub model_samples: usize,
    /// Each epoch's training time and model-samples, in the same terms.
    pub epoch_times: Vec<(f64, usize)>,
}

impl Swept {
    /// The model with the highest final validation accuracy (the first of
    /// equals), among those that did not diverge.
    pub fn best(&self) -> Option<&SweptModel> {
        super::best_by_validation(self.models.iter().map(|m| (m, m.val_acc())))
    }

    /// Training throughput summed over models.
    pub fn model_samples_per_second(&self) -> f64 {
        self.model_samples as f64 / self.train_seconds
    }

    /// Each epoch's training throughput summed over models.
    pub fn epoch_rates(&self) -> Vec<f64> {
        self.epoch_times
            .iter()
            .map(|&(seconds, samples)| samples as f64 / seconds)
            .collect()
    }
}

/// Trains every model of `config` on `data.train` in one pass over the data
/// per step, holding out the last `config.validation` images and scoring every
/// model on them after each epoch (`on_epoch(epoch, models)`), and on
/// `data.test` (if there is one) at the end; `on_epoch` may end the run early
/// ([`EpochControl`]). `on_step(samples)` follows the training samples of the
/// run, as in [`super::train_with_progress`].
pub fn sweep<C: EpochControl>(
    data: &Dataset,
    config: &SweepConfig,
    on_epoch: impl FnMut(usize, &[SweptModel]) -> C + Send,
    on_step: impl Fn(usize) + Sync,
) -> Result<Swept, TrainError> {
    config.check(data)?;
    let run = Run {
        data,
        config: &config.run,
        settings: &config.settings,
        data_seed: config.data_seed,
        policy: Policy {
            stop_on_divergence: false,
            test_every_epoch: false,
        },
        init: None,
        resume: None,
        on_state: None,
    };
    let mut on_epoch = on_epoch;
    let report = |epoch: usize, models: &[SweptModel], _| on_epoch(epoch, models);
    super::on_pool(config.run.threads, || {
        run::models_with(config.kernel, &run, report, &on_step)
    })
}
