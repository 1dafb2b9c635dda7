//! The SGD step and its guards: the chunks' sums added in chunk order, the
//! update applied, and a divergence (a non-finite loss or weight) detected.
//!
//! The sum order is fixed by the chunks, never by the threads, so every thread
//! applying [`reduce_and_apply`] to its own copy of the weights computes the
//! same bits.

use super::optimizer::{Lanes, Optimizer, StepRule};
use super::team::ChunkKernel;
use crate::kernel::ChunkSums;

/// What the update changes, as one thread holds it: the weights, and the
/// optimizer's two per-weight buffers in the same layout (momentum, or
/// Adam's moments), absent for plain SGD.
#[derive(Clone)]
pub(super) struct Params<W> {
    pub weights: W,
    pub moments: Option<[W; 2]>,
}

/// How this step updates: the optimizer, the learning rate, and the 1-based
/// number of the step in the whole run.
#[derive(Clone, Copy)]
pub(super) struct Update {
    pub optimizer: Optimizer,
    pub lr: f32,
    pub t: u64,
}

/// Where an epoch stopped: the 1-based step and the first non-finite value.
#[derive(Debug, Clone)]
pub(super) struct Divergence {
    /// The 1-based step of the epoch.
    pub step: usize,
    /// `loss` or `weight`.
    pub what: &'static str,
    /// The first non-finite value.
    pub value: f64,
}

/// The summed loss and correct count of an epoch's minibatches.
pub(super) type EpochSums = Result<(f64, usize), Divergence>;

/// Adds the chunks' sums in chunk order, applies the mean gradient to
/// `weights` and returns the minibatch's summed loss and correct count. The
/// weights are not touched when the loss is not finite.
pub(super) fn reduce_and_apply<K: ChunkKernel>(
    kernel: &K,
    params: &mut Params<K::Weights>,
    chunks: &[&ChunkSums],
    rows: usize,
    update: Update,
    step: usize,
) -> Result<(f64, usize), Divergence> {
    let loss_sum = chunks.iter().map(|p| p.loss_sum).sum();
    let correct = chunks.iter().map(|p| p.correct).sum();
    check_loss(loss_sum, step)?;
    let Params { weights, moments } = params;
    let isa = kernel.isa(weights);
    let (w, b) = K::params(weights);
    let grad_weights: Vec<&[f32]> = chunks.iter().map(|p| &p.grad_weights[..]).collect();
    let grad_bias: Vec<&[f32]> = chunks.iter().map(|p| &p.grad_bias[..]).collect();
    let finite = match moments {
        None => {
            assert!(update.optimizer.is_plain_sgd(), "buffers for the optimizer");
            let scale = update.lr / rows as f32;
            isa.dispatch(SgdUpdate {
                values: w,
                gradients: &grad_weights,
                scale,
            }) & isa.dispatch(SgdUpdate {
                values: b,
                gradients: &grad_bias,
                scale,
            })
        }
        Some([first, second]) => {
            let rule = StepRule::new(update.optimizer, update.lr, update.t);
            let ((first_w, first_b), (second_w, second_b)) = (K::params(first), K::params(second));
            isa.dispatch(OptimizerUpdate {
                values: w,
                gradients: &grad_weights,
                buffers: (first_w, second_w),
                rows,
                rule,
            }) & isa.dispatch(OptimizerUpdate {
                values: b,
                gradients: &grad_bias,
                buffers: (first_b, second_b),
                rows,
                rule,
            })
        }
    };
    if !finite {
        check_weights(w, b, step)?;
    }
    Ok((loss_sum, correct))
}

/// `v -= scale * (g_0 + g_1 + ...)` for every value, the chunks' gradients
/// `gradients` added in chunk order: one vectorised pass over the values and
/// the gradients, bit-identical to summing the gradients first and updating
/// after. Returns whether every updated value is finite.
struct SgdUpdate<'a> {
    values: &'a mut [f32],
    gradients: &'a [&'a [f32]],
    scale: f32,
}

impl pulp::WithSimd for SgdUpdate<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> bool {
        let Self {
            values,
            gradients,
            scale,
        } = self;
        assert!(gradients.iter().all(|g| g.len() == values.len()));
        let (vectors, tail) = S::as_mut_simd_f32s(values);
        // `v - v` is 0 for a finite `v` and NaN otherwise: summed, it says
        // whether all are finite without a branch per value.
        let mut nan_if_not_finite = simd.splat_f32s(0.0);
        for (i, v) in vectors.iter_mut().enumerate() {
            let g = chunk_sum_vector(simd, gradients, i);
            *v = simd.sub_f32s(*v, simd.mul_f32s(simd.splat_f32s(scale), g));
            nan_if_not_finite = simd.add_f32s(nan_if_not_finite, simd.sub_f32s(*v, *v));
        }
        let offset = vectors.len() * S::F32_LANES;
        for (j, v) in tail.iter_mut().enumerate() {
            *v -= scale * chunk_sum(gradients, offset + j);
        }
        simd.reduce_sum_f32s(nan_if_not_finite) == 0.0 && tail.iter().all(|v| v.is_finite())
    }
}

