//! Full-batch fits: L-BFGS ([`super::lbfgs`]) on the objective scikit-learn's
//! `LogisticRegression` minimises,
//!
//! ```text
//! f(W, b) = (1/n) Σᵢ cross-entropy(W xᵢ + b, yᵢ) + (λ/2) ‖W‖²,   λ = 1 / (C n),
//! ```
//!
//! the bias unpenalised, for one strength or many. Every model's solver asks
//! for the objective at its own trial point; each pass over the training rows
//! ([`super::full_batch::pass`]) evaluates every model that is solving.
//! Many strengths are fitted as a [`Start`] says: by default along the path,
//! strongest penalty first, each next one from near the previous optimum
//! (one model solving at a time, in far fewer passes in all), or every one
//! from zero in lockstep, models dropping out as they converge. The solvers
//! work in f64 on the weights in the engine's layout (a permutation of the
//! row-major matrix, so dot products and the norm are the same); the kernel
//! computes with those weights rounded to f32, and the objective is that of
//! the rounded weights, the ones saved.
//! Each solver starts its directions from the Gram preconditioner
//! ([`super::precondition`]) where it pays, from the identity otherwise.

use std::sync::Arc;
use std::time::Instant;

pub use super::full_batch::PASS_CHUNK_ROWS;
use super::full_batch::{self, PassBuffers, PassSums};
use super::lbfgs::{Lbfgs, LbfgsProgress, LbfgsSettings, LbfgsStop, Preconditioner};
use super::precondition::{self, Gram, GramPreconditioner, Preconditioning};
use super::{RunConfig, TrainError, on_pool};
use crate::data::Dataset;
use crate::eval::{Evaluation, evaluate_models};
use crate::kernel::{Engine, EngineJob, Kernel};
use crate::model::Model;

/// The strength of the L2 penalty on the weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// scikit-learn's `C`: λ = 1 / (C n) for n training rows.
    C(f64),
    /// λ itself.
    L2(f64),
}

impl Penalty {
    /// λ for `n` training rows.
    pub fn lambda(self, n: usize) -> f64 {
        match self {
            Penalty::C(c) => 1.0 / (c * n as f64),
            Penalty::L2(lambda) => lambda,
        }
    }

    /// `C 1` or `l2 0.001`, as the flags name them.
    pub fn describe(self) -> String {
        match self {
            Penalty::C(c) => format!("C {c}"),
            Penalty::L2(lambda) => format!("l2 {lambda}"),
        }
    }

    fn check(self) -> Result<(), TrainError> {
        let fine = match self {
            Penalty::C(c) => c.is_finite() && c > 0.0,
            Penalty::L2(lambda) => lambda.is_finite() && lambda >= 0.0,
        };
        if fine {
            Ok(())
        } else {
            Err(TrainError::Penalty(self.describe()))
        }
    }
}

/// Where the models of a fit of many penalties start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Strongest penalty (largest λ) first, from zero; each next from the
    /// previous optimum, as scikit-learn's `LogisticRegressionCV` walks its
    /// `Cs`, moved along the path the previous two optima trace
    /// ([`predicted_start`]). Near strengths have near optima, so each later
    /// fit takes a fraction of the passes. (The previous fit's curvature
    /// pairs are not carried over: near an optimum reached at a tight
    /// tolerance they measure the f32 gradient's rounding, and misled the
    /// next fit into several times its passes.)
    Path,
    /// Every model from zero, all solving in lockstep: each is the fit its
    /// penalty gets alone, to the bit.
    Zero,
}

/// A full-batch fit of one model per penalty.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Threads, instruction set, plan and held-out rows (epochs and batch
    /// size do not apply).
    pub run: RunConfig,
    /// One model per penalty.
    pub penalties: Vec<Penalty>,
    /// History, tolerances and the iteration limit.
    pub solver: LbfgsSettings,
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
    /// Score the test split every this many iterations (and at the end); 0
    /// for only at the end.
    pub test_every: usize,
    /// Whether the solvers start from the Gram preconditioner.
    pub preconditioning: Preconditioning,
    /// Where the models start (one model starts from zero either way).
    pub start: Start,
}

