//! The fused driver: a chunk of rows through forward, softmax and backward, one
//! row block at a time, and the forward-only evaluation.

use std::ops::Range;

use pulp::{Simd, WithSimd};

use super::backward;
use super::blocking::{BLOCK_ROWS, BLOCK_VECTORS, MAX_LANES, NARROW, PREFETCH_ROWS, WIDE};
use super::forward;
use super::gather::{AnyRows, Pixel, Rows, per_line, prefetch};
use super::softmax;
use super::{ChunkSums, Scratch, Weights};

/// Whether the instruction set has the 32 vector registers of
/// [`WIDE`] tiles rather than the 16 of [`NARROW`] ones.
#[inline(always)]
fn wide<S: Simd>() -> bool {
    S::REGISTER_COUNT >= 32
}

/// One training chunk for one or more models of the same shape: the rows
/// `order`, then `ahead`, the rows the same thread computes next (only
/// prefetched). `sums[i]` receives model `weights[i]`'s sums.
pub(super) struct StepOp<'a, 's> {
    pub weights: &'a [&'a Weights],
    pub rows: AnyRows<'a>,
    pub labels: &'a [u8],
    pub order: &'a [usize],
    pub ahead: &'a [usize],
    pub sums: &'a mut [&'s mut ChunkSums],
    pub scratch: &'a mut Scratch,
}

impl WithSimd for StepOp<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match self.rows {
            AnyRows::F32(rows) => self.tiles(simd, rows),
            AnyRows::U8(rows) => self.tiles(simd, rows),
        }
    }
}

impl StepOp<'_, '_> {
    /// The chunk on rows of pixel type `P`, with the tiles of the instruction
    /// set's register file.
    #[inline(always)]
    fn tiles<S: Simd, P: Pixel>(self, simd: S, rows: Rows<'_, P>) {
        const W: [usize; 6] = [
            WIDE.forward_rows,
            WIDE.forward_classes,
            WIDE.widened_forward_rows,
            WIDE.widened_forward_classes,
            WIDE.backward_classes,
            WIDE.backward_vectors,
        ];
        const N: [usize; 6] = [
            NARROW.forward_rows,
            NARROW.forward_classes,
            NARROW.widened_forward_rows,
            NARROW.widened_forward_classes,
            NARROW.backward_classes,
            NARROW.backward_vectors,
        ];
        if wide::<S>() {
            self.run::<S, P, { W[0] }, { W[1] }, { W[2] }, { W[3] }, { W[4] }, { W[5] }>(simd, rows)
        } else {
            self.run::<S, P, { N[0] }, { N[1] }, { N[2] }, { N[3] }, { N[4] }, { N[5] }>(simd, rows)
        }
    }

    /// The chunk with `R x C` forward tiles (`WR x WC` on widened rows) and
    /// `M x N` backward panels.
    #[inline(always)]
    fn run<
        S: Simd,
        P: Pixel,
        const R: usize,
        const C: usize,
        const WR: usize,
        const WC: usize,
        const M: usize,
        const N: usize,
    >(
        self,
        simd: S,
        rows: Rows<'_, P>,
    ) {
        let Self {
            weights,
            labels,
            order,
            ahead,
            sums,
            scratch,
            rows: _,
        } = self;
        assert_eq!(weights.len(), sums.len(), "one set of sums per model");
        let Some(classes) = weights.first().map(|w| w.classes()) else {
            return;
        };
        for (w, s) in weights.iter().zip(sums.iter_mut()) {
            assert_eq!(
                S::F32_LANES,
                w.packed.lanes(),
                "weights packed for this ISA"
            );
            assert_eq!(w.classes(), classes, "models of one shape");
            s.loss_sum = 0.0;
            s.correct = 0;
            s.grad_bias.fill(0.0);
            if order.is_empty() {
                s.grad_weights.fill(0.0);
            }
        }
        let upcoming = |i: usize| order.get(i).or_else(|| ahead.get(i - order.len())).copied();
        let Scratch {
            logits,
            grad_logits,
            exps,
            lane_sums,
            widened,
        } = scratch;
        let mut work = BlockScratch {
            logits,
            grad_logits,
            exps,
            lane_sums,
        };
        // Byte rows read by several models are widened to f32 once per block
        // rather than once per model and pass (the same values, bit for bit).
        let features = rows.features();
        let widen = P::CONVERTS && weights.len() > 1;
        if widen {
            widened.resize(BLOCK_ROWS * features, 0.0);
        }
        for (b, block) in order.chunks(BLOCK_ROWS).enumerate() {
            let x = row_block(block.iter().map(|&r| rows.row(r)));
            let x = &x[..block.len()];
            let labels = || block.iter().map(|&r| usize::from(labels[r]));
            let ahead = |k: usize| rows.row_or_empty(upcoming(b * BLOCK_ROWS + k + PREFETCH_ROWS));
            let first = b == 0;
            if widen {
                let wide = widen_block(simd, x, widened, ahead);
                let x = &wide[..block.len()];
                for (weights, sums) in weights.iter().zip(sums.iter_mut()) {
                    let ahead = |_| -> &[f32] { &[] };
                    let model = (*weights, &mut **sums);
                    model_block::<S, f32, WR, WC, M, N>(
                        simd,
                        model,
                        (x, ahead, labels(), first),
                        &mut work,
                    );
                }
            } else {
                // Each model's forward pass prefetches the next rows (a
                // prefetch of a line already in cache costs next to nothing).
                for (weights, sums) in weights.iter().zip(sums.iter_mut()) {
                    let model = (*weights, &mut **sums);
                    model_block::<S, P, R, C, M, N>(
                        simd,
                        model,
                        (x, ahead, labels(), first),
                        &mut work,
                    );
                }
            }
        }
    }
}

