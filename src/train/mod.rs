//! Training: minibatch SGD (or Adam) with a reshuffle every epoch, for one
//! model ([`train`]) or many in one pass over the data ([`sweep()`]), both
//! through one epoch loop (`run.rs`) on a team of threads (`team.rs`) with
//! any [`Engine`](crate::kernel::Engine).
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{train, TrainConfig}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), Some(10))?;
//! let trained = train(&data, &TrainConfig::default(), |epoch| println!("{epoch:?}"))?;
//! println!("test accuracy {:?}", trained.epochs.last().unwrap().test.map(|t| t.accuracy));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod barrier;
pub mod checkpoint;
mod divergence;
pub mod fit;
mod full_batch;
pub mod lbfgs;
mod optimizer;
pub mod precondition;
mod run;
mod schedule;
mod sweep;
mod team;
mod update;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointErrorKind, Resume};
pub use divergence::{Cause, Divergence, RUNAWAY_FACTOR};
pub use optimizer::{Optimizer, OptimizerError};
pub use run::DataOrder;
pub use schedule::{Rates, Schedule, ScheduleError};
pub use sweep::{
    BestEpoch, Grid, MAX_SWEEP_MODELS, ModelEpoch, OptimizerKind, SweepConfig, Swept, SweptModel,
    sweep,
};
pub use team::{MAX_THREADS_PER_CORE, cores, pool_size, team_size};

use std::ops::ControlFlow;
use std::path::Path;

use thiserror::Error;

use crate::data::Dataset;
use crate::eval::Evaluation;
use crate::input::human_bytes;
use crate::kernel::{Isa, Kernel, Plan};
use crate::model::Model;
use run::{OnState, Policy, Run};

pub use crate::kernel::blocking::{CHUNK_ROWS, EVAL_CHUNK_ROWS};

/// One model's settings: the unit `train` trains one of and `sweep` many.
/// The default is the tutorial's: plain SGD, learning rate 0.1, seed 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// How the mean gradient becomes a step.
    pub optimizer: Optimizer,
    /// The step size applied to the mean gradient of a minibatch.
    pub learning_rate: f32,
    /// The seed of the model's initial weights.
    pub seed: u64,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
}

impl Default for Setting {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::default(),
            learning_rate: 0.1,
            seed: 0,
            schedule: Schedule::Constant,
        }
    }
}

impl Setting {
    /// The model's settings as `key=value` pairs, as model files, `--json`
    /// and checkpoints record them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("lr", self.learning_rate.to_string()),
            ("seed", self.seed.to_string()),
        ];
        settings.extend(self.optimizer.settings());
        settings.extend(self.schedule.settings());
        settings
    }

    /// Refuses a learning rate or optimizer settings that cannot step.
    pub fn check(&self) -> Result<(), TrainError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(TrainError::LearningRate(self.learning_rate));
        }
        Ok(self.optimizer.check()?)
    }
}

/// What a run shares across its models. The default is the tutorial's: 5
/// epochs of minibatches of 256, nothing held out, one thread per core.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch; the last minibatch of an epoch may be smaller.
    pub batch_size: usize,
    /// Training images held out for validation: the last `validation` images
    /// of the training split, never trained on, scored after every epoch
    /// (`val acc`); 0 holds out nothing.
    pub validation: usize,
    /// Worker threads; `None` means one per core.
    pub threads: Option<usize>,
    /// The instruction set the kernels and the update run with; `None`
    /// means the best this CPU has ([`Isa::best`]).
    pub isa: Option<Isa>,
    /// How the fused kernel blocks and tiles its work; `None` means the
    /// instruction set's default on this machine ([`Plan::default_for`]).
    /// Every plan gives the same bits.
    pub plan: Option<Plan>,
    /// Let every pool thread join the team even beyond one per core. Off by
    /// default (threads spinning beyond the core count only steal time from
    /// working ones); tests turn it on to check that 8 threads on a 2-core
    /// machine still give the same weights.
    pub oversubscribe: bool,
    /// Stop a model once this many epochs have passed without a better
    /// validation accuracy than its best epoch's ([`SweptModel::best`]);
    /// `None` trains every epoch. Needs validation images.
    pub patience: Option<usize>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 256,
            validation: 0,
            threads: None,
            isa: None,
            plan: None,
            oversubscribe: false,
            patience: None,
        }
    }
}

