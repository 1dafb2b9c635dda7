//! The training loop: minibatch SGD with a reshuffle every epoch.
//!
//! ```no_run
//! use softreg::{data::Dataset, train::{train, TrainConfig}};
//! let data = Dataset::load("data/fashion-mnist".as_ref(), 10)?;
//! let trained = train(&data, &TrainConfig::default(), |epoch| println!("{epoch:?}"))?;
//! println!("test accuracy {}", trained.epochs.last().unwrap().test_acc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use rayon::prelude::*;
use thiserror::Error;

use crate::data::{Dataset, Split};
use crate::kernel::{self, Isa, Partial};
use crate::model::Model;
use crate::random::SeededRng;
use crate::reference;

/// Which implementation computes the loss and gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The fused SIMD kernel ([`crate::kernel`]), parallel over fixed chunks.
    #[default]
    Fused,
    /// The unfused baseline on `matrixmultiply::sgemm` ([`crate::kernel::gemm`]),
    /// parallel over the same chunks.
    Gemm,
    /// The naive f64 reference ([`crate::reference`]), one thread per minibatch.
    Reference,
}

/// The most worker threads per core a training pool gets. Threads beyond the
/// cores only add overhead, and thousands of idle rayon workers looking for work
/// starve the working ones, so larger requests are capped.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The size of the worker pool for a requested thread count (`None`: one per
/// core), at most [`MAX_THREADS_PER_CORE`] per core.
pub fn pool_size(requested: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    requested
        .unwrap_or(cores)
        .clamp(1, cores * MAX_THREADS_PER_CORE)
}

/// Rows per parallel task of a minibatch. Fixed, so that the chunk boundaries and
/// the order in which their sums are added do not depend on the thread count.
pub const CHUNK_ROWS: usize = 64;

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
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 256,
            learning_rate: 0.1,
            seed: 0,
            threads: None,
            kernel: Kernel::Fused,
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
pub const EVAL_CHUNK: usize = 1024;

/// `f` on each [`EVAL_CHUNK`]-row range of `0..n`, the ranges in parallel on
/// the current rayon pool, the results in row order.
pub(crate) fn map_eval_chunks<T: Send>(n: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    (0..n.div_ceil(EVAL_CHUNK))
        .into_par_iter()
        .map(|chunk| f(chunk * EVAL_CHUNK..((chunk + 1) * EVAL_CHUNK).min(n)))
        .collect()
}

/// Evaluates `model` on `split` with `kernel`, in parallel on the current rayon pool.
pub fn evaluate(model: &Model, split: &Split, kernel: Kernel) -> Evaluation {
    let n = split.len();
    let isa = Isa::best();
    let partials = map_eval_chunks(n, |rows| {
        let (images, labels) = (&split.images, split.labels.as_slice());
        match kernel {
            Kernel::Fused => kernel::loss_and_correct(isa, model, images, labels, rows),
            Kernel::Gemm => kernel::gemm::loss_and_correct(model, images, labels, rows),
            Kernel::Reference => reference::loss_and_correct(model, images, labels, rows),
        }
    });
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
    train_with_progress(data, config, on_epoch, |_| {})
}

/// [`train`] that also calls `on_step(samples)` after every minibatch with the
/// number of training samples processed so far in the run (for a progress bar).
pub fn train_with_progress(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochReport) + Send,
    on_step: impl Fn(usize) + Sync,
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
    if config.threads == Some(0) {
        return Err(TrainError::Threads);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(pool_size(config.threads))
        .build()?
        .install(|| train_on_pool(data, config, on_epoch, &on_step))
}