impl FitConfig {
    /// Refuses settings that cannot fit on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        if self.penalties.is_empty() {
            return Err(TrainError::NoModels);
        }
        if self.penalties.len() > super::MAX_SWEEP_MODELS {
            return Err(TrainError::TooManyModels(self.penalties.len()));
        }
        let run = RunConfig {
            epochs: 1,
            batch_size: full_batch::PASS_CHUNK_ROWS,
            ..self.run.clone()
        };
        run.check(data)?;
        self.penalties.iter().try_for_each(|p| p.check())?;
        if !(self.solver.gtol >= 0.0 && self.solver.gtol.is_finite()) {
            return Err(TrainError::Tolerance(self.solver.gtol));
        }
        let needed = self.memory_needed(data);
        match crate::input::memory_shortfall(needed) {
            Some(available) => Err(TrainError::OutOfMemory {
                models: self.penalties.len(),
                batch_size: self.run.trained_on(data),
                needed,
                available,
            }),
            None => Ok(()),
        }
    }

    /// Whether the fit on `data` uses the Gram preconditioner: always or
    /// never as asked, or for `auto` where it pays
    /// ([`precondition::gram_pays`]) and its memory is at hand.
    pub fn uses_gram(&self, data: &Dataset) -> bool {
        let (features, classes) = (data.train.images.features(), data.classes);
        match self.preconditioning {
            Preconditioning::Gram => true,
            Preconditioning::None => false,
            Preconditioning::Auto => {
                let threads = super::pool_size(self.run.threads);
                let bytes = precondition::gram_bytes(features, self.penalties.len(), threads);
                let needed = self.memory_needed(data).saturating_add(bytes);
                precondition::gram_pays(self.run.trained_on(data), features, classes)
                    && crate::input::memory_shortfall(needed).is_none()
            }
        }
    }

    /// The most models one pass evaluates: one on a path, all from zero.
    fn models_per_pass(&self) -> usize {
        match self.start {
            Start::Path => 1,
            Start::Zero => self.penalties.len(),
        }
    }

    /// Bytes the fit holds beyond the data: per model, the solver's f64
    /// iterate, gradient, trial, direction and line-search copies and its
    /// history's pairs, and the f32 weights; the passes' chunk sums
    /// ([`PassBuffers::bytes`]); and the Gram preconditioner's
    /// ([`precondition::gram_bytes`]) when it is asked for.
    pub fn memory_needed(&self, data: &Dataset) -> u64 {
        let shape = (data.train.images.features(), data.classes);
        let parameters = ((shape.0 + 1) * shape.1) as u64;
        let solver = 8 * (8 + 2 * self.solver.history as u64);
        let models = self.penalties.len();
        let per_model = parameters.saturating_mul(solver + 4);
        let (rows, threads) = (
            self.run.trained_on(data),
            super::pool_size(self.run.threads),
        );
        let sums = PassBuffers::bytes(shape, self.models_per_pass(), rows, threads);
        let gram = match self.preconditioning {
            Preconditioning::Gram => precondition::gram_bytes(shape.0, models, threads),
            Preconditioning::Auto | Preconditioning::None => 0,
        };
        per_model
            .saturating_mul(models as u64)
            .saturating_add(sums)
            .saturating_add(gram)
    }
}

/// One iteration of one model's fit, as it is reported.
#[derive(Debug, Clone, PartialEq)]
pub struct FitIteration {
    /// Which model (index into the penalties).
    pub model: usize,
    /// Iterations so far (0 for the starting point).
    pub iteration: usize,
    /// The objective at the iterate.
    pub objective: f64,
    /// The largest gradient component there, in absolute value.
    pub gradient_max: f64,
    /// The length of the step that reached it.
    pub step: f64,
    /// Objective evaluations so far.
    pub evaluations: usize,
    /// Test loss and accuracy, on the iterations that score it.
    pub test: Option<Evaluation>,
    /// Seconds since the fit started.
    pub seconds: f64,
    /// Why the model stopped, on its last iteration.
    pub stop: Option<LbfgsStop>,
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The penalty it was fitted with, and its λ.
    pub penalty: Penalty,
    pub lambda: f64,
    /// The weights and bias.
    pub model: Model,
    /// Its last iteration: objective, gradient, why it stopped, test score.
    pub last: FitIteration,
    /// The model (index into the penalties) whose optimum it started from,
    /// on a path; None for a start from zero.
    pub from: Option<usize>,
    /// Loss and accuracy on the held-out rows, when some are held out.
    pub validation: Option<Evaluation>,
}

