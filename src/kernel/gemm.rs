//! The unfused baseline: the textbook three steps on `matrixmultiply::sgemm`.
//!
//! For each block of rows: gather the rows into a matrix `X`, compute the
//! logits transposed, `Zᵀ = W Xᵀ`, with one GEMM, run a separate softmax /
//! loss / gradient-of-logits pass over `Zᵀ`, then accumulate `dW += Gᵀ X`
//! with a second GEMM. Each block's rows are thus read three times (gather,
//! two GEMMs) and the logits twice: the honest "BLAS" comparison for the
//! fused kernel, and the faster kernel where the weights outgrow the L2
//! ([`super::Kernel::for_shape`]). The softmax pass is the fused kernel's own
//! ([`super::softmax`], vectorised across rows): classes by rows is the
//! layout it reads, so the logits and their gradient are never transposed.

use crate::data::Label;
use std::ops::Range;

use matrixmultiply::sgemm;
use pulp::{Simd, WithSimd};

use super::blocking::{BLOCK_ROWS, GEMM_ROWS, in_lanes_len};
use super::{ChunkSums, Isa, softmax};
use crate::data::Images;
use crate::model::Model;

/// The GEMM baseline's working space for one thread: a block's rows as f32,
/// their logits and logit gradient held classes by rows (each class's
/// values of the block's rows consecutive, [`GemmScratch::stride`] apart),
/// and a row block's exponentials, as the softmax takes them.
#[derive(Debug, Clone)]
pub struct GemmScratch {
    rows_f32: Vec<f32>,
    logits: Vec<f32>,
    grad_logits: Vec<f32>,
    exps: Vec<f32>,
}

impl GemmScratch {
    /// Working space for a model of this shape, for blocks of at most
    /// `rows` rows (sized by what a chunk holds, never more than [`GEMM_ROWS`]).
    pub fn new(features: usize, classes: usize, rows: usize) -> Self {
        let rows = rows.clamp(1, GEMM_ROWS);
        let held = classes * rows.next_multiple_of(BLOCK_ROWS);
        Self {
            rows_f32: vec![0.0; rows * features],
            logits: vec![0.0; held],
            grad_logits: vec![0.0; held],
            exps: vec![0.0; in_lanes_len(classes)],
        }
    }

