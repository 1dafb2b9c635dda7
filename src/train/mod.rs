//! The training loop: minibatch SGD with a reshuffle every epoch.
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{train, TrainConfig}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), 10)?;
//! let trained = train(&data, &TrainConfig::default(), |epoch| println!("{epoch:?}"))?;
//! println!("test accuracy {}", trained.epochs.last().unwrap().test_acc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod optimizer;
mod sgd;
mod sweep;
mod team;

pub use optimizer::{Optimizer, OptimizerError};
pub use sweep::{
    Diverged, Grid, MAX_SWEEP_MODELS, ModelEpoch, OptimizerKind, Setting, SweepConfig, Swept,
    SweptModel, sweep,
};

use std::ops::ControlFlow;
use std::slice::from_mut;
use std::time::Instant;

use thiserror::Error;

use crate::data::{Dataset, Split};
use crate::eval::{Evaluation, evaluate};
use crate::input::human_bytes;
use crate::kernel::{Isa, Kernel, Weights};
use crate::model::Model;
use crate::random::SeededRng;
use crate::reference;
use optimizer::StepRule;
use sgd::{EpochSums, Params, check_loss, check_weights, sgd_step};

pub use team::{MAX_THREADS_PER_CORE, cores, pool_size, team_size};

pub use crate::kernel::blocking::{CHUNK_ROWS, EVAL_CHUNK_ROWS};

/// Settings of one training run; the default is the tutorial's.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch; the last minibatch of an epoch may be smaller.
    pub batch_size: usize,
    /// The step size applied to the mean gradient of a minibatch.
    pub learning_rate: f32,
    /// How the mean gradient becomes a step: plain SGD by default.
    pub optimizer: Optimizer,
    /// Seeds the weight initialisation and the per-epoch shuffles.
    pub seed: u64,
    /// Worker threads; `None` means one per core.
    pub threads: Option<usize>,
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
    /// Training images held out for validation: the last `validation` images
    /// of the training split, never trained on, scored after every epoch
    /// (`val acc`); 0 (the default) holds out nothing.
    pub validation: usize,
    /// Let every pool thread join the team even beyond one per core. Off by
    /// default (threads spinning beyond the core count only steal time from
    /// working ones); tests turn it on to check that 8 threads on a 2-core
    /// machine still give the same weights.
    pub oversubscribe: bool,
}

impl TrainConfig {
    /// Refuses settings that cannot train on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        check_run(
            data,
            (self.batch_size, self.threads, self.epochs),
            self.validation,
        )?;
        check_step(self.learning_rate, &self.optimizer)
    }
}

/// Refuses a run (batch size, threads, epochs) that cannot train on `data`
/// holding out `validation` images.
fn check_run(
    data: &Dataset,
    (batch_size, threads, epochs): (usize, Option<usize>, usize),
    validation: usize,
) -> Result<(), TrainError> {
    if batch_size == 0 {
        return Err(TrainError::BatchSize);
    }
    if threads == Some(0) {
        return Err(TrainError::Threads);
    }
    if epochs > MAX_EPOCHS {
        return Err(TrainError::Epochs(epochs));
    }
    if data.train.is_empty() {
        return Err(TrainError::EmptyTrainingSet);
    }
    if validation >= data.train.len() {
        return Err(TrainError::Validation {
            held_out: validation,
            images: data.train.len(),
        });
    }
    Ok(())
}

/// Refuses a learning rate or optimizer settings that cannot step.
fn check_step(learning_rate: f32, optimizer: &Optimizer) -> Result<(), TrainError> {
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(TrainError::LearningRate(learning_rate));
    }
    Ok(optimizer.check()?)
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 256,
            learning_rate: 0.1,
            optimizer: Optimizer::default(),
            seed: 0,
            threads: None,
            kernel: Kernel::Fused,
            validation: 0,
            oversubscribe: false,
        }
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
    /// A sweep whose weights and gradient sums would not fit in memory.
    #[error(
        "{models} models with batches of {batch_size} need {} of memory for their weights and \
         gradients, more than the {} available",
        human_bytes(*.needed),
        human_bytes(*.available)
    )]
    OutOfMemory {
        models: usize,
        batch_size: usize,
        needed: u64,
        available: u64,
    },
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
    /// The loss or a weight stopped being finite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the {what} is {value}; lower the learning rate (or check the data for NaN or infinite values)"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        what: &'static str,
        value: f64,
    },
    /// The loss stayed finite but grew far beyond where training starts.
    #[error(
        "training diverged: the mean loss of epoch {epoch} is {}, more than {RUNAWAY_FACTOR} times \
         the {start:.3} of a uniform guess; lower the learning rate",
        format_loss(*.loss)
    )]
    RunAway { epoch: usize, loss: f64, start: f64 },
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

/// How many times the loss of a uniform guess (`ln(classes)`, where training
/// starts) an epoch's mean loss may reach before the run counts as diverged.
pub const RUNAWAY_FACTOR: f64 = 100.0;

/// What one epoch achieved and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (before each update).
    pub loss: f64,
    /// Training accuracy accumulated over the epoch's minibatches.
    pub train_acc: f64,
    /// Mean loss on the test set after the epoch.
    pub test_loss: f64,
    /// Accuracy on the test set after the epoch.
    pub test_acc: f64,
    /// Loss and accuracy on the held-out validation images after the epoch,
    /// when some are held out.
    pub validation: Option<Evaluation>,
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
}

/// Trains a model on `data.train`, evaluating on `data.test` after every epoch
/// and passing each epoch's report to `on_epoch` as soon as it is known (which
/// may stop the run there: [`EpochControl`]).
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
    config.check(data)?;
    on_pool(config.threads, || {
        train_on_pool(data, config, on_epoch, &on_step)
    })
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

