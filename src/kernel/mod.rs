//! The fused minibatch kernel: logits, log-softmax, loss, accuracy and gradient
//! in one pass over the rows.
//!
//! The rows of a chunk are taken [`ROW_BLOCK`] at a time. For each block the
//! forward micro-kernel ([`forward::dots`]) computes the logits, the softmax step
//! turns each row's logits into its loss and the gradient of the loss with respect
//! to the logits, and the backward micro-kernel ([`backward::panel`]) adds the
//! block's share of `dW = Gᵀ X` while the block's rows are still in cache: each
//! row is read from memory once per step.
//!
//! All kernels are generic over [`pulp::Simd`] and run with the instruction set
//! an [`Isa`] names (AVX-512, AVX2+FMA, NEON or scalar).

mod backward;
mod forward;
pub mod gemm;
mod isa;
mod prefetch;
mod softmax;

use std::ops::Range;

use backward::Shape;
use pulp::{Simd, WithSimd};

pub use isa::Isa;

use crate::data::{Images, Row};
use crate::model::Model;

/// Rows processed together: forward, softmax, then backward from cache.
pub const ROW_BLOCK: usize = 16;

/// Rows of scratch in a [`Partial`]: a fused block or a GEMM block.
const SCRATCH_ROWS: usize = if ROW_BLOCK > gemm::GEMM_ROWS {
    ROW_BLOCK
} else {
    gemm::GEMM_ROWS
};

/// The partial sums of one chunk of a minibatch, with the scratch space to compute them.
///
/// Holds sums, not means: the caller adds the chunks in a fixed order and divides
/// by the minibatch size.
#[derive(Debug, Clone)]
pub struct Partial {
    /// Summed cross-entropy loss of the chunk's rows.
    pub loss_sum: f64,
    /// How many of the chunk's rows are classified correctly.
    pub correct: usize,
    /// Summed gradient of the loss with respect to the weights, `classes x features`.
    pub grad_weights: Vec<f32>,
    /// Summed gradient of the loss with respect to the bias.
    pub grad_bias: Vec<f32>,
    logits: Vec<f32>,
    grad_logits: Vec<f32>,
    exps: Vec<f32>,
    lane_sums: Vec<f32>,
    rows_f32: Vec<f32>,
}

impl Partial {
    /// Zeroed sums and scratch for a model of this shape.
    pub fn new(features: usize, classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            correct: 0,
            grad_weights: vec![0.0; features * classes],
            grad_bias: vec![0.0; classes],
            logits: vec![0.0; SCRATCH_ROWS * classes],
            grad_logits: vec![0.0; SCRATCH_ROWS * classes],
            exps: vec![0.0; ROW_BLOCK * classes],
            lane_sums: vec![0.0; lane_sums_len(classes)],
            rows_f32: vec![0.0; SCRATCH_ROWS * features],
        }
    }

    fn reset(&mut self) {
        debug_assert_eq!(self.lane_sums.len(), lane_sums_len(self.grad_bias.len()));
        self.loss_sum = 0.0;
        self.correct = 0;
        self.grad_weights.fill(0.0);
        self.grad_bias.fill(0.0);
    }
}

/// Floats of forward accumulator space for a row block: one vector of the widest
/// instruction set per (row, class), classes rounded up to whole tiles.
fn lane_sums_len(classes: usize) -> usize {
    const WIDEST_LANES: usize = 16;
    ROW_BLOCK * classes.div_ceil(CLASS_TILE) * CLASS_TILE * WIDEST_LANES
}

/// Forward and backward over the samples `rows`: overwrites `partial` with their
/// summed loss, correct count and summed gradient.
///
/// # Panics
/// If `partial` was made for another model shape, or a row is out of range.
pub fn step(
    isa: Isa,
    model: &Model,
    images: &Images,
    labels: &[u8],
    rows: &[usize],
    partial: &mut Partial,
) {
    assert_eq!(images.features(), model.features);
    assert_eq!(partial.grad_weights.len(), model.weights.len());
    assert_eq!(partial.grad_bias.len(), model.classes);
    isa.dispatch(StepOp {
        model,
        images,
        labels,
        rows,
        partial,
    });
}

