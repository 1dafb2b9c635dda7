//! How a minibatch's mean gradient becomes a step, with the semantics of
//! PyTorch's `torch.optim.SGD` (momentum, Nesterov, weight decay),
//! `torch.optim.Adam` (bias-corrected, L2 weight decay) and
//! `torch.optim.RMSprop` (momentum, weight decay; not centered), applied to
//! weight and bias alike as PyTorch does for the parameters of `nn.Linear`.
//!
//! An optimizer is written as a spec, its name and the settings that differ
//! from PyTorch's defaults: `sgd`, `sgd:momentum=0.9,nesterov`,
//! `adam:beta1=0.8,weight_decay=1e-4` (`optimizer_spec.rs`). Its
//! settings are named once, here ([`Optimizer::params`]); a sweep's grid, the
//! command line, reports, model files and checkpoints all go through them.
//! Adding an optimizer is a variant and its arms in this file: its name and
//! defaults, its settings, their checks, and its update rule (the step, on
//! one value or one vector of them, [`super::arith`]). That is why the file
//! is longer than most: it is every optimizer, each read in one place.
//!
//! ```
//! use softreg::train::Optimizer;
//! let adam: Optimizer = "adam".parse().unwrap();
//! assert_eq!(adam, Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 });
//! let sgd: Optimizer = "sgd:momentum=0.9,nesterov".parse().unwrap();
//! assert_eq!(sgd.to_string(), "sgd:momentum=0.9,nesterov");
//! assert!(Optimizer::default().is_plain_sgd());
//! ```

use thiserror::Error;

use super::arith::Arith;

/// Optimizer settings PyTorch would refuse, or a spec that names none.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimizerError {
    /// A momentum, epsilon or weight decay below 0 or not finite.
    #[error("{setting} must be a finite number >= 0, got {value}")]
    Negative { setting: &'static str, value: f32 },
    /// Nesterov momentum asked for with no momentum.
    #[error("Nesterov momentum needs a momentum above 0")]
    NesterovWithoutMomentum,
    /// A moment decay outside `[0, 1)`.
    #[error("{setting} must be in [0, 1), got {value}")]
    Beta { setting: &'static str, value: f32 },
    /// Adam's epsilon at 0: a weight whose gradient has always been 0 (a
    /// pixel blank in every image) would be updated by 0 / 0.
    #[error(
        "eps must be above 0: Adam divides by sqrt(v) + eps, and v is 0 for a weight whose \
         gradient has been 0 so far (a feature that is 0 in every sample), which makes 0 / 0; \
         PyTorch's default is 1e-8"
    )]
    ZeroEps,
    /// A name no optimizer has.
    #[error("no optimizer is called {0:?}: the optimizers are {names}", names = Optimizer::names())]
    Unknown(String),
    /// A setting the optimizer does not have.
    #[error("{optimizer} has no setting {key:?}: its settings are {known}")]
    UnknownSetting {
        optimizer: &'static str,
        key: String,
        known: String,
    },
    /// A value that is not of the setting's kind.
    #[error("{key}={value:?}: {wanted}")]
    BadValue {
        key: String,
        value: String,
        wanted: &'static str,
    },
}

/// An optimizer and its settings; the learning rate is the run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// `torch.optim.SGD(params, lr, momentum, weight_decay=weight_decay,
    /// nesterov=nesterov)` (no dampening).
    Sgd {
        /// Momentum factor; 0 for plain SGD.
        momentum: f32,
        /// Nesterov momentum (needs `momentum > 0`).
        nesterov: bool,
        /// L2 penalty added to the gradient: `g + weight_decay * w`.
        weight_decay: f32,
    },
    /// `torch.optim.Adam(params, lr, betas=(beta1, beta2), eps=eps,
    /// weight_decay=weight_decay)`.
    Adam {
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the bias-corrected root of the second moment.
        eps: f32,
        /// L2 penalty added to the gradient: `g + weight_decay * w`.
        weight_decay: f32,
    },
    /// `torch.optim.RMSprop(params, lr, alpha=alpha, eps=eps,
    /// weight_decay=weight_decay, momentum=momentum)` (not centered).
    Rmsprop {
        /// Decay of the running mean of squared gradients.
        alpha: f32,
        /// Added to the root of that mean.
        eps: f32,
        /// L2 penalty added to the gradient: `g + weight_decay * w`.
        weight_decay: f32,
        /// Momentum factor of the step; 0 for none.
        momentum: f32,
    },
}

/// The value of one optimizer setting: a number, or a switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param {
    /// A number (`momentum=0.9`).
    Number(f32),
    /// A switch, on when named (`nesterov`).
    Switch(bool),
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Number(v) => write!(f, "{v}"),
            Param::Switch(on) => write!(f, "{on}"),
        }
    }
}

