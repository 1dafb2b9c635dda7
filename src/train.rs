//! The training loop: minibatch SGD with a reshuffle every epoch.
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{train, TrainConfig}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), 10)?;
//! let trained = train(&data, &TrainConfig::default(), |epoch| println!("{epoch:?}"))?;
//! println!("test accuracy {}", trained.epochs.last().unwrap().test_acc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Instant;

use rayon::prelude::*;
use thiserror::Error;

use crate::data::{Dataset, Split};
use crate::model::Model;
use crate::random::SeededRng;
use crate::reference;

/// Settings of one training run; the default is the tutorial's.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch; the last minibatch of an epoch may be smaller.
    pub batch_size: usize,
    /// The SGD step size applied to the mean gradient of a minibatch.
    pub learning_rate: f32,
    /// Seeds the weight initialisation and the per-epoch shuffles.
    pub seed: u64,
    /// Worker threads; `None` means one per core.
    pub threads: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 256,
            learning_rate: 0.1,
            seed: 0,
            threads: None,
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
    /// There is nothing to train on.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// The thread pool could not be started.
    #[error("cannot start the thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// The loss stopped being finite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss is {loss}; lower the learning rate"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
}

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

/// Loss and accuracy of a model on a labelled split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// Rows per evaluation task: fixed so that sums do not depend on the thread count.
const EVAL_CHUNK: usize = 1024;

/// Evaluates `model` on `split` in parallel on the current rayon pool.
pub fn evaluate(model: &Model, split: &Split) -> Evaluation {
    let n = split.len();
    let partials: Vec<(f64, usize)> = (0..n.div_ceil(EVAL_CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let rows = chunk * EVAL_CHUNK..((chunk + 1) * EVAL_CHUNK).min(n);
            reference::loss_and_correct(model, &split.images, &split.labels, rows)
        })
        .collect();
    let (loss_sum, correct) = partials
        .iter()
        .fold((0.0, 0), |(l, c), &(pl, pc)| (l + pl, c + pc));
    Evaluation {
        loss: loss_sum / n as f64,
        accuracy: correct as f64 / n as f64,
    }
}

/// Trains a model on `data.train`, evaluating on `data.test` after every epoch
/// and passing each epoch's report to `on_epoch` as soon as it is known.
pub fn train(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<Trained, TrainError> {
    if config.batch_size == 0 {
        return Err(TrainError::BatchSize);
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return Err(TrainError::LearningRate(config.learning_rate));
    }
    if data.train.is_empty() {
        return Err(TrainError::EmptyTrainingSet);
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = config.threads {
        if threads == 0 {
            return Err(TrainError::Threads);
        }
        pool = pool.num_threads(threads);
    }
    pool.build()?
        .install(|| train_on_pool(data, config, on_epoch))
}

fn train_on_pool(
    data: &Dataset,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<Trained, TrainError> {
    let train = &data.train;
    let mut rng = SeededRng::new(config.seed);
    let mut model = Model::init(train.images.features(), data.classes, &mut rng);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut epochs = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let start = Instant::now();
        let mut loss_sum = 0.0;
        let mut correct = 0;
        for (step, rows) in order.chunks(config.batch_size).enumerate() {
            let result = reference::step(&model, &train.images, &train.labels, rows);
            if !result.loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step: step + 1,
                    loss: result.loss,
                });
            }
            loss_sum += result.loss * rows.len() as f64;
            correct += result.correct;
            let lr = config.learning_rate;
            for (w, &g) in model.weights.iter_mut().zip(&result.grad_weights) {
                *w -= lr * g as f32;
            }
            for (b, &g) in model.bias.iter_mut().zip(&result.grad_bias) {
                *b -= lr * g as f32;
            }
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let test = evaluate(&model, &data.test);
        let report = EpochReport {
            epoch,
            loss: loss_sum / train.len() as f64,
            train_acc: correct as f64 / train.len() as f64,
            test_loss: test.loss,
            test_acc: test.accuracy,
            samples: train.len(),
            train_seconds,
        };
        on_epoch(&report);
        epochs.push(report);
    }
    Ok(Trained { model, epochs })
}