/// The summed loss and the correct count over the samples `rows`, forward only.
pub fn loss_and_correct(
    isa: Isa,
    model: &Model,
    images: &Images,
    labels: &[u8],
    rows: Range<usize>,
) -> (f64, usize) {
    assert_eq!(images.features(), model.features);
    isa.dispatch(EvalOp {
        model,
        images,
        labels,
        rows,
        predictions: None,
    })
}

/// [`loss_and_correct`] that also writes each row's predicted class (the argmax
/// of its logits) into `predictions`, which holds one slot per row.
///
/// # Panics
/// If `predictions.len() != rows.len()`.
pub fn predict(
    isa: Isa,
    model: &Model,
    images: &Images,
    labels: &[u8],
    rows: Range<usize>,
    predictions: &mut [usize],
) -> (f64, usize) {
    assert_eq!(images.features(), model.features);
    assert_eq!(predictions.len(), rows.len());
    isa.dispatch(EvalOp {
        model,
        images,
        labels,
        rows,
        predictions: Some(predictions),
    })
}

struct StepOp<'a> {
    model: &'a Model,
    images: &'a Images,
    labels: &'a [u8],
    rows: &'a [usize],
    partial: &'a mut Partial,
}

impl WithSimd for StepOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            model,
            images,
            labels,
            rows,
            partial,
        } = self;
        let classes = model.classes;
        partial.reset();
        for (b, block) in rows.chunks(ROW_BLOCK).enumerate() {
            let next = rows
                .iter()
                .skip((b + 1) * ROW_BLOCK)
                .take(ROW_BLOCK)
                .copied();
            let (x, n) = gather(images, block.iter().copied(), next, &mut partial.rows_f32);
            let x = &x[..n];
            forward_block(simd, model, x, &mut partial.lane_sums, &mut partial.logits);
            let rows_logits = &partial.logits[..block.len() * classes];
            let (loss_sum, correct) = (&mut partial.loss_sum, &mut partial.correct);
            let mut block_labels = block.iter().map(|&r| usize::from(labels[r]));
            softmax::cross_entropy_block(
                simd,
                rows_logits,
                classes,
                block_labels.clone(),
                &mut partial.exps,
                Some(&mut partial.grad_logits),
                |loss, argmax| {
                    *loss_sum += f64::from(loss);
                    *correct += usize::from(Some(argmax) == block_labels.next());
                },
            );
            for g in partial.grad_logits[..block.len() * classes].chunks_exact(classes) {
                for (db, &g) in partial.grad_bias.iter_mut().zip(g) {
                    *db += g;
                }
            }
            let shape = Shape {
                features: model.features,
                classes,
            };
            backward_block(
                simd,
                x,
                &partial.grad_logits,
                &mut partial.grad_weights,
                shape,
            );
        }
    }
}

struct EvalOp<'a> {
    model: &'a Model,
    images: &'a Images,
    labels: &'a [u8],
    rows: Range<usize>,
    predictions: Option<&'a mut [usize]>,
}

impl WithSimd for EvalOp<'_> {
    type Output = (f64, usize);

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> (f64, usize) {
        let Self {
            model,
            images,
            labels,
            rows,
            mut predictions,
        } = self;
        let classes = model.classes;
        let mut logits = vec![0.0; ROW_BLOCK * classes];
        let mut lane_sums = vec![0.0; lane_sums_len(classes)];
        let mut exps = vec![0.0; ROW_BLOCK * classes];
        let (mut loss_sum, mut correct) = (0.0, 0);
        let mut rows_f32 = vec![0.0; ROW_BLOCK * model.features];
        for start in rows.clone().step_by(ROW_BLOCK) {
            let block = start..(start + ROW_BLOCK).min(rows.end);
            let next = block.end..(block.end + ROW_BLOCK).min(rows.end);
            let (x, n) = gather(images, block.clone(), next, &mut rows_f32);
            let x = &x[..n];
            forward_block(simd, model, x, &mut lane_sums, &mut logits);
            let mut block_rows = block.clone();
            softmax::cross_entropy_block(
                simd,
                &logits[..block.len() * classes],
                classes,
                block.map(|r| usize::from(labels[r])),
                &mut exps,
                None,
                |loss, argmax| {
                    let r = block_rows.next().expect("one call per row");
                    loss_sum += f64::from(loss);
                    correct += usize::from(argmax == usize::from(labels[r]));
                    if let Some(out) = predictions.as_deref_mut() {
                        out[r - rows.start] = argmax;
                    }
                },
            );
        }
        (loss_sum, correct)
    }
}