impl RunConfig {
    /// The run's settings that shape its results, as `key=value` pairs:
    /// epochs, batch size, held-out images and patience.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("epochs", self.epochs.to_string()),
            ("batch_size", self.batch_size.to_string()),
            ("validation", self.validation.to_string()),
        ];
        if let Some(patience) = self.patience {
            settings.push(("patience", patience.to_string()));
        }
        settings
    }

    /// Refuses a run that cannot train on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        if self.batch_size == 0 {
            return Err(TrainError::BatchSize);
        }
        if self.threads == Some(0) {
            return Err(TrainError::Threads);
        }
        if self.epochs > MAX_EPOCHS {
            return Err(TrainError::Epochs(self.epochs));
        }
        if data.train.is_empty() {
            return Err(TrainError::EmptyTrainingSet);
        }
        match self.patience {
            Some(0) => return Err(TrainError::Patience),
            Some(_) if self.validation == 0 => return Err(TrainError::PatienceWithoutValidation),
            _ => {}
        }
        if self.validation >= data.train.len() {
            return Err(TrainError::Validation {
                held_out: self.validation,
                images: data.train.len(),
            });
        }
        Ok(())
    }

    /// The instruction set the run computes with.
    pub fn isa(&self) -> Isa {
        self.isa.unwrap_or_else(Isa::best)
    }

    /// The plan the fused kernel computes with.
    pub fn plan(&self) -> Plan {
        self.plan.unwrap_or_else(|| Plan::default_for(self.isa()))
    }

    /// The training images the run trains on: all but the held-out ones.
    pub fn trained_on(&self, data: &Dataset) -> usize {
        data.train.len().saturating_sub(self.validation)
    }

    /// Bytes a run of `models` models with `kernel` holds beyond the data:
    /// per model, its weights, two optimizer buffers and a row-major copy,
    /// the best epoch's weights when there is validation, and its gradient
    /// sums for every chunk of a minibatch.
    pub fn memory_needed(&self, data: &Dataset, kernel: Kernel, models: usize) -> u64 {
        let features = data.train.images.features();
        let parameters = (features + 1) * data.classes;
        let chunk_rows = kernel.chunk_rows(features, data.classes);
        let chunks = self.batch_rows(data).div_ceil(chunk_rows);
        let copies = 4 + usize::from(self.validation > 0) + chunks;
        (parameters as u64)
            .saturating_mul(4 * copies as u64)
            .saturating_mul(models as u64)
    }

    /// Refuses a run of `models` models whose weights and gradient sums
    /// ([`RunConfig::memory_needed`]) this process cannot be given now
    /// ([`crate::input::memory_shortfall`]): checked before any is allocated,
    /// for `train` and `sweep` alike.
    pub fn check_memory(
        &self,
        data: &Dataset,
        kernel: Kernel,
        models: usize,
    ) -> Result<(), TrainError> {
        let needed = self.memory_needed(data, kernel, models);
        match crate::input::memory_shortfall(needed) {
            Some(available) => Err(TrainError::OutOfMemory {
                models,
                batch_size: self.batch_size,
                needed,
                available,
            }),
            None => Ok(()),
        }
    }

    /// The rows of the run's largest minibatch: the batch size, but never
    /// more than the images trained on (buffers are sized by what the data
    /// can use, not by the flag).
    pub fn batch_rows(&self, data: &Dataset) -> usize {
        self.batch_size.min(self.trained_on(data))
    }
}