/// Every model's fit, and what the fits took together.
#[derive(Debug, Clone)]
pub struct Fit {
    /// One per penalty, in their order.
    pub models: Vec<Fitted>,
    /// Passes over the training rows (each evaluated every model solving:
    /// one on a path, all not yet stopped from zero).
    pub passes: usize,
    /// Training rows.
    pub rows: usize,
    /// The rows the Gram preconditioner was estimated from, when the fit
    /// used it.
    pub gram_rows: Option<usize>,
    /// Seconds, scoring included.
    pub seconds: f64,
}

impl Fit {
    /// The model with the best validation accuracy (the first of equals),
    /// when rows were held out.
    pub fn best(&self) -> Option<&Fitted> {
        let scored = self
            .models
            .iter()
            .map(|m| (m, m.validation.map(|v| v.accuracy)));
        super::best_by_validation(scored)
    }
}

/// Fits one model per penalty of `config` on `data.train` (less the held-out
/// rows), calling `on_iteration` after each iteration of each model (the
/// starting point is iteration 0).
pub fn fit(
    data: &Dataset,
    config: &FitConfig,
    on_iteration: impl FnMut(&FitIteration) + Send,
) -> Result<Fit, TrainError> {
    config.check(data)?;
    struct Job<'a, F> {
        data: &'a Dataset,
        config: &'a FitConfig,
        on_iteration: F,
    }
    impl<F: FnMut(&FitIteration)> EngineJob for Job<'_, F> {
        type Output = Fit;
        fn run<E: Engine>(self, engine: &E) -> Fit {
            fit_with(engine, self.data, self.config, self.on_iteration)
        }
    }
    let (isa, plan) = (config.run.isa(), config.run.plan());
    let job = Job {
        data,
        config,
        on_iteration,
    };
    let fitted = on_pool(config.run.threads, || Ok(config.kernel.run(isa, plan, job)))?;
    // The first model starts from zero weights, and every later one from a
    // finite optimum, so one not finite is not finite at zero.
    if fitted
        .models
        .iter()
        .any(|m| m.last.stop == Some(LbfgsStop::NotFinite))
    {
        return Err(TrainError::NotFiniteAtStart);
    }
    Ok(fitted)
}

/// The objective `config`'s fit minimises for `penalty`, and its gradient
/// (row-major, as a model's weights and bias, rounded to f32), at `model`:
/// what every iteration computes, exposed to check it against an
/// independent computation.
pub fn objective_at(
    data: &Dataset,
    config: &FitConfig,
    penalty: Penalty,
    model: &Model,
) -> Result<(f64, Model), TrainError> {
    struct Job<'a> {
        data: &'a Dataset,
        n: usize,
        lambda: f64,
        model: &'a Model,
    }
    impl EngineJob for Job<'_> {
        type Output = (f64, Model);
        fn run<E: Engine>(self, engine: &E) -> (f64, Model) {
            let rows: Vec<usize> = (0..self.n).collect();
            let mut weights = engine.weights(self.model);
            let (train, classes) = (&self.data.train, self.data.classes);
            let shape = (train.images.features(), classes);
            let threads = rayon::current_num_threads();
            let mut buffers = PassBuffers::new(shape, 1, self.n, threads);
            let sums = full_batch::pass(engine, (train, classes), &rows, &[&weights], &mut buffers);
            let (f, gradient) = objective::<E>(&mut weights, &sums[0], self.lambda, self.n);
            set_weights::<E>(&mut weights, &gradient);
            (f, engine.model(&weights))
        }
    }
    let n = config.run.trained_on(data);
    let job = Job {
        data,
        n,
        lambda: penalty.lambda(n),
        model,
    };
    let (isa, plan) = (config.run.isa(), config.run.plan());
    on_pool(config.run.threads, || Ok(config.kernel.run(isa, plan, job)))
}

/// A model being fitted: its solver (once it started), its preconditioner,
/// its penalty's λ, and f32 weights in the engine's layout to evaluate its
/// trial points with.
struct Member<W> {
    solver: Option<Lbfgs>,
    preconditioner: Option<Arc<dyn Preconditioner>>,
    lambda: f64,
    weights: W,
}

/// Every model solving, and every model once the fit ends, has started.
const STARTED: &str = "a solving model has started";

impl<W> Member<W> {
    fn done(&self) -> bool {
        self.solver.as_ref().is_some_and(|s| s.stopped().is_some())
    }
}

