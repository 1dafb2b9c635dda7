//! When a model stops being trainable: a loss or weight that is not finite
//! after a step, or an epoch whose mean loss ran far beyond where training
//! starts. One type for `train`, which stops, and `sweep`, which drops the
//! model and goes on.

use std::fmt;

/// How many times the loss of a uniform guess (`ln(classes)`, where training
/// starts) an epoch's mean loss may reach before the run counts as diverged.
pub const RUNAWAY_FACTOR: f64 = 100.0;

/// Where and why a model diverged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    /// The 1-based epoch.
    pub epoch: usize,
    /// What happened.
    pub cause: Cause,
}

/// Why a model diverged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cause {
    /// The summed loss of the minibatch of 1-based step `step` is not finite.
    NonFiniteLoss { step: usize, loss: f64 },
    /// A weight or bias is not finite after the update of 1-based step `step`.
    NonFiniteWeight { step: usize, weight: f64 },
    /// The epoch's mean loss is more than [`RUNAWAY_FACTOR`] times `start`,
    /// the loss of a uniform guess.
    RunAway { loss: f64, start: f64 },
}

impl Cause {
    /// A short name: `loss`, `weight` or `run-away loss`.
    pub fn name(&self) -> &'static str {
        match self {
            Cause::NonFiniteLoss { .. } => "loss",
            Cause::NonFiniteWeight { .. } => "weight",
            Cause::RunAway { .. } => "run-away loss",
        }
    }

    /// The 1-based step within the epoch, for a value that stopped being
    /// finite.
    pub fn step(&self) -> Option<usize> {
        match *self {
            Cause::NonFiniteLoss { step, .. } | Cause::NonFiniteWeight { step, .. } => Some(step),
            Cause::RunAway { .. } => None,
        }
    }

    /// The value that diverged: the loss or weight, or the epoch's mean loss.
    pub fn value(&self) -> f64 {
        match *self {
            Cause::NonFiniteLoss { loss, .. } => loss,
            Cause::NonFiniteWeight { weight, .. } => weight,
            Cause::RunAway { loss, .. } => loss,
        }
    }
}

/// For a list of diverged models: `step 3: the loss is NaN`, `the mean loss
/// 3.6884e30 is more than 100 times that of a uniform guess`.
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cause::NonFiniteLoss { step, .. } | Cause::NonFiniteWeight { step, .. } => {
                let value = format_loss(self.value());
                write!(f, "step {step}: the {} is {value}", self.name())
            }
            Cause::RunAway { loss, .. } => write!(
                f,
                "the mean loss {} is more than {RUNAWAY_FACTOR} times that of a uniform guess",
                format_loss(loss)
            ),
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epoch = self.epoch;
        match self.cause {
            Cause::NonFiniteLoss { step, .. } | Cause::NonFiniteWeight { step, .. } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: the {} is {}; lower the \
                 learning rate (or check the data for NaN or infinite values)",
                self.cause.name(),
                self.cause.value()
            ),
            Cause::RunAway { loss, start } => write!(
                f,
                "training diverged: the mean loss of epoch {epoch} is {}, more than \
                 {RUNAWAY_FACTOR} times the {start:.3} of a uniform guess; lower the learning rate",
                format_loss(loss)
            ),
        }
    }
}

/// A non-finite loss at step `step` (0-based) as a divergence.
pub(super) fn check_loss(loss_sum: f64, step: usize) -> Result<(), Cause> {
    if loss_sum.is_finite() {
        Ok(())
    } else {
        Err(Cause::NonFiniteLoss {
            step: step + 1,
            loss: loss_sum,
        })
    }
}

/// A non-finite weight or bias after step `step` (0-based) as a divergence.
pub(super) fn check_weights(weights: &[f32], bias: &[f32], step: usize) -> Result<(), Cause> {
    // A branch-free pass the compiler vectorises; the search below runs only
    // once training has diverged.
    let finite = |values: &[f32]| values.iter().fold(true, |ok, w| ok & w.is_finite());
    if finite(weights) && finite(bias) {
        return Ok(());
    }
    match weights.iter().chain(bias).find(|w| !w.is_finite()) {
        Some(&w) => Err(Cause::NonFiniteWeight {
            step: step + 1,
            weight: f64::from(w),
        }),
        None => Ok(()),
    }
}

/// An epoch's mean loss `loss` for a model of `classes` classes, as a
/// run-away divergence when it is more than [`RUNAWAY_FACTOR`] times the loss
/// of a uniform guess.
pub(super) fn check_run_away(loss: f64, classes: usize) -> Result<(), Cause> {
    let start = (classes as f64).ln().max(f64::MIN_POSITIVE);
    if loss > RUNAWAY_FACTOR * start {
        Err(Cause::RunAway { loss, start })
    } else {
        Ok(())
    }
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
