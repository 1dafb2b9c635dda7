//! What a fit is asked to do: one model per [`Penalty`], started as
//! [`Start`] says, and checked before it starts ([`FitError`]).

use thiserror::Error;

use super::full_batch::PassBuffers;
use super::lbfgs::LbfgsSettings;
use super::precondition::{self, Preconditioning};
use crate::compute::{Compute, ComputeError, MAX_MODELS};
use crate::data::Dataset;
use crate::input::human_bytes;

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

    fn check(self) -> Result<(), FitError> {
        let fine = match self {
            Penalty::C(c) => c.is_finite() && c > 0.0,
            Penalty::L2(lambda) => lambda.is_finite() && lambda >= 0.0,
        };
        if fine {
            Ok(())
        } else {
            Err(FitError::Penalty(self.describe()))
        }
    }
}

/// Where the models of a fit of many penalties start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Strongest penalty (largest λ) first, from zero; each next from the
    /// previous optimum, as scikit-learn's `LogisticRegressionCV` walks its
    /// `Cs`, moved along the path the previous two optima trace
    /// (`path.rs`'s `predicted_start`). Near strengths have near optima, so each later
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
    /// The kernel and threads it computes with.
    pub compute: Compute,
    /// Training rows held out for validation: the last `validation` rows,
    /// never fitted, scored at the end; 0 holds out nothing.
    pub validation: usize,
    /// One model per penalty.
    pub penalties: Vec<Penalty>,
    /// History, tolerances and the iteration limit.
    pub solver: LbfgsSettings,
    /// Score the test split every this many iterations (and at the end); 0
    /// for only at the end.
    pub test_every: usize,
    /// Whether the solvers start from the Gram preconditioner.
    pub preconditioning: Preconditioning,
    /// Where the models start (one model starts from zero either way).
    pub start: Start,
}

impl Default for FitConfig {
    /// scikit-learn's `LogisticRegression()`: C 1, its L-BFGS settings, on
    /// every row, the Gram preconditioner where it pays.
    fn default() -> Self {
        Self {
            compute: Compute::default(),
            validation: 0,
            penalties: vec![Penalty::C(1.0)],
            solver: LbfgsSettings::default(),
            test_every: 0,
            preconditioning: Preconditioning::Auto,
            start: Start::Path,
        }
    }
}

impl FitConfig {
    /// Refuses settings that cannot fit on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), FitError> {
        if self.penalties.is_empty() {
            return Err(FitError::NoModels);
        }
        if self.penalties.len() > MAX_MODELS {
            return Err(FitError::TooManyModels(self.penalties.len()));
        }
        self.compute.check()?;
        if data.train.is_empty() {
            return Err(FitError::EmptyTrainingSet);
        }
        if self.validation >= data.train.len() {
            return Err(FitError::Validation {
                held_out: self.validation,
                rows: data.train.len(),
            });
        }
        self.penalties.iter().try_for_each(|p| p.check())?;
        if !(self.solver.gtol >= 0.0 && self.solver.gtol.is_finite()) {
            return Err(FitError::Tolerance(self.solver.gtol));
        }
        let needed = self.memory_needed(data);
        match crate::input::memory_shortfall(needed) {
            Some(available) => Err(FitError::OutOfMemory {
                models: self.penalties.len(),
                needed,
                available,
            }),
            None => Ok(()),
        }
    }

    /// The training rows the fit fits: all but the held-out ones.
    pub fn trained_on(&self, data: &Dataset) -> usize {
        data.train.len().saturating_sub(self.validation)
    }

    /// The fit's settings as `key=value` pairs: the solver's, the penalties
    /// and the kernel.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let penalties: Vec<String> = self.penalties.iter().map(|p| p.describe()).collect();
        vec![
            ("optimizer", "lbfgs".to_string()),
            ("penalties", penalties.join(", ")),
            ("tol", self.solver.gtol.to_string()),
            ("max_iter", self.solver.max_iter.to_string()),
            ("validation", self.validation.to_string()),
            ("kernel", self.compute.describe()),
        ]
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
                let threads = self.compute.pool_size();
                let bytes = precondition::gram_bytes(features, self.penalties.len(), threads);
                let needed = self.memory_needed(data).saturating_add(bytes);
                precondition::gram_pays(self.trained_on(data), features, classes)
                    && crate::input::memory_shortfall(needed).is_none()
            }
        }
    }

    /// The most models one pass evaluates: one on a path, all from zero.
    pub(super) fn models_per_pass(&self) -> usize {
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
        let (rows, threads) = (self.trained_on(data), self.compute.pool_size());
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

/// Why a fit could not run.
#[derive(Debug, Error)]
pub enum FitError {
    /// A fit with no penalty to fit.
    #[error("a fit needs at least one penalty")]
    NoModels,
    /// More models than one fit fits.
    #[error("{0} models are more than the {MAX_MODELS} one fit fits")]
    TooManyModels(usize),
    /// A penalty strength that is not a number the objective can use.
    #[error("{0}: C must be a positive finite number, and l2 a finite number of at least 0")]
    Penalty(String),
    /// A gradient tolerance that is negative or not finite.
    #[error("the gradient tolerance must be a finite number of at least 0, got {0}")]
    Tolerance(f64),
    /// There is nothing to fit.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// The validation split would take every training row.
    #[error(
        "holding out {held_out} rows for validation leaves none to fit: the training set has {rows}"
    )]
    Validation { held_out: usize, rows: usize },
    /// A fit whose solvers and pass sums would not fit in memory.
    #[error(
        "{} need{} {} of memory for the solvers and the pass sums, more than the {} available",
        if *.models == 1 { "one model".to_string() } else { format!("{} models", .models) },
        if *.models == 1 { "s" } else { "" },
        human_bytes(*.needed),
        human_bytes(*.available)
    )]
    OutOfMemory {
        models: usize,
        needed: u64,
        available: u64,
    },
    /// A full-batch objective that is not finite at zero weights.
    #[error(
        "the objective or its gradient is not finite at zero weights: the features are too \
         large for sums in f32"
    )]
    NotFiniteAtStart,
    /// The fit's threads could not be had.
    #[error(transparent)]
    Compute(#[from] ComputeError),
}
