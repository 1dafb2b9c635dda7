//! The fused ops: a training chunk through forward, softmax and backward one
//! row block at a time ([`StepOp`]), forward-only scoring ([`EvalOp`]) and
//! logits ([`LogitsOp`]). Each is written once over the pixel type and the
//! tile shape, and [`run`] makes both choices (the tiles as the weights' plan
//! says), in one place for all three.

use crate::data::Label;
use std::marker::PhantomData;
use std::ops::Range;

use pulp::{Simd, WithSimd};

use super::backward::{self, BackwardPanel};
use super::blocking::{BLOCK_ROWS, in_lanes_len, lane_sums_len};
use super::forward::ForwardTile;
use super::gather::{AnyRows, Pixel, Rows, prefetch_first_lines, row_block, widen_block};
use super::softmax;
use super::tiles::{Narrow, Tall, TileShape, Tiles, Wide};
use super::{ChunkSums, Scratch, Weights};

/// A fused op: the pixels it reads, and its body, generic over their type
/// and the tile shape.
pub(super) trait FusedOp<'r> {
    /// What the op returns.
    type Output;

    /// The pixel rows the op reads.
    fn pixels(&self) -> AnyRows<'r>;

    /// The op on rows of pixel type `P` with tiles of shape `T`.
    fn run<S: Simd, P: Pixel, T: TileShape>(self, simd: S, pixels: Rows<'r, P>) -> Self::Output;
}

/// Runs `op` compiled for the instruction set of `weights` (those of the
/// op's first model), on its rows' pixel type, with the tiles their plan names.
pub(super) fn run<'r, O: FusedOp<'r>>(weights: &Weights, op: O) -> O::Output {
    let tiles = weights.plan().tiles;
    weights.isa().dispatch(Dispatch(op, tiles, PhantomData))
}

/// [`run`]'s two choices, made once the instruction set is known.
struct Dispatch<'r, O>(O, Tiles, PhantomData<AnyRows<'r>>);

impl<'r, O: FusedOp<'r>> WithSimd for Dispatch<'r, O> {
    type Output = O::Output;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> O::Output {
        let Dispatch(op, tiles, _) = self;
        match op.pixels() {
            AnyRows::F32(pixels) => with_tiles::<S, f32, O>(simd, op, tiles, pixels),
            AnyRows::U8(pixels) => with_tiles::<S, u8, O>(simd, op, tiles, pixels),
        }
    }
}

#[inline(always)]
fn with_tiles<'r, S: Simd, P: Pixel, O: FusedOp<'r>>(
    simd: S,
    op: O,
    tiles: Tiles,
    pixels: Rows<'r, P>,
) -> O::Output {
    match tiles {
        Tiles::Wide => op.run::<S, P, Wide>(simd, pixels),
        Tiles::Tall => op.run::<S, P, Tall>(simd, pixels),
        Tiles::Narrow => op.run::<S, P, Narrow>(simd, pixels),
    }
}

/// One training chunk for one or more models of the same shape: the sample
/// indices `rows`, then `ahead`, the ones the same thread computes next (only
/// prefetched). `sums[i]` receives model `weights[i]`'s sums.
pub(super) struct StepOp<'a, 's> {
    pub weights: &'a [&'a Weights],
    pub pixels: AnyRows<'a>,
    pub labels: &'a [Label],
    pub rows: &'a [usize],
    pub ahead: &'a [usize],
    pub sums: &'a mut [&'s mut ChunkSums],
    pub scratch: &'a mut Scratch,
}

impl<'a> FusedOp<'a> for StepOp<'a, '_> {
    type Output = ();

