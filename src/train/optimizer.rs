//! How a minibatch's mean gradient becomes a step, with the semantics of
//! PyTorch's `torch.optim.SGD` (momentum, Nesterov, weight decay) and
//! `torch.optim.Adam` (bias-corrected, L2 weight decay), applied to weight and
//! bias alike as PyTorch does for the parameters of `nn.Linear`.
//!
//! ```
//! use softreg::train::Optimizer;
//! let adam = Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
//! assert_eq!(adam.buffers(), 2);
//! assert!(Optimizer::default().is_plain_sgd());
//! ```

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
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl Optimizer {
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

    /// How many values of state each weight carries: 0 for plain SGD, 1 (the
    /// momentum buffer) with momentum, 2 (first and second moments) for Adam.
    pub fn buffers(&self) -> usize {
        match *self {
            Optimizer::Sgd { momentum, .. } if momentum != 0.0 => 1,
            Optimizer::Sgd { .. } => 0,
            Optimizer::Adam { .. } => 2,
        }
    }

    /// Refuses settings PyTorch refuses, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        let finite_at_least_zero = |name: &str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a finite number >= 0, got {v}"))
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
                    return Err("Nesterov momentum needs a momentum above 0".into());
                }
                Ok(())
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&beta) {
                        return Err(format!("{name} must be in [0, 1), got {beta}"));
                    }
                }
                finite_at_least_zero("eps", eps)?;
                finite_at_least_zero("weight decay", weight_decay)
            }
        }
    }

    /// The settings as (name, value) pairs, for a model's metadata.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => vec![
                ("optimizer", "sgd".into()),
                ("momentum", momentum.to_string()),
                ("nesterov", nesterov.to_string()),
                ("weight_decay", weight_decay.to_string()),
            ],
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => vec![
                ("optimizer", "adam".into()),
                ("beta1", beta1.to_string()),
                ("beta2", beta2.to_string()),
                ("eps", eps.to_string()),
                ("weight_decay", weight_decay.to_string()),
            ],
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
            Optimizer::Sgd { .. } => (lr, 1.0),
        };
        Self {
            optimizer,
            lr,
            t,
            step_size,
            root_correction,
        }
    }

    /// Updates one value `w` with its mean gradient `g` and its buffers, as
    /// PyTorch's single-tensor implementations do.
    #[inline(always)]
    pub fn apply(&self, w: &mut f32, g: f32, first: &mut f32, second: &mut f32) {
        match self.optimizer {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let mut d = g + weight_decay * *w;
                if momentum != 0.0 {
                    *first = if self.t == 1 {
                        d
                    } else {
                        momentum * *first + d
                    };
                    d = if nesterov {
                        d + momentum * *first
                    } else {
                        *first
                    };
                }
                *w -= self.lr * d;
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let d = g + weight_decay * *w;
                // `exp_avg.lerp_(grad, 1 - beta1)`, and the second moment.
                *first += (1.0 - beta1) * (d - *first);
                *second = beta2 * *second + (1.0 - beta2) * d * d;
                let denom = second.sqrt() / self.root_correction + eps;
                *w -= self.step_size * (*first / denom);
            }
        }
    }
}
