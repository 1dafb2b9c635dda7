//! Full-batch fits: L-BFGS ([`lbfgs`]) on the objective scikit-learn's
//! `LogisticRegression` minimises,
//!
//! ```text
//! f(W, b) = (1/n) Σᵢ cross-entropy(W xᵢ + b, yᵢ) + (λ/2) ‖W‖²,   λ = 1 / (C n),
//! ```
//!
//! the bias unpenalised, for one strength or many. Every model's solver asks
//! for the objective at its own trial point; each pass over the training rows
//! (`full_batch.rs`) evaluates every model that is solving.
//! Many strengths are fitted as a [`Start`] says: by default along the path,
//! strongest penalty first, each next one from near the previous optimum
//! (one model solving at a time, in far fewer passes in all), or every one
//! from zero in lockstep, models dropping out as they converge. The solvers
//! work in f64 on the weights in the engine's layout (a permutation of the
//! row-major matrix, so dot products and the norm are the same); the kernel
//! computes with those weights rounded to f32, and the objective is that of
//! the rounded weights, the ones saved.
//! Each solver starts its directions from the Gram preconditioner
//! ([`precondition`]) where it pays, from the identity otherwise.

//!
//! The files: `lbfgs` (the solver, generic over its objective), `precondition`
//! (the Gram preconditioner), `full_batch` (one pass over the rows for many
//! models), `config` (what a fit is asked), `path` (which models solve in a
//! pass, and where each starts) and `solve` (the loop).

pub mod lbfgs;
pub mod precondition;

mod config;
mod full_batch;
mod path;
mod solve;

pub use config::{FitConfig, FitError, Penalty, Start};
pub use full_batch::PASS_CHUNK_ROWS;

use crate::data::Dataset;
use crate::eval::Evaluation;
use crate::kernel::{Engine, EngineJob};
use crate::model::Model;
use full_batch::PassBuffers;
use lbfgs::LbfgsStop;
use solve::{objective, set_weights};

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
        crate::eval::best_by_validation(scored)
    }
}

/// Fits one model per penalty of `config` on `data.train` (less the held-out
/// rows), calling `on_iteration` after each iteration of each model (the
/// starting point is iteration 0).
pub fn fit(
    data: &Dataset,
    config: &FitConfig,
    on_iteration: impl FnMut(&FitIteration) + Send,
) -> Result<Fit, FitError> {
    config.check(data)?;
    struct Job<'a, F> {
        data: &'a Dataset,
        config: &'a FitConfig,
        on_iteration: F,
    }
    impl<F: FnMut(&FitIteration)> EngineJob for Job<'_, F> {
        type Output = Fit;
        fn run<E: Engine>(self, engine: &E) -> Fit {
            solve::fit_with(engine, self.data, self.config, self.on_iteration)
        }
    }
    let job = Job {
        data,
        config,
        on_iteration,
    };
    let fitted = config.compute.run(job)?;
    // The first model starts from zero weights, and every later one from a
    // finite optimum, so one not finite is not finite at zero.
    if fitted
        .models
        .iter()
        .any(|m| m.last.stop == Some(LbfgsStop::NotFinite))
    {
        return Err(FitError::NotFiniteAtStart);
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
) -> Result<(f64, Model), FitError> {
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
    let n = config.trained_on(data);
    let job = Job {
        data,
        n,
        lambda: penalty.lambda(n),
        model,
    };
    Ok(config.compute.run(job)?)
}
