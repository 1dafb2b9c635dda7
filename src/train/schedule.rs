//! Learning-rate schedules with PyTorch's semantics, stepped once per epoch
//! as PyTorch's loop steps them (`scheduler.step()` after each epoch's
//! minibatches): epoch 1 trains with the rate at `last_epoch` 0, epoch `e`
//! with the rate at `last_epoch` `e − 1`.
//!
//! Each rate is computed as `torch.optim.lr_scheduler` computes it, in f64
//! and recursively from the previous epoch's rate (the "chainable" form of
//! `get_lr`, which differs from the closed form in the last bits), then
//! rounded to f32 for the update, as PyTorch rounds a Python-float learning
//! rate when it steps f32 parameters.
//!
//! ```
//! use softreg::train::Schedule;
//!
//! let step: Schedule = "step:2,0.5".parse()?;
//! assert_eq!(step.rate(0.1, 1), 0.1);
//! assert_eq!(step.rate(0.1, 3), 0.05);
//! # Ok::<(), softreg::train::ScheduleError>(())
//! ```

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// How the learning rate changes from epoch to epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// The same rate every epoch.
    #[default]
    Constant,
    /// `StepLR(step_size, gamma)`: multiplied by `gamma` every `step_size`
    /// epochs.
    Step { step_size: usize, gamma: f64 },
    /// `CosineAnnealingLR(T_max, eta_min)`: from the base rate down to
    /// `eta_min` along half a cosine over `t_max` epochs (and back up after).
    Cosine { t_max: usize, eta_min: f64 },
    /// `LinearLR(start_factor, end_factor, total_iters)`: a linear warm-up
    /// from `start` to `end` times the base rate over `iters` epochs.
    Linear { start: f64, end: f64, iters: usize },
}

impl Schedule {
    /// The rate epoch `epoch` (1-based) trains with, from the base rate
    /// `base`. The constant schedule gives `base` itself, to the bit.
    /// (Each call replays the epochs before; a training loop steps
    /// [`Rates`] instead.)
    pub fn rate(self, base: f32, epoch: usize) -> f32 {
        let mut rates = Rates::new(self, base);
        (1..epoch).for_each(|_| {
            rates.next_rate();
        });
        rates.next_rate()
    }

    /// PyTorch's chainable `get_lr` at `last_epoch` `k`, from the rate `lr`
    /// at `k − 1` (at `k` 0, `lr` is the base rate).
    fn next(self, base: f64, lr: f64, k: usize) -> f64 {
        match self {
            Schedule::Constant => lr,
            Schedule::Step { step_size, gamma } => {
                if k == 0 || !k.is_multiple_of(step_size) {
                    lr
                } else {
                    lr * gamma
                }
            }
            Schedule::Cosine { t_max, eta_min } => {
                let (k, t) = (k as f64, t_max as f64);
                if k == 0.0 {
                    lr
                } else if (k as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
                    lr + (base - eta_min) * (1.0 - (PI / t).cos()) / 2.0
                } else {
                    (1.0 + (PI * k / t).cos()) / (1.0 + (PI * (k - 1.0) / t).cos()) * (lr - eta_min)
                        + eta_min
                }
            }
            Schedule::Linear { start, end, iters } => {
                if k == 0 {
                    lr * start
                } else if k > iters {
                    lr
                } else {
                    let (k, n) = (k as f64, iters as f64);
                    lr * (1.0 + (end - start) / (n * start + (k - 1.0) * (end - start)))
                }
            }
        }
    }

    /// The settings for a model's metadata and the run header.
    pub fn settings(self) -> Vec<(&'static str, String)> {
        match self {
            Schedule::Constant => Vec::new(),
            _ => vec![("schedule", self.to_string())],
        }
    }
}

/// A schedule's rates epoch after epoch, each computed from the one before,
/// as a training loop steps its scheduler.
#[derive(Debug, Clone)]
pub struct Rates {
    schedule: Schedule,
    base: f32,
    /// The rate of the last epoch returned, in f64.
    lr: f64,
    /// Epochs returned so far (PyTorch's `last_epoch` of the next one).
    epochs: usize,
}

impl Rates {
    /// The rates of `schedule` from the base rate `base`.
    pub fn new(schedule: Schedule, base: f32) -> Self {
        Self {
            schedule,
            base,
            lr: f64::from(base),
            epochs: 0,
        }
    }

    /// The next epoch's rate. The constant schedule gives `base` itself,
    /// to the bit.
    pub fn next_rate(&mut self) -> f32 {
        let k = self.epochs;
        self.epochs += 1;
        if self.schedule == Schedule::Constant {
            return self.base;
        }
        self.lr = self.schedule.next(f64::from(self.base), self.lr, k);
        self.lr as f32
    }
}

impl fmt::Display for Schedule {
    /// As `--schedule` takes it: `constant`, `step:30,0.1`, `cosine:50,0`,
    /// `linear:0.25,1,5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Step { step_size, gamma } => write!(f, "step:{step_size},{gamma}"),
            Schedule::Cosine { t_max, eta_min } => write!(f, "cosine:{t_max},{eta_min}"),
            Schedule::Linear { start, end, iters } => write!(f, "linear:{start},{end},{iters}"),
        }
    }
}

/// A `--schedule` that is not one of the forms.
#[derive(Debug, Error, PartialEq)]
#[error(
    "schedule {0:?}: expected constant, step:STEP_SIZE,GAMMA (StepLR), cosine:T_MAX[,ETA_MIN] \
     (CosineAnnealingLR) or linear:START,END,ITERS (LinearLR), with sizes of at least 1, \
     GAMMA and ETA_MIN finite and at least 0, START and END in (0, 1]"
)]
pub struct ScheduleError(pub String);

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let fail = || ScheduleError(text.to_string());
        let (name, args) = text.split_once(':').unwrap_or((text, ""));
        let numbers: Vec<&str> = if args.is_empty() {
            Vec::new()
        } else {
            args.split(',').collect()
        };
        let size = |s: &str| s.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(fail);
        let at_least_zero = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(fail)
        };
        let factor = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && *v <= 1.0)
                .ok_or_else(fail)
        };
        match (name, numbers.as_slice()) {
            ("constant", []) => Ok(Schedule::Constant),
            ("step", [s, g]) => Ok(Schedule::Step {
                step_size: size(s)?,
                gamma: at_least_zero(g)?,
            }),
            ("cosine", [t]) => Ok(Schedule::Cosine {
                t_max: size(t)?,
                eta_min: 0.0,
            }),
            ("cosine", [t, e]) => Ok(Schedule::Cosine {
                t_max: size(t)?,
                eta_min: at_least_zero(e)?,
            }),
            ("linear", [s, e, n]) => Ok(Schedule::Linear {
                start: factor(s)?,
                end: factor(e)?,
                iters: size(n)?,
            }),
            _ => Err(fail()),
        }
    }
}