/// The update of an optimizer with buffers: for every value, the chunks'
/// gradients added in chunk order, divided by the minibatch's rows, then
/// [`StepRule::step`], one vector of values at a time (the scalar rule for the
/// values past the last whole vector; both round alike). Returns whether every
/// updated value is finite.
struct OptimizerUpdate<'a> {
    values: &'a mut [f32],
    gradients: &'a [&'a [f32]],
    buffers: (&'a mut [f32], &'a mut [f32]),
    rows: usize,
    rule: StepRule,
}

impl pulp::WithSimd for OptimizerUpdate<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> bool {
        let Self {
            values,
            gradients,
            buffers: (first, second),
            rows,
            rule,
        } = self;
        let (w_vectors, w_tail) = S::as_mut_simd_f32s(values);
        let (m_vectors, m_tail) = S::as_mut_simd_f32s(first);
        let (v_vectors, v_tail) = S::as_mut_simd_f32s(second);
        assert!(
            gradients
                .iter()
                .all(|g| g.len() == w_vectors.len() * S::F32_LANES + w_tail.len())
        );
        let lanes = |v| Lanes(simd, v);
        let rows_vector = simd.splat_f32s(rows as f32);
        let mut nan_if_not_finite = simd.splat_f32s(0.0);
        // A buffer the rule neither reads nor changes (SGD's second; its first
        // without momentum) is neither loaded nor stored: the update is
        // memory-bound when many models train together.
        let (first_used, second_used) = rule.buffers_used();
        let unused = simd.splat_f32s(0.0);
        let vectors = w_vectors.iter_mut().zip(m_vectors).zip(v_vectors);
        for (i, ((w, m), v)) in vectors.enumerate() {
            let mean = simd.div_f32s(chunk_sum_vector(simd, gradients, i), rows_vector);
            let m_in = if first_used { *m } else { unused };
            let v_in = if second_used { *v } else { unused };
            let (new_w, new_m, new_v) = rule.step(lanes(*w), lanes(mean), lanes(m_in), lanes(v_in));
            *w = new_w.1;
            if first_used {
                *m = new_m.1;
            }
            if second_used {
                *v = new_v.1;
            }
            nan_if_not_finite = simd.add_f32s(nan_if_not_finite, simd.sub_f32s(*w, *w));
        }
        let offset = w_vectors.len() * S::F32_LANES;
        let mut tail_finite = true;
        let tail = w_tail.iter_mut().zip(m_tail).zip(v_tail);
        for (j, ((w, m), v)) in tail.enumerate() {
            rule.apply(w, chunk_sum(gradients, offset + j) / rows as f32, m, v);
            tail_finite &= w.is_finite();
        }
        simd.reduce_sum_f32s(nan_if_not_finite) == 0.0 && tail_finite
    }
}

/// The chunks' gradient vectors `i` added in chunk order.
#[inline(always)]
fn chunk_sum_vector<S: pulp::Simd>(simd: S, gradients: &[&[f32]], i: usize) -> S::f32s {
    let vector = |g: &[f32]| S::as_simd_f32s(g).0[i];
    gradients[1..]
        .iter()
        .fold(vector(gradients[0]), |sum, g| simd.add_f32s(sum, vector(g)))
}

/// The chunks' gradients at `j` added in chunk order.
#[inline(always)]
fn chunk_sum(gradients: &[&[f32]], j: usize) -> f32 {
    gradients[1..]
        .iter()
        .fold(gradients[0][j], |sum, g| sum + g[j])
}

/// A non-finite loss at step `step` (0-based) as a divergence.
pub(super) fn check_loss(loss_sum: f64, step: usize) -> Result<(), Divergence> {
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
pub(super) fn check_weights(weights: &[f32], bias: &[f32], step: usize) -> Result<(), Divergence> {
    // A branch-free pass the compiler vectorises; the search below runs only
    // once training has diverged.
    let finite = |values: &[f32]| values.iter().fold(true, |ok, w| ok & w.is_finite());
    if finite(weights) && finite(bias) {
        return Ok(());
    }
    match weights.iter().chain(bias).find(|w| !w.is_finite()) {
        Some(&w) => Err(Divergence {
            step: step + 1,
            what: "weight",
            value: f64::from(w),
        }),
        None => Ok(()),
    }
}

/// `w -= step(g)` for every weight and bias.
pub(super) fn sgd_step<G: Copy>(
    (weights, bias): (&mut [f32], &mut [f32]),
    grad_weights: &[G],
    grad_bias: &[G],
    step: impl Fn(G) -> f32,
) {
    for (w, &g) in weights.iter_mut().zip(grad_weights) {
        *w -= step(g);
    }
    for (b, &g) in bias.iter_mut().zip(grad_bias) {
        *b -= step(g);
    }
}