fn train_on_pool<C: EpochControl>(
    data: &Dataset,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport) -> C + Send,
    on_step: &(impl Fn(usize) + Sync),
) -> Result<Trained, TrainError> {
    let train = &data.train;
    // The last `validation` images are held out: only the others are shuffled
    // into minibatches.
    let trained_on = train.len() - config.validation;
    let mut rng = SeededRng::new(config.seed);
    let mut model = Model::init(train.images.features(), data.classes, &mut rng);
    // A minibatch never holds more rows than the training set: buffers are
    // sized by what the data can use, not by the flag.
    let mut shared = team::SharedSums::new(&model, 1, config.batch_size.min(trained_on));
    let mut order: Vec<usize> = (0..trained_on).collect();
    let mut epochs = Vec::new();
    // The optimizer's buffers, row-major like the model between epochs; any
    // optimizer but plain SGD takes the general update, which carries them.
    let zeros = || Model::zeros(model.features, model.classes);
    let mut moments = (!config.optimizer.is_plain_sgd()).then(|| [zeros(), zeros()]);
    let mut steps_before = 0u64;
    let uniform_guess = (data.classes as f64).ln().max(f64::MIN_POSITIVE);
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let start = Instant::now();
        let (batch_size, lr) = (config.batch_size, config.learning_rate);
        let done_before = (epoch - 1).saturating_mul(trained_on);
        let progress = |samples: usize| on_step(done_before + samples);
        let run = team::EpochRun {
            train,
            order: &order,
            batch_size,
            settings: &[(config.optimizer, lr)],
            steps_before,
            oversubscribe: config.oversubscribe,
        };
        let sums = match config.kernel {
            Kernel::Fused => {
                let pack = |m: &Model| Weights::new(Isa::best(), m);
                let mut params = Params {
                    weights: pack(&model),
                    moments: moments.as_ref().map(|[a, b]| [pack(a), pack(b)]),
                };
                let sums = shared.run_epoch(&team::Fused, &run, from_mut(&mut params), &progress);
                model = params.weights.to_model();
                moments = params.moments.map(|[a, b]| [a.to_model(), b.to_model()]);
                sums
            }
            Kernel::Gemm => {
                let mut params = Params {
                    weights: model,
                    moments: moments.take(),
                };
                let gemm = team::Gemm(Isa::best());
                let sums = shared.run_epoch(&gemm, &run, from_mut(&mut params), &progress);
                (model, moments) = (params.weights, params.moments);
                sums
            }
            Kernel::Reference => {
                let run = (&order[..], batch_size, lr, config.optimizer, steps_before);
                vec![reference_epoch(
                    &mut model,
                    moments.as_mut(),
                    train,
                    run,
                    &progress,
                )]
            }
        };
        steps_before += order.len().div_ceil(batch_size) as u64;
        let (loss_sum, correct) =
            sums.into_iter()
                .next()
                .expect("one model")
                .map_err(|d| TrainError::Diverged {
                    epoch,
                    step: d.step,
                    what: d.what,
                    value: d.value,
                })?;
        let train_seconds = start.elapsed().as_secs_f64();
        let test = evaluate(config.kernel, &model, &data.test, 0..data.test.len());
        let validation = (config.validation > 0)
            .then(|| evaluate(config.kernel, &model, train, trained_on..train.len()));
        let report = EpochReport {
            epoch,
            loss: loss_sum / trained_on as f64,
            train_acc: correct as f64 / trained_on as f64,
            test_loss: test.loss,
            test_acc: test.accuracy,
            validation,
            samples: trained_on,
            train_seconds,
        };
        let stop = on_epoch(&report).stops();
        if report.loss > RUNAWAY_FACTOR * uniform_guess {
            return Err(TrainError::RunAway {
                epoch,
                loss: report.loss,
                start: uniform_guess,
            });
        }
        epochs.push(report);
        if stop {
            break;
        }
    }
    Ok(Trained { model, epochs })
}

/// One epoch of SGD with the naive reference, one minibatch at a time.
/// `run` is the epoch's order, batch size, learning rate, optimizer and the
/// steps taken before it; `moments` the optimizer's buffers, if it has any.
fn reference_epoch(
    model: &mut Model,
    mut moments: Option<&mut [Model; 2]>,
    train: &Split,
    (order, batch_size, lr, optimizer, steps_before): (&[usize], usize, f32, Optimizer, u64),
    progress: &impl Fn(usize),
) -> EpochSums {
    let (mut loss_sum, mut correct) = (0.0, 0);
    for (step, rows) in order.chunks(batch_size).enumerate() {
        let result = reference::step(model, &train.images, &train.labels, rows);
        let batch_loss = result.loss * rows.len() as f64;
        check_loss(batch_loss, step)?;
        match moments.as_deref_mut() {
            None => {
                let params = (&mut model.weights[..], &mut model.bias[..]);
                sgd_step(params, &result.grad_weights, &result.grad_bias, |g| {
                    lr * g as f32
                });
            }
            Some([first, second]) => {
                let rule = StepRule::new(optimizer, lr, steps_before + step as u64 + 1);
                let values = model.weights.iter_mut().chain(&mut model.bias);
                let grads = result.grad_weights.iter().chain(&result.grad_bias);
                let firsts = first.weights.iter_mut().chain(&mut first.bias);
                let seconds = second.weights.iter_mut().chain(&mut second.bias);
                for (((w, &g), m), v) in values.zip(grads).zip(firsts).zip(seconds) {
                    rule.apply(w, g as f32, m, v);
                }
            }
        }
        check_weights(&model.weights, &model.bias, step)?;
        loss_sum += batch_loss;
        correct += result.correct;
        progress((step * batch_size + rows.len()).min(order.len()));
    }
    Ok((loss_sum, correct))
}