fn train_on_pool(
    data: &Dataset,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport) + Send,
    on_step: &(impl Fn(usize) + Sync),
) -> Result<Trained, TrainError> {
    let train = &data.train;
    let mut rng = SeededRng::new(config.seed);
    let mut model = Model::init(train.images.features(), data.classes, &mut rng);
    let mut team = Team::new(&model, config.batch_size);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut epochs = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let start = Instant::now();
        let (batch_size, lr) = (config.batch_size, config.learning_rate);
        let done_before = (epoch - 1) * train.len();
        let progress = |samples: usize| on_step(done_before + samples);
        let sums = match config.kernel {
            Kernel::Fused | Kernel::Gemm => {
                let run = EpochRun {
                    kernel: config.kernel,
                    train,
                    order: &order,
                    batch_size,
                    lr,
                };
                team.epoch(&run, &mut model, &progress)
            }
            Kernel::Reference => {
                reference_epoch(&mut model, train, &order, batch_size, lr, &progress)
            }
        };
        let (loss_sum, correct) = sums.map_err(|d| TrainError::Diverged {
            epoch,
            step: d.step,
            what: d.what,
            value: d.value,
        })?;
        let train_seconds = start.elapsed().as_secs_f64();
        let test = evaluate(&model, &data.test, config.kernel);
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

/// Where an epoch stopped: the 1-based step and the first non-finite value.
struct Divergence {
    step: usize,
    what: &'static str,
    value: f64,
}

/// The summed loss and correct count of an epoch's minibatches.
type EpochSums = Result<(f64, usize), Divergence>;

/// One epoch of SGD with the naive reference, one minibatch at a time.
fn reference_epoch(
    model: &mut Model,
    train: &Split,
    order: &[usize],
    batch_size: usize,
    lr: f32,
    progress: &impl Fn(usize),
) -> EpochSums {
    let (mut loss_sum, mut correct) = (0.0, 0);
    for (step, rows) in order.chunks(batch_size).enumerate() {
        let result = reference::step(model, &train.images, &train.labels, rows);
        let batch_loss = result.loss * rows.len() as f64;
        check_loss(batch_loss, step)?;
        apply(model, &result.grad_weights, &result.grad_bias, |g| {
            lr * g as f32
        });
        check_weights(model, step)?;
        loss_sum += batch_loss;
        correct += result.correct;
        progress((step * batch_size + rows.len()).min(order.len()));
    }
    Ok((loss_sum, correct))
}

/// What one epoch of a chunked kernel runs on.
#[derive(Clone, Copy)]
struct EpochRun<'a> {
    kernel: Kernel,
    train: &'a Split,
    order: &'a [usize],
    batch_size: usize,
    lr: f32,
}

/// The chunked kernels' buffers: one [`Partial`] per chunk of the largest
/// minibatch, allocated once for the whole run.
struct Team {
    isa: Isa,
    partials: Vec<Mutex<Partial>>,
}

impl Team {
    fn new(model: &Model, batch_size: usize) -> Self {
        let chunks = batch_size.div_ceil(CHUNK_ROWS);
        Self {
            isa: Isa::best(),
            partials: (0..chunks)
                .map(|_| Mutex::new(Partial::new(model.features, model.classes)))
                .collect(),
        }
    }