impl Default for Optimizer {
    /// Plain SGD.
    fn default() -> Self {
        Self::ALL[0]
    }
}

impl Optimizer {
    /// Every optimizer with PyTorch's defaults, by the name a spec gives it.
    pub const ALL: [Optimizer; 3] = [
        Optimizer::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        Optimizer::Rmsprop {
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
        },
    ];

    /// The name a spec and `--optimizer` give it: `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
            Optimizer::Rmsprop { .. } => "rmsprop",
        }
    }

    /// Its settings by name, in order: what a spec, a model file, a
    /// checkpoint and a report name.
    pub fn params(&self) -> Vec<(&'static str, Param)> {
        use Param::{Number, Switch};
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => vec![
                ("momentum", Number(momentum)),
                ("nesterov", Switch(nesterov)),
                ("weight_decay", Number(weight_decay)),
            ],
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => vec![
                ("beta1", Number(beta1)),
                ("beta2", Number(beta2)),
                ("eps", Number(eps)),
                ("weight_decay", Number(weight_decay)),
            ],
            Optimizer::Rmsprop {
                alpha,
                eps,
                weight_decay,
                momentum,
            } => vec![
                ("alpha", Number(alpha)),
                ("eps", Number(eps)),
                ("weight_decay", Number(weight_decay)),
                ("momentum", Number(momentum)),
            ],
        }
    }

    /// The optimizer with setting `key` set to `value`, or why not: a
    /// setting it does not have, or a value of the wrong kind.
    pub fn with(mut self, key: &str, value: Param) -> Result<Self, OptimizerError> {
        let bad = |wanted| OptimizerError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            wanted,
        };
        let number = |value| match value {
            Param::Number(v) => Ok(v),
            Param::Switch(_) => Err(bad("a number")),
        };
        let switch = |value| match value {
            Param::Switch(on) => Ok(on),
            Param::Number(_) => Err(bad("a switch, named alone")),
        };
        match (&mut self, key) {
            (Optimizer::Sgd { momentum, .. }, "momentum") => *momentum = number(value)?,
            (Optimizer::Sgd { nesterov, .. }, "nesterov") => *nesterov = switch(value)?,
            (Optimizer::Adam { beta1, .. }, "beta1") => *beta1 = number(value)?,
            (Optimizer::Adam { beta2, .. }, "beta2") => *beta2 = number(value)?,
            (Optimizer::Adam { eps, .. } | Optimizer::Rmsprop { eps, .. }, "eps") => {
                *eps = number(value)?;
            }
            (Optimizer::Rmsprop { alpha, .. }, "alpha") => *alpha = number(value)?,
            (Optimizer::Rmsprop { momentum, .. }, "momentum") => *momentum = number(value)?,
            (
                Optimizer::Sgd { weight_decay, .. }
                | Optimizer::Adam { weight_decay, .. }
                | Optimizer::Rmsprop { weight_decay, .. },
                "weight_decay",
            ) => *weight_decay = number(value)?,
            _ => {
                let known: Vec<&str> = self.params().iter().map(|&(k, _)| k).collect();
                return Err(OptimizerError::UnknownSetting {
                    optimizer: self.name(),
                    key: key.to_string(),
                    known: known.join(", "),
                });
            }
        }
        Ok(self)
    }

    /// The optimizer as one combination of a grid: Nesterov momentum only
    /// where there is momentum (a sweep's `--nesterov` applies to its
    /// momenta above 0).
    pub fn in_grid(self) -> Self {
        match self {
            Optimizer::Sgd {
                momentum: 0.0,
                weight_decay,
                ..
            } => Optimizer::Sgd {
                momentum: 0.0,
                nesterov: false,
                weight_decay,
            },
            other => other,
        }
    }

    /// Plain SGD (no momentum, no weight decay): the update `w -= (lr / n) *
    /// sum of gradients`, which needs no buffers.
    pub fn is_plain_sgd(&self) -> bool {
        matches!(
            self,
            Optimizer::Sgd {
                momentum: 0.0,
                weight_decay: 0.0,
                ..
            }
        )
    }

    /// Refuses settings PyTorch refuses, naming the setting.
    pub fn check(&self) -> Result<(), OptimizerError> {
        let finite_at_least_zero = |setting: &'static str, value: f32| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(OptimizerError::Negative { setting, value })
            }
        };
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                finite_at_least_zero("momentum", momentum)?;
                finite_at_least_zero("weight decay", weight_decay)?;
                if nesterov && momentum == 0.0 {
                    return Err(OptimizerError::NesterovWithoutMomentum);
                }
                Ok(())
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                for (setting, value) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&value) {
                        return Err(OptimizerError::Beta { setting, value });
                    }
                }
                finite_at_least_zero("eps", eps)?;
                if eps == 0.0 {
                    return Err(OptimizerError::ZeroEps);
                }
                finite_at_least_zero("weight decay", weight_decay)
            }
            Optimizer::Rmsprop {
                alpha,
                eps,
                weight_decay,
                momentum,
            } => {
                finite_at_least_zero("alpha", alpha)?;
                finite_at_least_zero("eps", eps)?;
                if eps == 0.0 {
                    return Err(OptimizerError::ZeroEps);
                }
                finite_at_least_zero("momentum", momentum)?;
                finite_at_least_zero("weight decay", weight_decay)
            }
        }
    }
}