/// The per-block working space of [`model_block`], borrowed from [`Scratch`].
struct BlockScratch<'a> {
    logits: &'a mut [f32],
    grad_logits: &'a mut [f32],
    exps: &'a mut [f32],
    lane_sums: &'a mut [f32],
}

/// One model (its weights and its sums) on one block of rows: forward,
/// softmax and backward. `block` is the rows, the rows each forward row
/// prefetches, their labels, and whether the block is the chunk's first (whose
/// backward pass overwrites the weight gradient rather than adding to it).
#[inline(always)]
fn model_block<'a, S, P, const R: usize, const C: usize, const M: usize, const N: usize>(
    simd: S,
    (weights, sums): (&Weights, &mut ChunkSums),
    (x, ahead, labels, first): (
        &[&[P]],
        impl Fn(usize) -> &'a [P],
        impl Iterator<Item = usize> + Clone,
        bool,
    ),
    work: &mut BlockScratch<'_>,
) where
    S: Simd,
    P: Pixel + 'a,
{
    let classes = weights.classes();
    let logits = &mut work.logits[..x.len() * classes];
    forward_block::<S, P, R, C>(simd, weights, x, ahead, work.lane_sums, logits);
    let (loss_sum, correct) = (&mut sums.loss_sum, &mut sums.correct);
    let mut expected = labels.clone();
    softmax::cross_entropy_block(
        simd,
        logits,
        classes,
        labels,
        work.exps,
        Some(&mut *work.grad_logits),
        |loss, argmax| {
            *loss_sum += f64::from(loss);
            *correct += usize::from(Some(argmax) == expected.next());
        },
    );
    let g = &work.grad_logits[..x.len() * classes];
    for g in g.chunks_exact(classes) {
        for (db, &g) in sums.grad_bias.iter_mut().zip(g) {
            *db += g;
        }
    }
    let dw = (&mut sums.grad_weights[..], weights.packed.lanes() * classes);
    backward_block::<S, P, M, N>(simd, x, g, dw, classes, first);
}

/// Up to [`BLOCK_ROWS`] rows as an array of row slices (empty past the last).
#[inline(always)]
fn row_block<'a, T>(rows: impl Iterator<Item = &'a [T]>) -> [&'a [T]; BLOCK_ROWS] {
    let mut block: [&[T]; BLOCK_ROWS] = [&[]; BLOCK_ROWS];
    for (slot, row) in block.iter_mut().zip(rows) {
        *slot = row;
    }
    block
}

