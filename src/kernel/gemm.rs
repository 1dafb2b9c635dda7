//! The unfused baseline: the textbook three steps on `matrixmultiply::sgemm`.
//!
//! For each block of rows: gather the rows into a matrix `X`, compute
//! `Z = X Wᵀ` with one GEMM, run a separate softmax / loss / gradient-of-logits
//! pass over `Z`, then accumulate `dW += Gᵀ X` with a second GEMM. Each block's
//! rows are thus read three times (gather, two GEMMs) and the logits twice: the
//! honest "BLAS" comparison for the fused kernel.

use std::ops::Range;

use matrixmultiply::sgemm;

use super::Partial;
use crate::data::Images;
use crate::model::Model;

/// Rows per GEMM: enough for matrixmultiply's packing to pay off.
pub const GEMM_ROWS: usize = 64;

/// [`super::step`] computed the unfused way: the same sums into `partial`.
pub fn step(model: &Model, images: &Images, labels: &[u8], rows: &[usize], partial: &mut Partial) {
    let (features, classes) = (model.features, model.classes);
    partial.reset();
    for block in rows.chunks(GEMM_ROWS) {
        let n = block.len();
        gather(images, block.iter().copied(), &mut partial.rows_f32);
        logits(model, n, &partial.rows_f32, &mut partial.logits);
        for (k, &r) in block.iter().enumerate() {
            let span = k * classes..(k + 1) * classes;
            let label = usize::from(labels[r]);
            let grad = &mut partial.grad_logits[span.clone()];
            let (loss, correct) = softmax_cross_entropy(&partial.logits[span], label, Some(grad));
            partial.loss_sum += f64::from(loss);
            partial.correct += usize::from(correct);
            for (db, &g) in partial.grad_bias.iter_mut().zip(grad.iter()) {
                *db += g;
            }
        }
        let x = &partial.rows_f32[..n * features];
        let g = &partial.grad_logits[..n * classes];
        assert_eq!(partial.grad_weights.len(), classes * features);
        // SAFETY: dW ← 1·Gᵀ X + 1·dW with Gᵀ (classes x n) read from `g` (n x classes,
        // row stride `classes`), X (n x features) from `x`, dW (classes x
        // features) in `grad_weights`; the lengths above cover every index the
        // strides reach, and dW's strides do not alias.
        unsafe {
            sgemm(
                classes,
                n,
                features,
                1.0,
                g.as_ptr(),
                1,
                classes as isize,
                x.as_ptr(),
                features as isize,
                1,
                1.0,
                partial.grad_weights.as_mut_ptr(),
                features as isize,
                1,
            );
        }
    }
}

/// [`super::loss_and_correct`] computed the unfused way.
pub fn loss_and_correct(
    model: &Model,
    images: &Images,
    labels: &[u8],
    rows: Range<usize>,
) -> (f64, usize) {
    let classes = model.classes;
    let mut x = vec![0.0; GEMM_ROWS * model.features];
    let mut z = vec![0.0; GEMM_ROWS * classes];
    let (mut loss_sum, mut correct) = (0.0, 0);
    for start in rows.clone().step_by(GEMM_ROWS) {
        let block = start..(start + GEMM_ROWS).min(rows.end);
        gather(images, block.clone(), &mut x);
        logits(model, block.len(), &x, &mut z);
        for (k, r) in block.enumerate() {
            let label = usize::from(labels[r]);
            let (loss, is_correct) =
                softmax_cross_entropy(&z[k * classes..(k + 1) * classes], label, None);
            loss_sum += f64::from(loss);
            correct += usize::from(is_correct);
        }
    }
    (loss_sum, correct)
}

/// Copies the rows into consecutive rows of `x` as f32.
fn gather(images: &Images, rows: impl Iterator<Item = usize>, x: &mut [f32]) {
    let features = images.features();
    for (dst, r) in x.chunks_exact_mut(features).zip(rows) {
        images.row(r).write_f32(dst);
    }
}

/// `z = X Wᵀ + b` for the first `n` rows of `x`.
fn logits(model: &Model, n: usize, x: &[f32], z: &mut [f32]) {
    let (features, classes) = (model.features, model.classes);
    assert!(x.len() >= n * features && z.len() >= n * classes);
    assert_eq!(model.weights.len(), classes * features);
    // SAFETY: Z ← 1·X Wᵀ + 0·Z with X (n x features, row stride `features`), Wᵀ
    // (features x classes) read from W (classes x features, row stride
    // `features`), Z (n x classes) written; the asserts above cover every index
    // the strides reach, and Z's strides do not alias.
    unsafe {
        sgemm(
            n,
            features,
            classes,
            1.0,
            x.as_ptr(),
            features as isize,
            1,
            model.weights.as_ptr(),
            1,
            features as isize,
            0.0,
            z.as_mut_ptr(),
            classes as isize,
            1,
        );
    }
    for row in z[..n * classes].chunks_exact_mut(classes) {
        for (zc, &b) in row.iter_mut().zip(&model.bias) {
            *zc += b;
        }
    }
}

/// The plain softmax pass for one row of logits: the loss, whether the first
/// largest logit is the label's, and (with `grad`) `softmax(z) - onehot(label)`.
fn softmax_cross_entropy(z: &[f32], label: usize, grad: Option<&mut [f32]>) -> (f32, bool) {
    let mut best = 0;
    for (c, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = c;
        }
    }
    let max = z[best];
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    let loss = if z.iter().any(|v| v.is_nan()) {
        f32::NAN
    } else {
        max - z[label] + sum.ln()
    };
    if let Some(grad) = grad {
        for (g, &v) in grad.iter_mut().zip(z) {
            *g = (v - max).exp() / sum;
        }
        grad[label] -= 1.0;
    }
    (loss, best == label)
}