/// One training run: one model, with the engine `kernel`; the default is the
/// tutorial's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainConfig {
    /// Epochs, batches, validation and threads.
    pub run: RunConfig,
    /// The model's optimizer, learning rate and seed (which also seeds the
    /// per-epoch shuffles).
    pub setting: Setting,
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
    /// The weights to start from (a warm start), rather than the seed's
    /// normals; the seed still orders the data.
    pub init: Option<Model>,
}

impl TrainConfig {
    /// Every setting of the run as `key=value` pairs: the run's, the model's
    /// and the kernel with its instruction set and plan.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = self.run.settings();
        settings.extend(self.setting.settings());
        let (isa, plan) = (self.run.isa(), self.run.plan());
        settings.push(("kernel", self.kernel.describe(isa, plan)));
        if let Some(init) = &self.init {
            settings.push(("init_sha256", init.digest()));
        }
        settings
    }

    /// Refuses settings that cannot train on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        self.run.check(data)?;
        self.setting.check()?;
        if let Some(init) = &self.init {
            let shape = (data.train.images.features(), data.classes);
            if (init.features, init.classes) != shape {
                return Err(TrainError::InitShape {
                    model: (init.features, init.classes),
                    data: shape,
                });
            }
        }
        self.run.check_memory(data, self.kernel, 1)
    }
}

/// Why training could not run or had to stop.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A minibatch needs at least one sample.
    #[error("batch size must be at least 1")]
    BatchSize,
    /// The learning rate is zero, negative or not finite.
    #[error("learning rate must be a positive finite number, got {0}")]
    LearningRate(f32),
    /// A thread pool needs at least one thread.
    #[error("thread count must be at least 1")]
    Threads,
    /// Optimizer settings PyTorch would refuse.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
    /// A sweep with no model.
    #[error("a sweep needs at least one model")]
    NoModels,
    /// More models than one sweep trains.
    #[error("{0} models are more than the {MAX_SWEEP_MODELS} one sweep trains")]
    TooManyModels(usize),
    /// A sweep of no epochs, so no model to rank.
    #[error("a sweep ranks models after training them: it needs at least one epoch")]
    NothingToRank,
    /// A sweep with no validation image to rank its models by.
    #[error("a sweep ranks models by validation accuracy: it needs at least one validation image")]
    NoValidation,
    /// A run whose weights and gradient sums would not fit in memory.
    #[error(
        "{} with batches of {batch_size} need{} {} of memory for weights and gradients, more \
         than the {} available",
        if *.models == 1 { "one model".to_string() } else { format!("{} models", .models) },
        if *.models == 1 { "s" } else { "" },
        human_bytes(*.needed),
        human_bytes(*.available)
    )]
    OutOfMemory {
        models: usize,
        batch_size: usize,
        needed: u64,
        available: u64,
    },
    /// A penalty strength that is not a number the objective can use.
    #[error("{0}: C must be a positive finite number, and l2 a finite number of at least 0")]
    Penalty(String),
    /// A full-batch objective that is not finite at zero weights.
    #[error(
        "the objective or its gradient is not finite at zero weights: the features are too \
         large for sums in f32"
    )]
    NotFiniteAtStart,
    /// A gradient tolerance that is negative or not finite.
    #[error("the gradient tolerance must be a finite number of at least 0, got {0}")]
    Tolerance(f64),
    /// A patience of no epochs.
    #[error("patience must be at least 1 epoch")]
    Patience,
    /// Early stopping with nothing to judge improvement by.
    #[error("stopping early needs validation images to judge each epoch by")]
    PatienceWithoutValidation,
    /// More epochs than any run could finish.
    #[error("epochs must be at most {MAX_EPOCHS}, got {0}")]
    Epochs(usize),
    /// There is nothing to train on.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// The validation split would take every training image.
    #[error(
        "holding out {held_out} images for validation leaves none to train on: the training set has {images}"
    )]
    Validation { held_out: usize, images: usize },
    /// The thread pool could not be started.
    #[error("cannot start the thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// A model to start from whose shape is not the data's.
    #[error(
        "the model to start from takes {} features into {} classes; the data has {} features \
         and {} classes",
        .model.0, .model.1, .data.0, .data.1
    )]
    InitShape {
        model: (usize, usize),
        data: (usize, usize),
    },
    /// A checkpoint could not be written, or is not one to resume this run from.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss or a weight stopped being finite, or the loss ran away.
    #[error("{0}")]
    Diverged(Divergence),
}