/// The rows `x` widened to f32 into `widened` (room for a block of them), as
/// row slices; meanwhile every line of row `k`'s successor `ahead(k)` is
/// prefetched.
#[inline(always)]
fn widen_block<'w, 'a, S: Simd, P: Pixel + 'a>(
    simd: S,
    x: &[&[P]],
    widened: &'w mut [f32],
    ahead: impl Fn(usize) -> &'a [P],
) -> [&'w [f32]; BLOCK_ROWS] {
    let features = widened.len() / BLOCK_ROWS;
    for (k, (row, out)) in x.iter().zip(widened.chunks_exact_mut(features)).enumerate() {
        widen_row(simd, row, out);
        prefetch_row(ahead(k));
    }
    row_block(widened.chunks_exact(features))
}

/// `out = row` as f32, vector by vector as the kernels widen pixels in
/// registers ([`Pixel::load`]), so the values are the same bits.
#[inline(always)]
fn widen_row<S: Simd, P: Pixel>(simd: S, row: &[P], out: &mut [f32]) {
    let lanes = S::F32_LANES;
    let (vectors, tail) = S::as_mut_simd_f32s(out);
    for (v, pixels) in vectors.iter_mut().zip(row.chunks_exact(lanes)) {
        *v = P::load(simd, pixels);
    }
    let offset = vectors.len() * lanes;
    for (o, &p) in tail.iter_mut().zip(&row[offset..]) {
        *o = p.to_f32();
    }
}

/// Prefetches every cache line of `row`.
#[inline(always)]
fn prefetch_row<P>(row: &[P]) {
    for element in (0..row.len()).step_by(per_line::<P>()) {
        prefetch(row, element);
    }
}

/// Forward only over the consecutive rows `range`, for one or more models of
/// the same shape: each model's summed loss and correct count, and (one model
/// only) each row's argmax into `predictions` if given.
pub(super) struct EvalOp<'a> {
    pub weights: &'a [&'a Weights],
    pub rows: AnyRows<'a>,
    pub labels: &'a [u8],
    pub range: Range<usize>,
    pub predictions: Option<&'a mut [usize]>,
}

impl WithSimd for EvalOp<'_> {
    type Output = Vec<(f64, usize)>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<(f64, usize)> {
        match self.rows {
            AnyRows::F32(rows) => self.tiles(simd, rows),
            AnyRows::U8(rows) => self.tiles(simd, rows),
        }
    }
}

impl EvalOp<'_> {
    /// The rows of pixel type `P`, with the forward tiles of the instruction
    /// set's register file.
    #[inline(always)]
    fn tiles<S: Simd, P: Pixel>(self, simd: S, rows: Rows<'_, P>) -> Vec<(f64, usize)> {
        const W: [usize; 4] = [
            WIDE.forward_rows,
            WIDE.forward_classes,
            WIDE.widened_forward_rows,
            WIDE.widened_forward_classes,
        ];
        const N: [usize; 4] = [
            NARROW.forward_rows,
            NARROW.forward_classes,
            NARROW.widened_forward_rows,
            NARROW.widened_forward_classes,
        ];
        if wide::<S>() {
            self.run::<S, P, { W[0] }, { W[1] }, { W[2] }, { W[3] }>(simd, rows)
        } else {
            self.run::<S, P, { N[0] }, { N[1] }, { N[2] }, { N[3] }>(simd, rows)
        }
    }

    /// With `R x C` forward tiles, `WR x WC` on rows widened for several models.
    #[inline(always)]
    fn run<S: Simd, P: Pixel, const R: usize, const C: usize, const WR: usize, const WC: usize>(
        self,
        simd: S,
        rows: Rows<'_, P>,
    ) -> Vec<(f64, usize)> {
        let Self {
            weights,
            labels,
            range,
            mut predictions,
            rows: _,
        } = self;
        assert!(
            predictions.is_none() || weights.len() == 1,
            "predictions of one model"
        );
        let Some(classes) = weights.first().map(|w| w.classes()) else {
            return Vec::new();
        };
        let features = rows.features();
        let mut logits = vec![0.0; BLOCK_ROWS * classes];
        let mut exps = vec![0.0; exps_len(classes)];
        let mut lane_sums = vec![0.0; lane_sums_len(classes)];
        let widen = P::CONVERTS && weights.len() > 1;
        let mut widened = vec![0.0; if widen { BLOCK_ROWS * features } else { 0 }];
        let mut sums = vec![(0.0, 0); weights.len()];
        for start in range.clone().step_by(BLOCK_ROWS) {
            let block = start..(start + BLOCK_ROWS).min(range.end);
            let x = row_block(block.clone().map(|r| rows.row(r)));
            let x = &x[..block.len()];
            let wide = if widen {
                widen_block(simd, x, &mut widened, |_| &[])
            } else {
                [&[][..]; BLOCK_ROWS]
            };
            let wide = &wide[..block.len()];
            for (weights, (loss_sum, correct)) in weights.iter().zip(&mut sums) {
                let logits = &mut logits[..block.len() * classes];
                if widen {
                    forward_block::<S, f32, WR, WC>(
                        simd,
                        weights,
                        wide,
                        |_| &[],
                        &mut lane_sums,
                        logits,
                    );
                } else {
                    forward_block::<S, P, R, C>(simd, weights, x, |_| &[], &mut lane_sums, logits);
                }
                let mut block_rows = block.clone();
                softmax::cross_entropy_block(
                    simd,
                    logits,
                    classes,
                    block.clone().map(|r| usize::from(labels[r])),
                    &mut exps,
                    None,
                    |loss, argmax| {
                        let r = block_rows.next().expect("one call per row");
                        *loss_sum += f64::from(loss);
                        *correct += usize::from(argmax == usize::from(labels[r]));
                        if let Some(out) = predictions.as_deref_mut() {
                            out[r - range.start] = argmax;
                        }
                    },
                );
            }
        }
        sums
    }
}

