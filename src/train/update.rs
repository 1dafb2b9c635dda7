//! The update of one model after a minibatch: the chunks' gradient sums added
//! in chunk order, divided by the minibatch's rows and applied by the
//! optimizer's rule, with the loss and weights checked for divergence.
//!
//! The sum order is fixed by the chunks, never by the threads, so the update
//! computes the same bits whichever thread applies it.

use super::arith::Lanes;
use super::divergence::{Cause, check_loss, check_weights};
use super::optimizer::StepRule;
use crate::kernel::{ChunkSums, Isa};

/// A model's state as the update changes it: the weights, and the
/// optimizer's two per-weight buffers in the same layout (momentum, or
/// Adam's moments), absent for plain SGD.
#[derive(Clone)]
pub(super) struct Params<W> {
    pub weights: W,
    pub moments: Option<[W; 2]>,
}

/// A weight matrix and bias as flat slices, in the layout of the gradient sums.
pub(super) type Flat<'a> = (&'a mut [f32], &'a mut [f32]);

/// Adds the chunks' sums in chunk order, applies the mean gradient to the
/// weights `(w, b)` and their buffers `moments` (absent for plain SGD) by
/// `rule`, with `isa`'s instructions, and returns the minibatch's summed loss
/// and correct count. The weights are not touched when the loss is not
/// finite; `step` is the 0-based step of the epoch.
pub(super) fn reduce_and_apply(
    isa: Isa,
    (w, b): Flat<'_>,
    moments: Option<[Flat<'_>; 2]>,
    chunks: &[&ChunkSums],
    (rows, rule, step): (usize, StepRule, usize),
) -> Result<(f64, usize), Cause> {
    let loss_sum = chunks.iter().map(|p| p.loss_sum).sum();
    let correct = chunks.iter().map(|p| p.correct).sum();
    check_loss(loss_sum, step)?;
    let grad_weights: Vec<&[f32]> = chunks.iter().map(|p| &p.grad_weights[..]).collect();
    let grad_bias: Vec<&[f32]> = chunks.iter().map(|p| &p.grad_bias[..]).collect();
    let finite = match moments {
        None => {
            assert!(rule.is_plain_sgd(), "buffers for the optimizer");
            let scale = rule.lr() / rows as f32;
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
        Some([(first_w, first_b), (second_w, second_b)]) => {
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

/// Plain SGD, the tutorial's update: `v -= scale * (g_0 + g_1 + ...)` for every value, the chunks' gradients
/// `gradients` added in chunk order: one vectorised pass over the values and
/// the gradients, bit-identical to summing the gradients first and updating
/// after. Returns whether every updated value is finite. It is kept apart from
/// [`OptimizerUpdate`] because it folds `lr / rows` into one scale (the
/// rule divides first, then multiplies by `lr`): merging them would change
/// the tutorial's bits.
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
            rule.step_in_place(w, chunk_sum(gradients, offset + j) / rows as f32, m, v);
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