/// A loss for people: 4 decimals, or scientific notation when it is too large
/// for decimals to mean anything (a diverging run's `3.6884e30`, not 31 digits).
///
/// ```
/// use softreg::train::format_loss;
/// assert_eq!(format_loss(0.78741), "0.7874");
/// assert_eq!(format_loss(3.6884e30), "3.6884e30");
/// ```
pub fn format_loss(loss: f64) -> String {
    if loss.abs() < 1e5 || !loss.is_finite() {
        format!("{loss:.4}")
    } else {
        format!("{loss:.4e}")
    }
}

/// What an epoch callback returns: `()` to go on, or a [`ControlFlow`] whose
/// `Break` ends the run after that epoch (a caller with nowhere left to report
/// to, say), keeping what it trained so far.
pub trait EpochControl {
    /// Whether the run stops after this epoch.
    fn stops(self) -> bool;
}

impl EpochControl for () {
    fn stops(self) -> bool {
        false
    }
}

impl EpochControl for ControlFlow<()> {
    fn stops(self) -> bool {
        self.is_break()
    }
}

/// The most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;

/// What one epoch achieved and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (before each update).
    pub loss: f64,
    /// Training accuracy accumulated over the epoch's minibatches.
    pub train_acc: f64,
    /// Loss and accuracy on the test split after the epoch, when the data
    /// set has one.
    pub test: Option<Evaluation>,
    /// Loss and accuracy on the held-out validation images after the epoch,
    /// when some are held out.
    pub validation: Option<Evaluation>,
    /// The learning rate the epoch trained with (the schedule's).
    pub learning_rate: f32,
    /// Training samples in the epoch.
    pub samples: usize,
    /// Wall time of the epoch's training steps, evaluation excluded.
    pub train_seconds: f64,
}

impl EpochReport {
    /// Training throughput of the epoch.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.train_seconds
    }
}

/// The trained model with its per-epoch history.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The final model.
    pub model: Model,
    /// One report per epoch.
    pub epochs: Vec<EpochReport>,
    /// The epoch of the highest validation accuracy, with its weights, when
    /// images were held out.
    pub best: Option<BestEpoch>,
    /// Whether the run stopped before its last epoch because validation
    /// accuracy had not improved for `patience` epochs.
    pub stopped_early: bool,
}

impl Trained {
    /// The model to keep and its epoch: the best epoch's when there is one,
    /// else the final (no epoch when none trained).
    pub fn chosen(&self) -> (&Model, Option<&EpochReport>) {
        match &self.best {
            Some(best) => (&best.model, self.epochs.get(best.epoch - 1)),
            None => (&self.model, self.epochs.last()),
        }
    }
}

/// Trains a model on `data.train`, evaluating on `data.test` (if there is
/// one) after every epoch and passing each epoch's report to `on_epoch` as
/// soon as it is known (which may stop the run there: [`EpochControl`]).
pub fn train<C: EpochControl>(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport) -> C + Send,
) -> Result<Trained, TrainError> {
    train_with_progress(data, config, on_epoch, |_| {})
}

/// [`train`] that also calls `on_step(samples)` after every minibatch with the
/// number of training samples processed so far in the run (for a progress bar).
pub fn train_with_progress<C: EpochControl>(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport) -> C + Send,
    on_step: impl Fn(usize) + Sync,
) -> Result<Trained, TrainError> {
    train_resumable(data, config, Continuity::default(), on_epoch, on_step)
}