    /// One epoch of SGD with a chunked kernel (fused or GEMM) on the threads of
    /// the current pool.
    ///
    /// The team (at most one thread per core and per chunk of a minibatch; any
    /// other pool threads sit this out, since spinning threads beyond the core
    /// count only steal time from working ones) stays in one rayon broadcast for
    /// the whole epoch and meets at a spinning barrier twice per minibatch,
    /// rather than being forked and joined (and put to sleep and woken) for every
    /// minibatch. Chunk `c` of a minibatch is computed by thread `c mod team`,
    /// but its result does not depend on which thread computes it, and thread 0
    /// adds the chunks' sums in chunk order and applies the update: the weights
    /// are bit-identical for any thread count.
    fn epoch(
        &mut self,
        run: &EpochRun<'_>,
        model: &mut Model,
        progress: &(impl Fn(usize) + Sync),
    ) -> EpochSums {
        let EpochRun {
            kernel,
            train,
            order,
            batch_size,
            lr,
        } = *run;
        let (isa, partials) = (self.isa, &self.partials);
        let (images, labels) = (&train.images, train.labels.as_slice());
        let model = RwLock::new(model);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let team = rayon::current_num_threads().min(partials.len()).min(cores);
        let barrier = SpinBarrier::new(team);
        let sums = Mutex::new(Ok((0.0, 0)));
        let stop = AtomicBool::new(false);
        rayon::broadcast(|thread| {
            let me = thread.index();
            if me >= team {
                return;
            }
            for (step, rows) in order.chunks(batch_size).enumerate() {
                {
                    let model = model.read().expect("no thread panics holding the model");
                    for (c, chunk) in rows.chunks(CHUNK_ROWS).enumerate().skip(me).step_by(team) {
                        let mut partial = partials[c].lock().expect("no thread panics in a kernel");
                        if kernel == Kernel::Gemm {
                            kernel::gemm::step(&model, images, labels, chunk, &mut partial);
                        } else {
                            kernel::step(isa, &model, images, labels, chunk, &mut partial);
                        }
                    }
                }
                barrier.wait();
                if me == 0 {
                    let mut model = model.write().expect("no thread panics holding the model");
                    let used = &partials[..rows.len().div_ceil(CHUNK_ROWS)];
                    let outcome = reduce_and_apply(&mut model, used, rows.len(), lr, step);
                    let mut sums = sums.lock().expect("only thread 0 takes the sums");
                    match (outcome, &mut *sums) {
                        (Ok((l, c)), Ok((loss_sum, correct))) => {
                            *loss_sum += l;
                            *correct += c;
                            progress((step * batch_size + rows.len()).min(order.len()));
                        }
                        (Err(divergence), sums) => {
                            *sums = Err(divergence);
                            stop.store(true, Ordering::Relaxed);
                        }
                        (Ok(_), Err(_)) => unreachable!("the epoch stops at a divergence"),
                    }
                }
                barrier.wait();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
        sums.into_inner()
            .expect("no thread panics holding the sums")
    }
}

/// Adds the chunks' sums in chunk order into the first, applies the mean
/// gradient to `model` and returns the minibatch's summed loss and correct count.
/// The weights are not touched when the loss is not finite.
fn reduce_and_apply(
    model: &mut Model,
    partials: &[Mutex<Partial>],
    rows: usize,
    lr: f32,
    step: usize,
) -> Result<(f64, usize), Divergence> {
    let (first, rest) = partials.split_first().expect("a minibatch has rows");
    let mut total = first.lock().expect("no thread panics in a kernel");
    for partial in rest {
        let partial = partial.lock().expect("no thread panics in a kernel");
        total.loss_sum += partial.loss_sum;
        total.correct += partial.correct;
        add_assign(&mut total.grad_weights, &partial.grad_weights);
        add_assign(&mut total.grad_bias, &partial.grad_bias);
    }
    check_loss(total.loss_sum, step)?;
    let scale = lr / rows as f32;
    apply(model, &total.grad_weights, &total.grad_bias, |g| scale * g);
    check_weights(model, step)?;
    Ok((total.loss_sum, total.correct))
}

/// A non-finite loss at step `step` (0-based) as a divergence.
fn check_loss(loss_sum: f64, step: usize) -> Result<(), Divergence> {
    if loss_sum.is_finite() {
        Ok(())
    } else {
        Err(Divergence {
            step: step + 1,
            what: "loss",
            value: loss_sum,
        })
    }
}

/// A non-finite weight or bias after step `step` (0-based) as a divergence.
fn check_weights(model: &Model, step: usize) -> Result<(), Divergence> {
    match model
        .weights
        .iter()
        .chain(&model.bias)
        .find(|w| !w.is_finite())
    {
        Some(&w) => Err(Divergence {
            step: step + 1,
            what: "weight",
            value: f64::from(w),
        }),
        None => Ok(()),
    }
}

/// A barrier for a team that meets many times a millisecond: it spins, then
/// yields (so that more threads than cores still make progress), and never
/// sleeps in the kernel, whose wake-up latency would dominate a short step.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Returns once all `threads` threads have called `wait` for this generation.
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 2_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

fn add_assign(total: &mut [f32], part: &[f32]) {
    for (t, p) in total.iter_mut().zip(part) {
        *t += p;
    }
}

/// `w -= step(g)` for every weight and bias.
fn apply<G: Copy>(model: &mut Model, grad_weights: &[G], grad_bias: &[G], step: impl Fn(G) -> f32) {
    for (w, &g) in model.weights.iter_mut().zip(grad_weights) {
        *w -= step(g);
    }
    for (b, &g) in model.bias.iter_mut().zip(grad_bias) {
        *b -= step(g);
    }
}
