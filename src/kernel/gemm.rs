//! The unfused baseline: the textbook three steps on `matrixmultiply::sgemm`.
//!
//! For each block of rows: gather the rows into a matrix `X`, compute
//! `Z = X Wᵀ` with one GEMM, run a separate softmax / loss / gradient-of-logits
//! pass over `Z`, then accumulate `dW += Gᵀ X` with a second GEMM. Each block's
//! rows are thus read three times (gather, two GEMMs) and the logits twice: the
//! honest "BLAS" comparison for the fused kernel. The softmax pass is the fused
//! kernel's own ([`super::softmax`], vectorised), so the two differ only in
//! fusion.

use crate::data::Label;
use std::ops::Range;

use matrixmultiply::sgemm;
use pulp::{Simd, WithSimd};

use super::blocking::{BLOCK_ROWS, GEMM_ROWS, in_lanes_len};
use super::{ChunkSums, Isa, softmax};
use crate::data::Images;
use crate::model::Model;

/// The GEMM baseline's working space for one thread: a block's rows as f32,
/// their logits and gradient, the softmax's exponentials and a row block's
/// logits and gradient with rows in lanes, as the softmax takes them.
#[derive(Debug, Clone)]
pub struct GemmScratch {
    rows_f32: Vec<f32>,
    logits: Vec<f32>,
    grad_logits: Vec<f32>,
    exps: Vec<f32>,
    in_lanes: (Vec<f32>, Vec<f32>),
}

impl GemmScratch {
    /// Working space for a model of this shape, for blocks of at most
    /// `rows` rows (sized by what a chunk holds, never more than [`GEMM_ROWS`]).
    pub fn new(features: usize, classes: usize, rows: usize) -> Self {
        let rows = rows.clamp(1, GEMM_ROWS);
        Self {
            rows_f32: vec![0.0; rows * features],
            logits: vec![0.0; rows * classes],
            grad_logits: vec![0.0; rows * classes],
            exps: vec![0.0; in_lanes_len(classes)],
            in_lanes: (
                vec![0.0; in_lanes_len(classes)],
                vec![0.0; in_lanes_len(classes)],
            ),
        }
    }
}

/// [`super::step`] computed the unfused way, its softmax pass compiled for
/// `isa`: the same sums into `sums` (the gradient row-major, like `model`),
/// working in `scratch`.
pub fn step(
    isa: Isa,
    model: &Model,
    images: &Images,
    labels: &[Label],
    rows: &[usize],
    sums: &mut ChunkSums,
    scratch: &mut GemmScratch,
) {
    let (features, classes) = (model.features, model.classes);
    sums.reset();
    let block_rows = scratch.logits.len() / classes;
    for block in rows.chunks(block_rows) {
        let n = block.len();
        gather(images, block.iter().copied(), &mut scratch.rows_f32);
        logits(model, n, &scratch.rows_f32, &mut scratch.logits);
        let mut block_labels = [0; GEMM_ROWS];
        for (label, &r) in block_labels.iter_mut().zip(block) {
            *label = labels[r] as usize;
        }
        let (loss_sum, correct) = isa.dispatch(SoftmaxPass {
            logits: &scratch.logits[..n * classes],
            labels: &block_labels[..n],
            exps: &mut scratch.exps,
            in_lanes: &mut scratch.in_lanes,
            grad: Some(&mut scratch.grad_logits[..n * classes]),
        });
        sums.loss_sum += loss_sum;
        sums.correct += correct;
        for g in scratch.grad_logits[..n * classes].chunks_exact(classes) {
            for (db, &g) in sums.grad_bias.iter_mut().zip(g) {
                *db += g;
            }
        }
        let x = &scratch.rows_f32[..n * features];
        let g = &scratch.grad_logits[..n * classes];
        assert_eq!(sums.grad_weights.len(), classes * features);
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
                sums.grad_weights.as_mut_ptr(),
                features as isize,
                1,
            );
        }
    }
}

/// [`super::loss_and_correct`] computed the unfused way, its softmax pass
/// compiled for `isa`.
pub fn loss_and_correct(
    isa: Isa,
    model: &Model,
    images: &Images,
    labels: &[Label],
    rows: Range<usize>,
) -> (f64, usize) {
    let classes = model.classes;
    let scratch = &mut GemmScratch::new(model.features, classes, rows.len());
    let (mut loss_sum, mut correct) = (0.0, 0);
    for start in rows.clone().step_by(GEMM_ROWS) {
        let block = start..(start + GEMM_ROWS).min(rows.end);
        let n = block.len();
        gather(images, block.clone(), &mut scratch.rows_f32);
        logits(model, n, &scratch.rows_f32, &mut scratch.logits);
        let mut block_labels = [0; GEMM_ROWS];
        for (label, r) in block_labels.iter_mut().zip(block) {
            *label = labels[r] as usize;
        }
        let (block_loss, block_correct) = isa.dispatch(SoftmaxPass {
            logits: &scratch.logits[..n * classes],
            labels: &block_labels[..n],
            exps: &mut scratch.exps,
            in_lanes: &mut scratch.in_lanes,
            grad: None,
        });
        loss_sum += block_loss;
        correct += block_correct;
    }
    (loss_sum, correct)
}

/// The softmax pass over rows of logits (one row per label), row block by row
/// block: the summed loss, the correct count and, with `grad`, the gradient of
/// each row's loss with respect to its logits. `exps` and `in_lanes` are
/// scratch for one row block, which is transposed to rows in lanes and back.
struct SoftmaxPass<'a> {
    logits: &'a [f32],
    labels: &'a [usize],
    exps: &'a mut [f32],
    in_lanes: &'a mut (Vec<f32>, Vec<f32>),
    grad: Option<&'a mut [f32]>,
}

impl WithSimd for SoftmaxPass<'_> {
    type Output = (f64, usize);

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> (f64, usize) {
        let Self {
            logits,
            labels,
            exps,
            in_lanes: (logits_in_lanes, grad_in_lanes),
            mut grad,
        } = self;
        let classes = logits.len() / labels.len().max(1);
        let (mut loss_sum, mut correct) = (0.0, 0);
        for (b, block_labels) in labels.chunks(BLOCK_ROWS).enumerate() {
            let span = b * BLOCK_ROWS * classes..(b * BLOCK_ROWS + block_labels.len()) * classes;
            softmax::into_lanes(&logits[span.clone()], classes, logits_in_lanes);
            let mut expected = block_labels.iter();
            softmax::cross_entropy_block(
                simd,
                logits_in_lanes,
                classes,
                block_labels.iter().copied(),
                exps,
                grad.is_some().then_some(&mut grad_in_lanes[..]),
                |loss, argmax| {
                    loss_sum += f64::from(loss);
                    correct += usize::from(Some(&argmax) == expected.next());
                },
            );
            if let Some(grad) = grad.as_deref_mut() {
                softmax::from_lanes(grad_in_lanes, classes, &mut grad[span]);
            }
        }
        (loss_sum, correct)
    }
}

/// Copies the rows into consecutive rows of `x` as f32.
fn gather(images: &Images, rows: impl Iterator<Item = usize>, x: &mut [f32]) {
    let features = images.features();
    for (dst, r) in x.chunks_exact_mut(features).zip(rows) {
        images.write_row_f32(r, dst);
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