/// Where a run keeps its state and what it continues.
#[derive(Debug, Clone, Default)]
pub struct Continuity<'a> {
    /// Write a checkpoint here after every epoch.
    pub checkpoint: Option<&'a Path>,
    /// Continue the run of this checkpoint, checked against the same
    /// settings and data ([`Checkpoint::resume`]).
    pub resume: Option<Resume<'a>>,
}

/// [`train_with_progress`] that writes a checkpoint after every epoch and
/// continues one as `continuity` says; `on_epoch` hears only of the epochs
/// this call trains, while the [`Trained`] history holds every epoch.
pub fn train_resumable<C: EpochControl>(
    data: &Dataset,
    config: &TrainConfig,
    continuity: Continuity<'_>,
    on_epoch: impl FnMut(&EpochReport) -> C + Send,
    on_step: impl Fn(usize) + Sync,
) -> Result<Trained, TrainError> {
    config.check(data)?;
    let trained_on = config.run.trained_on(data);
    let resume = match &continuity.resume {
        Some(resume) => Some(resume.state(config, data)?),
        None => None,
    };
    let identity = match (&continuity.resume, continuity.checkpoint) {
        (Some(resume), _) => checkpoint::identity(config, resume.data_sha256.clone()),
        (None, Some(_)) => checkpoint::identity(config, checkpoint::fingerprint(data)),
        (None, None) => Vec::new(),
    };
    let save = |state: &checkpoint::RunState| match continuity.checkpoint {
        Some(path) => Ok(checkpoint::save(path, &identity, state)?),
        None => Ok(()),
    };
    let run = Run {
        data,
        config: &config.run,
        settings: &[config.setting],
        data_seed: config.setting.seed,
        policy: Policy {
            stop_on_divergence: true,
            test_every_epoch: true,
        },
        init: config.init.as_ref(),
        resume,
        on_state: continuity.checkpoint.map(|_| &save as OnState<'_>),
    };
    let report = |epoch: usize, last: &ModelEpoch, seconds: f64| EpochReport {
        epoch,
        loss: last.loss,
        train_acc: last.train_acc,
        test: last.test,
        validation: last.validation,
        learning_rate: last.learning_rate,
        samples: trained_on,
        train_seconds: seconds,
    };
    let mut reports: Vec<EpochReport> = resume.map_or_else(Vec::new, |state| {
        let history = &state.models[0].swept.epochs;
        let times = history.iter().zip(&state.epoch_times);
        (times.enumerate())
            .map(|(k, (epoch, &(seconds, _)))| report(k + 1, epoch, seconds))
            .collect()
    });
    let mut on_epoch = on_epoch;
    let report = |epoch: usize, models: &[SweptModel], seconds: f64| {
        let last = models[0].epochs.last().expect("an epoch trained");
        let report = report(epoch, last, seconds);
        let control = on_epoch(&report);
        reports.push(report);
        control
    };
    let swept = on_pool(config.run.threads, || {
        run::models_with(config.kernel, &run, report, &on_step)
    })?;
    let swept = swept.models.into_iter().next().expect("one model");
    Ok(Trained {
        model: swept.model,
        epochs: reports,
        best: swept.best,
        stopped_early: swept.stopped_early,
    })
}

/// The item with the highest validation accuracy, the first of equals;
/// items without one are passed over.
fn best_by_validation<T>(items: impl Iterator<Item = (T, Option<f64>)>) -> Option<T> {
    items
        .filter_map(|(item, accuracy)| Some((item, accuracy?)))
        .fold(
            None,
            |best: Option<(T, f64)>, (item, accuracy)| match best {
                Some((_, top)) if top >= accuracy => best,
                _ => Some((item, accuracy)),
            },
        )
        .map(|(item, _)| item)
}

/// `run` on a pool of [`pool_size`]`(threads)` workers.
fn on_pool<T: Send>(
    threads: Option<usize>,
    run: impl FnOnce() -> Result<T, TrainError> + Send,
) -> Result<T, TrainError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(pool_size(threads))
        .build()?
        .install(run)
}