/// Forward only, no labels: the logits of the consecutive rows `range` into
/// `logits` (`range.len()` rows of `classes` values).
pub(super) struct LogitsOp<'a> {
    pub weights: &'a Weights,
    pub rows: AnyRows<'a>,
    pub range: Range<usize>,
    pub logits: &'a mut [f32],
}

impl WithSimd for LogitsOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match self.rows {
            AnyRows::F32(rows) => self.run::<S, f32>(simd, rows),
            AnyRows::U8(rows) => self.run::<S, u8>(simd, rows),
        }
    }
}

impl LogitsOp<'_> {
    #[inline(always)]
    fn run<S: Simd, P: Pixel>(self, simd: S, rows: Rows<'_, P>) {
        let Self {
            weights,
            range,
            logits,
            rows: _,
        } = self;
        let classes = weights.classes();
        let mut lane_sums = vec![0.0; lane_sums_len(classes)];
        for (b, start) in range.clone().step_by(BLOCK_ROWS).enumerate() {
            let block = start..(start + BLOCK_ROWS).min(range.end);
            let x = row_block(block.clone().map(|r| rows.row(r)));
            let x = &x[..block.len()];
            let out = &mut logits[b * BLOCK_ROWS * classes..][..block.len() * classes];
            forward_block::<S, P, 1, 1>(simd, weights, x, |_| &[], &mut lane_sums, out);
        }
    }
}

/// Floats of forward accumulator space for a row block: one vector of the
/// widest instruction set per (row, class).
pub(super) fn lane_sums_len(classes: usize) -> usize {
    BLOCK_ROWS * classes * MAX_LANES
}

/// Floats of exponential scratch for a row block: its logits, rounded up to
/// whole vectors of the widest instruction set.
pub(super) fn exps_len(classes: usize) -> usize {
    (BLOCK_ROWS * classes).next_multiple_of(MAX_LANES)
}