    fn pixels(&self) -> AnyRows<'a> {
        self.pixels
    }

    /// The chunk with `T::Forward` tiles (`T::WidenedForward` on widened
    /// rows) and `T::Backward` panels.
    #[inline(always)]
    fn run<S: Simd, P: Pixel, T: TileShape>(self, simd: S, pixels: Rows<'a, P>) {
        let Self {
            weights,
            labels,
            rows,
            ahead,
            sums,
            scratch,
            pixels: _,
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
            if rows.is_empty() {
                s.grad_weights.fill(0.0);
            }
        }
        let upcoming = |i: usize| rows.get(i).or_else(|| ahead.get(i - rows.len())).copied();
        let prefetch_rows = weights[0].plan().prefetch_rows;
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
        let features = pixels.features();
        let widen = P::CONVERTS && weights.len() > 1;
        if widen {
            widened.resize(BLOCK_ROWS * features, 0.0);
        }
        for (b, block) in rows.chunks(BLOCK_ROWS).enumerate() {
            let x = row_block(block.iter().map(|&r| pixels.row(r)));
            let x = &x[..block.len()];
            let labels = || block.iter().map(|&r| labels[r] as usize);
            let ahead =
                |k: usize| pixels.row_or_empty(upcoming(b * BLOCK_ROWS + k + prefetch_rows));
            let first = b == 0;
            let next_block = (0..BLOCK_ROWS).map(|k| upcoming((b + 1) * BLOCK_ROWS + k));
            prefetch_first_lines(next_block.map(|r| pixels.row_or_empty(r)));
            if widen {
                let widened = widen_block(simd, x, widened, ahead);
                let x = &widened[..block.len()];
                for (weights, sums) in weights.iter().zip(sums.iter_mut()) {
                    let ahead = |_| -> &[f32] { &[] };
                    let model = (*weights, &mut **sums, pixels.scale());
                    model_block::<S, f32, T::WidenedForward, T::Backward>(
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
                    let model = (*weights, &mut **sums, pixels.scale());
                    model_block::<S, P, T::Forward, T::Backward>(
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

/// One model (its weights and its sums, and the pixels' scale) on one block
/// of rows: forward in tiles `F`, softmax, and backward in panels `B`. `block`
/// is the rows, the rows each forward row prefetches, their labels, and
/// whether the block is the chunk's first (whose backward pass overwrites the
/// weight gradient rather than adding to it).
///
/// The pixels are held unscaled (a byte's exact value), so the scale is
/// folded in per row: into the logits (`z = s (x · w) + b`) and into the
/// logit gradient the backward pass multiplies the pixels by (`dW = Σ (s g)
/// x`), ten multiplies a row rather than one per pixel in each pass.
#[inline(always)]
fn model_block<'a, S, P, F: ForwardTile, B: BackwardPanel>(
    simd: S,
    (weights, sums, scale): (&Weights, &mut ChunkSums, f32),
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
    let logits = &mut work.logits[..in_lanes_len(classes)];
    F::block::<S, P>(simd, (weights, scale), x, ahead, work.lane_sums, logits);
    let (loss_sum, correct) = (&mut sums.loss_sum, &mut sums.correct);
    let mut expected = labels.clone();
    softmax::cross_entropy_block(
        simd,
        (logits, BLOCK_ROWS),
        classes,
        labels,
        work.exps,
        Some(&mut *work.grad_logits),
        |loss, argmax| {
            *loss_sum += f64::from(loss);
            *correct += usize::from(Some(argmax) == expected.next());
        },
    );
    let g = &mut work.grad_logits[..in_lanes_len(classes)];
    backward::bias_gradient(g, x.len(), &mut sums.grad_bias);
    if scale != 1.0 {
        for g in g.iter_mut() {
            *g *= scale;
        }
    }
    let dw = (&mut sums.grad_weights[..], weights.packed.lanes() * classes);
    B::block::<S, P>(simd, x, g, dw, classes, first);
}

/// Forward only over the consecutive rows `range`, for one or more models of
/// the same shape: each model's summed loss and correct count, and (one model
/// only) each row's argmax into `predictions` if given.
pub(super) struct EvalOp<'a> {
    pub weights: &'a [&'a Weights],
    pub pixels: AnyRows<'a>,
    pub labels: &'a [Label],
    pub range: Range<usize>,
    pub predictions: Option<&'a mut [usize]>,
}

impl<'a> FusedOp<'a> for EvalOp<'a> {
    type Output = Vec<(f64, usize)>;

    fn pixels(&self) -> AnyRows<'a> {
        self.pixels
    }

    /// With `T::Forward` tiles, `T::WidenedForward` on rows widened for
    /// several models.
    #[inline(always)]
    fn run<S: Simd, P: Pixel, T: TileShape>(
        self,
        simd: S,
        pixels: Rows<'a, P>,
    ) -> Vec<(f64, usize)> {
        let Self {
            weights,
            labels,
            range,
            mut predictions,
            pixels: _,
        } = self;
        assert!(
            predictions.is_none() || weights.len() == 1,
            "predictions of one model"
        );
        let Some(classes) = weights.first().map(|w| w.classes()) else {
            return Vec::new();
        };
        let features = pixels.features();
        let mut logits = vec![0.0; in_lanes_len(classes)];
        let mut exps = vec![0.0; in_lanes_len(classes)];
        let mut lane_sums = vec![0.0; lane_sums_len(classes)];
        let widen = P::CONVERTS && weights.len() > 1;
        let mut widened = vec![0.0; if widen { BLOCK_ROWS * features } else { 0 }];
        let mut sums = vec![(0.0, 0); weights.len()];
        for start in range.clone().step_by(BLOCK_ROWS) {
            let block = start..(start + BLOCK_ROWS).min(range.end);
            let x = row_block(block.clone().map(|r| pixels.row(r)));
            let x = &x[..block.len()];
            let widened_rows = if widen {
                widen_block(simd, x, &mut widened, |_| &[])
            } else {
                [&[][..]; BLOCK_ROWS]
            };
            let widened_rows = &widened_rows[..block.len()];
            for (weights, (loss_sum, correct)) in weights.iter().zip(&mut sums) {
                let (lane_sums, no_prefetch) = (&mut lane_sums[..], |_| &[][..]);
                if widen {
                    T::WidenedForward::block::<S, f32>(
                        simd,
                        (weights, pixels.scale()),
                        widened_rows,
                        no_prefetch,
                        lane_sums,
                        &mut logits,
                    );
                } else {
                    let weights = (*weights, pixels.scale());
                    T::Forward::block::<S, P>(simd, weights, x, |_| &[], lane_sums, &mut logits);
                }
                let mut block_rows = block.clone();
                softmax::cross_entropy_block(
                    simd,
                    (&logits, BLOCK_ROWS),
                    classes,
                    block.clone().map(|r| labels[r] as usize),
                    &mut exps,
                    None,
                    |loss, argmax| {
                        let r = block_rows.next().expect("one call per row");
                        *loss_sum += f64::from(loss);
                        *correct += usize::from(argmax == (labels[r] as usize));
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
    pub pixels: AnyRows<'a>,
    pub range: Range<usize>,
    pub logits: &'a mut [f32],
}

impl<'a> FusedOp<'a> for LogitsOp<'a> {
    type Output = ();

    fn pixels(&self) -> AnyRows<'a> {
        self.pixels
    }

    #[inline(always)]
    fn run<S: Simd, P: Pixel, T: TileShape>(self, simd: S, pixels: Rows<'a, P>) {
        let Self {
            weights,
            range,
            logits,
            pixels: _,
        } = self;
        let classes = weights.classes();
        let mut lane_sums = vec![0.0; lane_sums_len(classes)];
        let mut in_lanes = vec![0.0; in_lanes_len(classes)];
        for (b, start) in range.clone().step_by(BLOCK_ROWS).enumerate() {
            let block = start..(start + BLOCK_ROWS).min(range.end);
            let x = row_block(block.clone().map(|r| pixels.row(r)));
            let x = &x[..block.len()];
            let weights = (weights, pixels.scale());
            T::Forward::block::<S, P>(simd, weights, x, |_| &[], &mut lane_sums, &mut in_lanes);
            let out = &mut logits[b * BLOCK_ROWS * classes..][..block.len() * classes];
            softmax::from_lanes(&in_lanes, classes, out);
        }
    }
}