/// What every weight's update in one step shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct StepRule {
    optimizer: Optimizer,
    lr: f32,
    /// 1-based number of this update in the whole run.
    t: u64,
    /// Adam's `lr / (1 - beta1^t)` and `sqrt(1 - beta2^t)`.
    step_size: f32,
    root_correction: f32,
}

impl StepRule {
    /// The rule of update number `t` (1-based) with learning rate `lr`.
    pub fn new(optimizer: Optimizer, lr: f32, t: u64) -> Self {
        let (step_size, root_correction) = match optimizer {
            Optimizer::Adam { beta1, beta2, .. } => {
                let power = |beta: f32| beta.powi(t.min(i32::MAX as u64) as i32);
                (lr / (1.0 - power(beta1)), (1.0 - power(beta2)).sqrt())
            }
            Optimizer::Sgd { .. } | Optimizer::Rmsprop { .. } => (lr, 1.0),
        };
        Self {
            optimizer,
            lr,
            t,
            step_size,
            root_correction,
        }
    }

    /// Whether the rule reads and changes its first and its second buffer:
    /// both for Adam, the first (momentum) for SGD with momentum, none for
    /// SGD without. An unused buffer passes through [`StepRule::step`]
    /// unchanged and does not affect the new value.
    pub fn buffers_used(&self) -> (bool, bool) {
        match self.optimizer {
            Optimizer::Sgd { momentum, .. } => (momentum != 0.0, false),
            Optimizer::Adam { .. } => (true, true),
            Optimizer::Rmsprop { momentum, .. } => (momentum != 0.0, true),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Whether the rule is plain SGD, which needs no buffers.
    pub fn is_plain_sgd(&self) -> bool {
        self.optimizer.is_plain_sgd()
    }

    /// Updates one value `w` with its mean gradient `g` and its buffers, as
    /// PyTorch's single-tensor implementations do.
    #[inline(always)]
    pub fn step_in_place(&self, w: &mut f32, g: f32, first: &mut f32, second: &mut f32) {
        (*w, *first, *second) = self.step(*w, g, *first, *second);
    }

    /// The rule on one value or one vector of values ([`Arith`]): the new
    /// value and buffers. Written once, so the vectorised update and the
    /// scalar one compute the same bits.
    #[inline(always)]
    pub fn step<T: Arith>(&self, w: T, g: T, first: T, second: T) -> (T, T, T) {
        let c = |v: f32| w.splat(v);
        match self.optimizer {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let mut d = g.add(c(weight_decay).mul(w));
                let mut buffer = first;
                if momentum != 0.0 {
                    buffer = if self.t == 1 {
                        d
                    } else {
                        c(momentum).mul(first).add(d)
                    };
                    d = if nesterov {
                        d.add(c(momentum).mul(buffer))
                    } else {
                        buffer
                    };
                }
                (w.sub(c(self.lr).mul(d)), buffer, second)
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let d = g.add(c(weight_decay).mul(w));
                // `exp_avg.lerp_(grad, 1 - beta1)`, and the second moment.
                let m = first.add(c(1.0 - beta1).mul(d.sub(first)));
                let v = c(beta2).mul(second).add(c(1.0 - beta2).mul(d).mul(d));
                let denom = v.sqrt().div(c(self.root_correction)).add(c(eps));
                (w.sub(c(self.step_size).mul(m.div(denom))), m, v)
            }
            Optimizer::Rmsprop {
                alpha,
                eps,
                weight_decay,
                momentum,
            } => {
                let d = g.add(c(weight_decay).mul(w));
                // `square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)`.
                let v = c(alpha).mul(second).add(c(1.0 - alpha).mul(d).mul(d));
                let step = d.div(v.sqrt().add(c(eps)));
                if momentum != 0.0 {
                    let buffer = c(momentum).mul(first).add(step);
                    (w.sub(c(self.lr).mul(buffer)), buffer, v)
                } else {
                    (w.sub(c(self.lr).mul(step)), first, v)
                }
            }
        }
    }
}