/// `logits[k][c] = x[k] · W[c] + b[c]` for the rows of a block, feature block
/// by feature block (so that the block of every class's weights stays in L1
/// while every row tile reuses it), in tiles of `R` rows by `C`
/// classes (rows and classes left over in tiles of one); row `k` prefetches
/// `ahead(k)`.
///
/// The vector accumulators of every (row, class) pair live in `lane_sums`
/// between feature blocks and are summed across lanes at the end.
#[inline(always)]
fn forward_block<'a, S: Simd, P: Pixel + 'a, const R: usize, const C: usize>(
    simd: S,
    weights: &Weights,
    x: &[&[P]],
    ahead: impl Fn(usize) -> &'a [P],
    lane_sums: &mut [f32],
    logits: &mut [f32],
) {
    let (rows, classes) = (x.len(), weights.classes());
    let (w, w_tail) = weights.packed.parts();
    let w = S::as_simd_f32s(w).0;
    let vectors = w.len() / classes.max(1);
    let acc = &mut S::as_mut_simd_f32s(lane_sums).0[..rows * classes];
    acc.fill(simd.splat_f32s(0.0));
    for v0 in (0..vectors).step_by(BLOCK_VECTORS) {
        let block = v0..(v0 + BLOCK_VECTORS).min(vectors);
        let mut k = 0;
        while k < rows {
            let acc = &mut acc[k * classes..];
            if k + R <= rows {
                let mut tile: [&[P]; R] = [&[]; R];
                let mut prefetch: [&[P]; R] = [&[]; R];
                for r in 0..R {
                    tile[r] = x[k + r];
                    prefetch[r] = ahead(k + r);
                }
                class_tiles::<S, P, R, C>(simd, w, classes, tile, prefetch, block.clone(), acc);
                k += R;
            } else {
                class_tiles::<S, P, 1, C>(simd, w, classes, [x[k]], [ahead(k)], block.clone(), acc);
                k += 1;
            }
        }
    }
    let tail = w_tail.len() / classes.max(1);
    for (k, row) in x.iter().enumerate() {
        for c in 0..classes {
            let rest = forward::scalar_tail(row, &w_tail[c * tail..(c + 1) * tail]);
            let dot = simd.reduce_sum_f32s(acc[k * classes + c]) + rest;
            logits[k * classes + c] = dot + weights.bias[c];
        }
    }
}

/// Every class tile of `R` rows over one feature block; the first tile
/// prefetches.
#[inline(always)]
fn class_tiles<S: Simd, P: Pixel, const R: usize, const C: usize>(
    simd: S,
    w: &[S::f32s],
    classes: usize,
    x: [&[P]; R],
    ahead: [&[P]; R],
    vectors: Range<usize>,
    acc: &mut [S::f32s],
) {
    let mut prefetch = ahead;
    let mut c0 = 0;
    while c0 < classes {
        let v = vectors.clone();
        if c0 + C <= classes {
            let acc = &mut acc[c0..];
            forward::accumulate::<S, P, R, C>(simd, x, w, (classes, c0), v, prefetch, acc, classes);
            c0 += C;
        } else {
            let acc = &mut acc[c0..];
            forward::accumulate::<S, P, R, 1>(simd, x, w, (classes, c0), v, prefetch, acc, classes);
            c0 += 1;
        }
        prefetch = [&[]; R];
    }
}

/// `dW (+)= Gᵀ X` for the rows of a block (overwriting for a chunk's first
/// block): panels of `M` classes by `N` feature vectors, smaller
/// panels for the classes and vectors left over, then the scalar tail. `dw` is
/// the packed gradient with the length of its vector part.
#[inline(always)]
fn backward_block<S: Simd, P: Pixel, const M: usize, const N: usize>(
    simd: S,
    x: &[&[P]],
    g: &[f32],
    (dw, per_vector): (&mut [f32], usize),
    classes: usize,
    overwrite: bool,
) {
    let lanes = S::F32_LANES;
    let vectors = x[0].len() / lanes;
    let (dw, dw_tail) = dw.split_at_mut(vectors * per_vector);
    let dw = S::as_mut_simd_f32s(dw).0;
    let mut v = 0;
    while v < vectors {
        if v + N <= vectors {
            class_panels::<S, P, M, N>(simd, x, g, dw, classes, v, overwrite);
            v += N;
        } else {
            class_panels::<S, P, M, 1>(simd, x, g, dw, classes, v, overwrite);
            v += 1;
        }
    }
    backward::scalar_tail(dw_tail, classes, x, g, overwrite);
}

/// Every class's panel of `N` vectors from vector `v0`.
#[inline(always)]
fn class_panels<S: Simd, P: Pixel, const M: usize, const N: usize>(
    simd: S,
    x: &[&[P]],
    g: &[f32],
    dw: &mut [S::f32s],
    classes: usize,
    v0: usize,
    overwrite: bool,
) {
    let mut c0 = 0;
    while c0 < classes {
        if c0 + M <= classes {
            backward::panel::<S, P, M, N>(simd, dw, (classes, c0), v0, x, g, overwrite);
            c0 += M;
        } else {
            backward::panel::<S, P, 1, N>(simd, dw, (classes, c0), v0, x, g, overwrite);
            c0 += 1;
        }
    }
}