/// The f32 rows of a block (at most [`ROW_BLOCK`]) and how many there are:
/// borrowed from f32 images, or converted from byte images into `scratch`.
/// Starts loading one row of the `next` block into cache per row gathered, so
/// that the next block's rows arrive while this one is computed.
#[inline(always)]
fn gather<'a>(
    images: &'a Images,
    rows: impl Iterator<Item = usize>,
    mut next: impl Iterator<Item = usize>,
    scratch: &'a mut [f32],
) -> ([&'a [f32]; ROW_BLOCK], usize) {
    let features = images.features();
    let mut x: [&[f32]; ROW_BLOCK] = [&[]; ROW_BLOCK];
    let mut free = scratch;
    let mut n = 0;
    for (slot, r) in x.iter_mut().zip(rows) {
        if let Some(ahead) = next.next() {
            prefetch::row(images, ahead);
        }
        *slot = match images.row(r) {
            Row::F32(row) => row,
            bytes @ Row::U8(_) => {
                let (converted, rest) = std::mem::take(&mut free).split_at_mut(features);
                free = rest;
                bytes.write_f32(converted);
                converted
            }
        };
        n += 1;
    }
    (x, n)
}

/// Classes per forward tile and per backward panel.
const CLASS_TILE: usize = backward::MAX_CLASSES;

/// Whether the instruction set has 32 vector registers (AVX-512) rather than 16:
/// the tiles are sized so that their accumulators stay in registers.
#[inline(always)]
fn wide_register_file<S: Simd>() -> bool {
    S::REGISTER_COUNT >= 32
}

/// Feature vectors per forward block: small enough that a block of every class's
/// weights and of the rows stays in L1 while the row tiles reuse it.
const FEATURE_BLOCK: usize = 16;

/// `logits[k][c] = x[k] · W[c] + b[c]` for the rows of a block, in tiles of
/// 4 rows (2 with 16 registers) by [`CLASS_TILE`] classes.
#[inline(always)]
fn forward_block<S: Simd>(
    simd: S,
    model: &Model,
    x: &[&[f32]],
    lane_sums: &mut [f32],
    logits: &mut [f32],
) {
    if wide_register_file::<S>() {
        forward_tiles::<S, 4>(simd, model, x, lane_sums, logits)
    } else {
        forward_tiles::<S, 2>(simd, model, x, lane_sums, logits)
    }
}

/// [`forward_block`] with `R`-row tiles, feature block by feature block.
///
/// The vector accumulators of every (row tile, class tile) pair live in
/// `lane_sums` between feature blocks, and are summed across lanes at the end.
/// A tile that runs past the last row or class repeats it, and the repeats are
/// not stored.
#[inline(always)]
fn forward_tiles<S: Simd, const R: usize>(
    simd: S,
    model: &Model,
    x: &[&[f32]],
    lane_sums: &mut [f32],
    logits: &mut [f32],
) {
    let (rows, classes, features) = (x.len(), model.classes, model.features);
    let class_tiles = classes.div_ceil(CLASS_TILE);
    let tile_len = R * CLASS_TILE;
    let tiles = rows.div_ceil(R) * class_tiles;
    let acc = &mut S::as_mut_simd_f32s(lane_sums).0[..tiles * tile_len];
    acc.fill(simd.splat_f32s(0.0));
    let vectors = features / S::F32_LANES;
    let mut x_vectors: [&[S::f32s]; ROW_BLOCK] = [&[]; ROW_BLOCK];
    for (k, xk) in x_vectors.iter_mut().enumerate() {
        *xk = &S::as_simd_f32s(x[k.min(rows - 1)]).0[..vectors];
    }
    for v0 in (0..vectors).step_by(FEATURE_BLOCK) {
        let v1 = (v0 + FEATURE_BLOCK).min(vectors);
        for (t, tile) in acc.chunks_exact_mut(tile_len).enumerate() {
            let (r0, c0) = (t / class_tiles * R, t % class_tiles * CLASS_TILE);
            let mut xr: [&[S::f32s]; R] = [&[]; R];
            for (i, xi) in xr.iter_mut().enumerate() {
                *xi = &x_vectors[(r0 + i).min(rows - 1)][v0..v1];
            }
            let mut wc: [&[S::f32s]; CLASS_TILE] = [&[]; CLASS_TILE];
            for (j, wj) in wc.iter_mut().enumerate() {
                let w = model.class_weights((c0 + j).min(classes - 1));
                *wj = &S::as_simd_f32s(w).0[v0..v1];
            }
            forward::accumulate(simd, xr, wc, tile);
        }
    }
    for (t, tile) in acc.chunks_exact(tile_len).enumerate() {
        let (r0, c0) = (t / class_tiles * R, t % class_tiles * CLASS_TILE);
        for i in 0..R.min(rows - r0) {
            let xt = &x[r0 + i][vectors * S::F32_LANES..];
            for j in 0..CLASS_TILE.min(classes - c0) {
                let c = c0 + j;
                let wt = &model.class_weights(c)[vectors * S::F32_LANES..];
                let tail: f32 = xt.iter().zip(wt).map(|(a, b)| a * b).sum();
                let dot = simd.reduce_sum_f32s(tile[i * CLASS_TILE + j]) + tail;
                logits[(r0 + i) * classes + c] = dot + model.bias[c];
            }
        }
    }
}

/// `dw[c][f] += Σ_k g[k][c] x[k][f]` for the rows of a block, feature block by
/// feature block (so that the block's slice of the rows stays in L1 for every
/// class tile): panels of 4 vectors (2 with 16 registers), then single vectors,
/// then the scalar tail.
#[inline(always)]
fn backward_block<S: Simd>(simd: S, x: &[&[f32]], g: &[f32], dw: &mut [f32], shape: Shape) {
    if wide_register_file::<S>() {
        backward_panels::<S, 4>(simd, x, g, dw, shape)
    } else {
        backward_panels::<S, 2>(simd, x, g, dw, shape)
    }
}

/// [`backward_block`] with panels of `N` vectors.
#[inline(always)]
fn backward_panels<S: Simd, const N: usize>(
    simd: S,
    x: &[&[f32]],
    g: &[f32],
    dw: &mut [f32],
    shape: Shape,
) {
    let Shape { features, classes } = shape;
    let lanes = S::F32_LANES;
    let vectors = features / lanes;
    let vector_end = vectors * lanes;
    for v0 in (0..vectors).step_by(FEATURE_BLOCK) {
        let v1 = (v0 + FEATURE_BLOCK).min(vectors);
        for c0 in (0..classes).step_by(CLASS_TILE) {
            let m = CLASS_TILE.min(classes - c0);
            let mut v = v0;
            while v + N <= v1 {
                panel::<S, N>(simd, m, dw, shape, (c0, v * lanes), x, g);
                v += N;
            }
            while v < v1 {
                panel::<S, 1>(simd, m, dw, shape, (c0, v * lanes), x, g);
                v += 1;
            }
        }
    }
    for c in 0..classes {
        for f in vector_end..features {
            let sum: f32 = x
                .iter()
                .enumerate()
                .map(|(k, row)| g[k * classes + c] * row[f])
                .sum();
            dw[c * features + f] += sum;
        }
    }
}

/// [`backward::panel`] for a run-time class count `m` of at most `MAX_CLASSES`.
/// Each arm is a direct call, so it inlines into the caller's instruction set.
#[inline(always)]
fn panel<S: Simd, const N: usize>(
    simd: S,
    m: usize,
    dw: &mut [f32],
    shape: Shape,
    corner: (usize, usize),
    x: &[&[f32]],
    g: &[f32],
) {
    match m {
        1 => backward::panel::<S, 1, N>(simd, dw, shape, corner, x, g),
        2 => backward::panel::<S, 2, N>(simd, dw, shape, corner, x, g),
        3 => backward::panel::<S, 3, N>(simd, dw, shape, corner, x, g),
        4 => backward::panel::<S, 4, N>(simd, dw, shape, corner, x, g),
        _ => backward::panel::<S, { backward::MAX_CLASSES }, N>(simd, dw, shape, corner, x, g),
    }
}