/// The models solving in the next pass: every one not done when all start
/// from zero; on a path, the first not done in `path` order, started when
/// it comes up, near its predecessor's optimum ([`predicted_start`]; the
/// path's first starts from zero).
fn solving<W>(members: &mut [Member<W>], config: &FitConfig, path: &[usize]) -> Vec<usize> {
    if config.start == Start::Zero {
        return (0..members.len()).filter(|&m| !members[m].done()).collect();
    }
    let Some(at) = path.iter().position(|&m| !members[m].done()) else {
        return Vec::new();
    };
    let m = path[at];
    if members[m].solver.is_none() {
        let p = path[at - 1];
        let previous = members[p].solver.as_ref().expect("done before");
        let x0 = match at.checked_sub(2).map(|q| path[q]) {
            Some(q) => {
                let before = members[q].solver.as_ref().expect("done before");
                let lambdas = [members[q].lambda, members[p].lambda, members[m].lambda];
                predicted_start([before.x(), previous.x()], lambdas)
            }
            None => previous.x().to_vec(),
        };
        let solver = Lbfgs::preconditioned(x0, config.solver, members[m].preconditioner.clone());
        members[m].solver = Some(solver);
    }
    vec![m]
}

fn fit_with<E: Engine>(
    engine: &E,
    data: &Dataset,
    config: &FitConfig,
    mut on_iteration: impl FnMut(&FitIteration),
) -> Fit {
    let start = Instant::now();
    let train = &data.train;
    let (features, classes) = (train.images.features(), data.classes);
    let n = config.run.trained_on(data);
    let rows: Vec<usize> = (0..n).collect();
    let zeros = Model::zeros(features, classes);
    let gram = config
        .uses_gram(data)
        .then(|| Gram::sample(&train.images, n));
    let positions: Arc<[usize]> = match gram {
        Some(_) => class_major_positions(engine, features, classes).into(),
        None => Arc::new([]),
    };
    let lambdas: Vec<f64> = config.penalties.iter().map(|p| p.lambda(n)).collect();
    let mut path: Vec<usize> = (0..lambdas.len()).collect();
    path.sort_by(|&a, &b| lambdas[b].total_cmp(&lambdas[a]).then(a.cmp(&b)));
    let mut members: Vec<Member<E::Weights>> = lambdas
        .iter()
        .enumerate()
        .map(|(m, &lambda)| {
            let preconditioner = gram.as_ref().and_then(|gram| {
                let m = GramPreconditioner::new(gram, classes, lambda, positions.clone())?;
                Some(Arc::new(m) as Arc<dyn Preconditioner>)
            });
            let from_zero = config.start == Start::Zero || m == path[0];
            let solver = from_zero.then(|| {
                let x0 = vec![0.0; (features + 1) * classes];
                Lbfgs::preconditioned(x0, config.solver, preconditioner.clone())
            });
            Member {
                solver,
                preconditioner,
                lambda,
                weights: engine.weights(&zeros),
            }
        })
        .collect();
    let threads = rayon::current_num_threads();
    let mut buffers = PassBuffers::new((features, classes), config.models_per_pass(), n, threads);
    let mut last: Vec<Option<FitIteration>> = vec![None; members.len()];
    let mut passes = 0;
    loop {
        let solving = solving(&mut members, config, &path);
        if solving.is_empty() {
            break;
        }
        for &m in &solving {
            let Member {
                solver, weights, ..
            } = &mut members[m];
            set_weights::<E>(weights, solver.as_ref().expect(STARTED).point());
        }
        let weights: Vec<&E::Weights> = solving.iter().map(|&m| &members[m].weights).collect();
        let sums = full_batch::pass(engine, (train, classes), &rows, &weights, &mut buffers);
        passes += 1;
        for (&m, sums) in solving.iter().zip(sums) {
            let Member {
                solver,
                weights,
                lambda,
                ..
            } = &mut members[m];
            let solver = solver.as_mut().expect(STARTED);
            let (f, gradient) = objective::<E>(weights, &sums, *lambda, n);
            if solver.tell(f, &gradient) == LbfgsProgress::Searching {
                continue;
            }
            let stop = solver.stopped();
            let iteration = solver.iterations();
            let scored = stop.is_some()
                || (config.test_every > 0 && iteration > 0 && iteration % config.test_every == 0);
            let test = data.test.as_ref().filter(|_| scored).map(|split| {
                set_weights::<E>(weights, solver.x());
                evaluate_models(engine, &[&*weights], split, 0..split.len())[0]
            });
            let report = FitIteration {
                model: m,
                iteration,
                objective: solver.objective(),
                gradient_max: solver.gradient_max(),
                step: solver.last_step(),
                evaluations: solver.evaluations(),
                test,
                seconds: start.elapsed().as_secs_f64(),
                stop,
            };
            // A stop without a new step (the line search found none) is not
            // an iteration: it only updates the last one's score and stop.
            let repeated = last[m].as_ref().is_some_and(|l| l.iteration == iteration);
            if !repeated {
                on_iteration(&report);
            }
            last[m] = Some(report);
        }
    }
    let held_out = n..train.len();
    // On a path each model after the first started from its predecessor's.
    let mut from = vec![None; members.len()];
    if config.start == Start::Path {
        for pair in path.windows(2) {
            from[pair[1]] = Some(pair[0]);
        }
    }
    let models = members
        .into_iter()
        .zip(last)
        .zip(&config.penalties)
        .zip(from)
        .map(|(((mut member, last), &penalty), from)| {
            set_weights::<E>(&mut member.weights, member.solver.expect(STARTED).x());
            let validation = (!held_out.is_empty())
                .then(|| evaluate_models(engine, &[&member.weights], train, held_out.clone())[0]);
            Fitted {
                penalty,
                lambda: member.lambda,
                model: engine.model(&member.weights),
                last: last.expect("every model reports its stop"),
                from,
                validation,
            }
        })
        .collect();
    Fit {
        models,
        passes,
        rows: n,
        gram_rows: gram.map(|g| g.rows()),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Where a model on the path starts: on the line through the previous two
/// optima `[before, previous]` (of λ `lambdas[0]` and `lambdas[1]`),
/// extended in log λ to its own λ `lambdas[2]`, at most one previous gap
/// beyond `previous` (the secant predictor of numerical continuation: the
/// optimum moves smoothly with log λ, and a grid of strengths is most often
/// even in it).
fn predicted_start([before, previous]: [&[f64]; 2], lambdas: [f64; 3]) -> Vec<f64> {
    let [q, p, m] = lambdas;
    let along = (m / p).ln() / (p / q).ln();
    let along = if along.is_nan() {
        0.0
    } else {
        along.clamp(0.0, 1.0)
    };
    previous
        .iter()
        .zip(before)
        .map(|(x, b)| x + along * (x - b))
        .collect()
}

/// For each weight in `E`'s layout, its index in the class-major matrix
/// ([`Model::weights`]): read back from two models whose weights are their
/// own indices' low and high digits (each exact in f32).
fn class_major_positions<E: Engine>(engine: &E, features: usize, classes: usize) -> Vec<usize> {
    const DIGIT: usize = 1 << 12;
    let digits = |digit: fn(usize) -> usize| {
        let model = Model {
            weights: (0..features * classes).map(|i| digit(i) as f32).collect(),
            ..Model::zeros(features, classes)
        };
        let mut weights = engine.weights(&model);
        E::params(&mut weights).0.to_vec()
    };
    let (low, high) = (digits(|i| i % DIGIT), digits(|i| i / DIGIT));
    low.iter()
        .zip(&high)
        .map(|(&low, &high)| high as usize * DIGIT + low as usize)
        .collect()
}

/// Writes `x` (the weights in the engine's layout, then the bias) into
/// `weights`, rounded to f32.
fn set_weights<E: Engine>(weights: &mut E::Weights, x: &[f64]) {
    let (w, b) = E::params(weights);
    let (xw, xb) = x.split_at(w.len());
    for (w, x) in w.iter_mut().chain(b.iter_mut()).zip(xw.iter().chain(xb)) {
        *w = *x as f32;
    }
}

/// The objective and its gradient at the f32 `weights` the pass used: the
/// mean loss and gradient of `n` rows from `sums`, plus (λ/2)‖W‖² and λW.
fn objective<E: Engine>(
    weights: &mut E::Weights,
    sums: &PassSums,
    lambda: f64,
    n: usize,
) -> (f64, Vec<f64>) {
    let (w, _) = E::params(weights);
    let scale = 1.0 / n as f64;
    let mut gradient: Vec<f64> = sums.gradient.iter().map(|g| g * scale).collect();
    let mut norm = 0.0;
    for (g, &w) in gradient.iter_mut().zip(w.iter()) {
        let w = f64::from(w);
        norm += w * w;
        *g += lambda * w;
    }
    (sums.loss_sum * scale + 0.5 * lambda * norm, gradient)
}
