//! How a minibatch's mean gradient becomes a step, with the semantics of
//! PyTorch's `torch.optim.SGD` (momentum, Nesterov, weight decay) and
//! `torch.optim.Adam` (bias-corrected, L2 weight decay), applied to weight and
//! bias alike as PyTorch does for the parameters of `nn.Linear`.
//!
//! ```
//! use softreg::train::Optimizer;
//! let adam = Optimizer::adam(0.0);
//! assert_eq!(adam, Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 });
//! assert!(Optimizer::default().is_plain_sgd());
//! ```

use thiserror::Error;

/// Optimizer settings PyTorch would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
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

    /// PyTorch's defaults for Adam's moment decays and epsilon: `(beta1,
    /// beta2, eps)`.
    pub const ADAM_DEFAULTS: (f32, f32, f32) = (0.9, 0.999, 1e-8);

    /// `torch.optim.Adam` with its default betas and epsilon.
    pub fn adam(weight_decay: f32) -> Self {
        let (beta1, beta2, eps) = Self::ADAM_DEFAULTS;
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
        }
    }

    /// The name `--optimizer` takes: `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
        }
    }

    /// The momentum factor, for an optimizer that has one (SGD).
    pub fn momentum(&self) -> Option<f32> {
        match *self {
            Optimizer::Sgd { momentum, .. } => Some(momentum),
            Optimizer::Adam { .. } => None,
        }
    }

    /// Whether the momentum is Nesterov's.
    pub fn nesterov(&self) -> bool {
        matches!(self, Optimizer::Sgd { nesterov: true, .. })
    }

    /// The L2 weight decay.
    pub fn weight_decay(&self) -> f32 {
        match *self {
            Optimizer::Sgd { weight_decay, .. } | Optimizer::Adam { weight_decay, .. } => {
                weight_decay
            }
        }
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

    /// Whether the rule reads and changes its first and its second buffer:
    /// both for Adam, the first (momentum) for SGD with momentum, none for
    /// SGD without. An unused buffer passes through [`StepRule::step`]
    /// unchanged and does not affect the new value.
    pub fn buffers_used(&self) -> (bool, bool) {
        match self.optimizer {
            Optimizer::Sgd { momentum, .. } => (momentum != 0.0, false),
            Optimizer::Adam { .. } => (true, true),
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
        }
    }
}

/// The arithmetic an update rule needs, on one f32 or on one vector of them
/// (each operation rounded once, no fused multiply-add, so both agree).
pub(super) trait Arith: Copy {
    /// `v` in every lane.
    fn splat(self, v: f32) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
    fn sqrt(self) -> Self;
}

impl Arith for f32 {
    fn splat(self, v: f32) -> f32 {
        v
    }
    fn add(self, other: f32) -> f32 {
        self + other
    }
    fn sub(self, other: f32) -> f32 {
        self - other
    }
    fn mul(self, other: f32) -> f32 {
        self * other
    }
    fn div(self, other: f32) -> f32 {
        self / other
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
}

/// A vector of one instruction set, with the token to compute on it.
#[derive(Clone, Copy)]
pub(super) struct Lanes<S: pulp::Simd>(pub S, pub S::f32s);

impl<S: pulp::Simd> Arith for Lanes<S> {
    #[inline(always)]
    fn splat(self, v: f32) -> Self {
        Lanes(self.0, self.0.splat_f32s(v))
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Lanes(self.0, self.0.add_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        Lanes(self.0, self.0.sub_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Lanes(self.0, self.0.mul_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn div(self, other: Self) -> Self {
        Lanes(self.0, self.0.div_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Lanes(self.0, self.0.sqrt_f32s(self.1))
    }
}