    /// The most rows of a block, and the distance from one class's logits
    /// (and logit gradient) of the block's rows to the next class's: whole
    /// row blocks of the softmax.
    fn stride(&self, classes: usize) -> usize {
        self.logits.len() / classes
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
    sums.loss_sum = 0.0;
    sums.correct = 0;
    sums.grad_bias.fill(0.0);
    if rows.is_empty() {
        sums.grad_weights.fill(0.0);
    }
    let stride = scratch.stride(classes);
    for (b, block) in rows.chunks(stride).enumerate() {
        let n = block.len();
        gather(images, block.iter().copied(), &mut scratch.rows_f32);
        logits(model, n, &scratch.rows_f32, (&mut scratch.logits, stride));
        let mut block_labels = [0; GEMM_ROWS];
        for (label, &r) in block_labels.iter_mut().zip(block) {
            *label = labels[r] as usize;
        }
        let (loss_sum, correct) = isa.dispatch(SoftmaxPass {
            logits: (&scratch.logits, stride),
            labels: &block_labels[..n],
            exps: &mut scratch.exps,
            grad: Some(&mut scratch.grad_logits),
        });
        sums.loss_sum += loss_sum;
        sums.correct += correct;
        let g = &scratch.grad_logits[..classes * stride];
        for (db, g) in sums.grad_bias.iter_mut().zip(g.chunks_exact(stride)) {
            for &g in &g[..n] {
                *db += g;
            }
        }
        let x = &scratch.rows_f32[..n * features];
        // The first block writes dW (β = 0: no pass to zero it first), the
        // others add to it.
        let beta = if b == 0 { 0.0 } else { 1.0 };
        weight_gradient((g, stride), (x, n), (&mut sums.grad_weights, beta));
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
    let stride = scratch.stride(classes);
    let (mut loss_sum, mut correct) = (0.0, 0);
    for start in rows.clone().step_by(stride) {
        let block = start..(start + stride).min(rows.end);
        let n = block.len();
        gather(images, block.clone(), &mut scratch.rows_f32);
        logits(model, n, &scratch.rows_f32, (&mut scratch.logits, stride));
        let mut block_labels = [0; GEMM_ROWS];
        for (label, r) in block_labels.iter_mut().zip(block) {
            *label = labels[r] as usize;
        }
        let (block_loss, block_correct) = isa.dispatch(SoftmaxPass {
            logits: (&scratch.logits, stride),
            labels: &block_labels[..n],
            exps: &mut scratch.exps,
            grad: None,
        });
        loss_sum += block_loss;
        correct += block_correct;
    }
    (loss_sum, correct)
}

/// The softmax pass over a block's logits held classes by rows (`(logits,
/// stride)`: class `c`'s value of row `k` at `c * stride + k`, one row per
/// label), row block by row block: the summed loss, the correct count and,
/// with `grad`, the gradient of each row's loss with respect to its logits,
/// in the same layout. `exps` is scratch for one row block.
struct SoftmaxPass<'a> {
    logits: (&'a [f32], usize),
    labels: &'a [usize],
    exps: &'a mut [f32],
    grad: Option<&'a mut [f32]>,
}

impl WithSimd for SoftmaxPass<'_> {
    type Output = (f64, usize);

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> (f64, usize) {
        let Self {
            logits: (logits, stride),
            labels,
            exps,
            mut grad,
        } = self;
        let classes = logits.len() / stride;
        let (mut loss_sum, mut correct) = (0.0, 0);
        for (b, block_labels) in labels.chunks(BLOCK_ROWS).enumerate() {
            let offset = b * BLOCK_ROWS;
            let mut expected = block_labels.iter();
            softmax::cross_entropy_block(
                simd,
                (&logits[offset..], stride),
                classes,
                block_labels.iter().copied(),
                exps,
                grad.as_deref_mut().map(|g| &mut g[offset..]),
                |loss, argmax| {
                    loss_sum += f64::from(loss);
                    correct += usize::from(Some(&argmax) == expected.next());
                },
            );
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

/// `dW ← Gᵀ X + β dW` for the first `n` rows of `x` (`n x features`) and
/// the logit gradient `g` of those rows held classes by rows (`g[c * stride +
/// k]`, `classes * stride` values), into `dw` (`classes x features`).
pub(crate) fn weight_gradient(
    (g, stride): (&[f32], usize),
    (x, n): (&[f32], usize),
    (dw, beta): (&mut [f32], f32),
) {
    let classes = g.len() / stride;
    let features = dw.len() / classes.max(1);
    assert!(n <= stride && g.len() == classes * stride && x.len() >= n * features);
    assert_eq!(dw.len(), classes * features);
    // SAFETY: dW ← 1·Gᵀ X + β·dW with Gᵀ (classes x n) read from `g` (row
    // stride `stride` ≥ n), X (n x features) from `x`, dW (classes x
    // features) in `dw`; the asserts above cover every index the strides
    // reach, and dW's strides do not alias.
    unsafe {
        sgemm(
            classes,
            n,
            features,
            1.0,
            g.as_ptr(),
            stride as isize,
            1,
            x.as_ptr(),
            features as isize,
            1,
            beta,
            dw.as_mut_ptr(),
            features as isize,
            1,
        );
    }
}

/// `Zᵀ = W Xᵀ + b` for the first `n` rows of `x`, held classes by rows:
/// `z[c * stride + k]` is row `k`'s logit of class `c`.
pub(crate) fn logits(model: &Model, n: usize, x: &[f32], (z, stride): (&mut [f32], usize)) {
    let (features, classes) = (model.features, model.classes);
    assert!(x.len() >= n * features && n <= stride && z.len() >= classes * stride);
    assert_eq!(model.weights.len(), classes * features);
    // SAFETY: Zᵀ ← 1·W Xᵀ + 0·Zᵀ with W (classes x features, row stride
    // `features`), Xᵀ (features x n) read from X (n x features, row stride
    // `features`), Zᵀ (classes x n, row stride `stride` ≥ n) written; the
    // asserts above cover every index the strides reach, and Zᵀ's strides do
    // not alias.
    unsafe {
        sgemm(
            classes,
            features,
            n,
            1.0,
            model.weights.as_ptr(),
            features as isize,
            1,
            x.as_ptr(),
            1,
            features as isize,
            0.0,
            z.as_mut_ptr(),
            stride as isize,
            1,
        );
    }
    for (row, &b) in z.chunks_exact_mut(stride).zip(&model.bias) {
        for zc in &mut row[..n] {
            *zc += b;
        }
    }
}
