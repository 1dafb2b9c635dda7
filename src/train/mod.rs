//! First-order training: minibatch SGD, momentum or Adam with a reshuffle
//! every epoch, learning-rate schedules, validation, early stopping and
//! checkpoints, for one model ([`train`]) or many in one pass over the data
//! ([`sweep()`]). Both run one epoch loop (`run.rs`) on a team of threads
//! (`team.rs`) with any [`Engine`](crate::kernel::Engine); the full-batch
//! L-BFGS fit is [`crate::fit`]'s.
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{train, TrainConfig}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), Some(10))?;
//! let trained = train(&data, &TrainConfig::default(), |epoch| println!("{epoch:?}"))?;
//! println!("test accuracy {:?}", trained.epochs.last().unwrap().test.map(|t| t.accuracy));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The files, bottom up: `barrier`, `arith`, `optimizer` (every optimizer:
//! adding one is this file) and `optimizer_spec`, `schedule`, `divergence`,
//! `config` (what a run is asked), `error`, `update` and `team` (one step of
//! many models), `history` (what a run records), `state` (what it continues
//! from), `checkpoint_codec` and `checkpoint` (the state on disk), `grid`,
//! `run` (the loop), and this façade.

mod arith;
mod barrier;
mod checkpoint;
mod checkpoint_codec;
mod config;
mod divergence;
mod error;
mod grid;
mod history;
mod optimizer;
mod optimizer_spec;
mod run;
mod schedule;
mod state;
mod team;
mod update;

pub use checkpoint::{Checkpoint, MAX_CHECKPOINT_BYTES, Resume};
pub use config::{MAX_EPOCHS, RunConfig, Setting, SweepConfig, TrainConfig};
pub use divergence::{Cause, Divergence, RUNAWAY_FACTOR, format_loss};
pub use error::{CheckpointError, CheckpointErrorKind, TrainError};
pub use grid::Grid;
pub use history::{BestEpoch, EpochReport, ModelEpoch, ModelRun, RunOutcome, Trained};
pub use optimizer::{Optimizer, OptimizerError, Param};
pub use run::EpochControl;
pub use schedule::{Rates, Schedule, ScheduleError};
pub use state::DataOrder;
pub use team::team_size;

use std::path::Path;

use crate::data::Dataset;
use run::{OnState, Policy, Run};

pub use crate::kernel::blocking::{CHUNK_ROWS, EVAL_CHUNK_ROWS};

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
    let save = |state: &state::RunState| match continuity.checkpoint {
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
        oversubscribe: config.compute.oversubscribe,
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
    let report = |epoch: usize, models: &[ModelRun], seconds: f64| {
        let last = models[0].epochs.last().expect("an epoch trained");
        let report = report(epoch, last, seconds);
        let control = on_epoch(&report);
        reports.push(report);
        control
    };
    let swept = run::models_with(&config.compute, &run, report, &on_step)?;
    let swept = swept.models.into_iter().next().expect("one model");
    Ok(Trained {
        model: swept.model,
        epochs: reports,
        best: swept.best,
        stopped_early: swept.stopped_early,
    })
}

/// Trains every model of `config` on `data.train` in one pass over the data
/// per step, holding out the last `config.validation` images and scoring every
/// model on them after each epoch (`on_epoch(epoch, models)`), and on
/// `data.test` (if there is one) at the end; `on_epoch` may end the run early
/// ([`EpochControl`]). `on_step(samples)` follows the training samples of the
/// run, as in [`train_with_progress`].
///
/// The models share the data's order ([`DataOrder`] of
/// [`SweepConfig::data_seed`]), while each model's weights start from its own
/// seed; `train` is the same run of one model whose seed is the data's, so a
/// model seeded like the data trains bit for bit as `train` trains it alone.
/// A model that diverges is dropped while the others go on, and the test
/// split is scored once, at the end.
///
/// ```no_run
/// use softreg::{data::Dataset, train::{Grid, SweepConfig, sweep}};
/// let data = Dataset::load("data/fashion-mnist".as_ref(), Some(10))?;
/// let grid = Grid { learning_rates: vec![0.03, 0.1, 0.3], seeds: vec![0, 1], ..Grid::default() };
/// let config = SweepConfig { settings: grid.settings(), ..SweepConfig::default() };
/// let swept = sweep(&data, &config, |_, _| {}, |_| {})?;
/// let best = swept.best().expect("a model that did not diverge");
/// println!("lr {} val acc {:?}", best.setting.learning_rate, best.val_acc());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sweep<C: EpochControl>(
    data: &Dataset,
    config: &SweepConfig,
    on_epoch: impl FnMut(usize, &[ModelRun]) -> C + Send,
    on_step: impl Fn(usize) + Sync,
) -> Result<RunOutcome, TrainError> {
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
        oversubscribe: config.compute.oversubscribe,
    };
    let mut on_epoch = on_epoch;
    let report = |epoch: usize, models: &[ModelRun], _| on_epoch(epoch, models);
    run::models_with(&config.compute, &run, report, &on_step)
}
