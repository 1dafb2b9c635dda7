//! The fused kernel's entry points: a training chunk's loss, correct count
//! and gradient for one model or several, a chunk's scores, and logits.

use std::ops::Range;

use super::fused::{self, EvalOp, LogitsOp, StepOp};
use super::{ChunkSums, Scratch, Weights};
use super::{blocking, gather};
use crate::data::{Images, Label};

/// Forward and backward over the samples `rows`: overwrites `sums` with their
/// summed loss, correct count and summed gradient (packed like `weights`),
/// working in `scratch`. Meanwhile prefetches the rows `ahead`, the ones the
/// caller computes next; they do not change the result.
///
/// # Panics
/// If `sums` or `scratch` were made for another model shape, or a row is out
/// of range.
pub fn step(
    weights: &Weights,
    images: &Images,
    labels: &[Label],
    rows: &[usize],
    ahead: &[usize],
    sums: &mut ChunkSums,
    scratch: &mut Scratch,
) {
    step_models(
        &[weights],
        images,
        labels,
        (rows, ahead),
        &mut [sums],
        scratch,
    );
}

/// [`step`] for several models of the same shape in one pass over the rows
/// (`chunk` is `(rows, ahead)`): each block of rows is read from memory once
/// and stays in cache while every model computes on it. `sums[i]` receives
/// what [`step`] would give `weights[i]` alone, bit for bit.
///
/// # Panics
/// As [`step`], or if `sums` and `weights` differ in length or the models in
/// shape.
pub fn step_models(
    weights: &[&Weights],
    images: &Images,
    labels: &[Label],
    (rows, ahead): (&[usize], &[usize]),
    sums: &mut [&mut ChunkSums],
    scratch: &mut Scratch,
) {
    let Some(first) = weights.first() else {
        return;
    };
    for (w, s) in weights.iter().zip(sums.iter()) {
        assert_eq!(images.features(), w.features());
        assert_eq!(s.grad_weights.len(), w.packed.values().len());
        assert_eq!(s.grad_bias.len(), w.classes());
    }
    assert_eq!(
        scratch.logits.len(),
        blocking::in_lanes_len(first.classes())
    );
    fused::run(
        first,
        StepOp {
            weights,
            pixels: gather::rows(images),
            labels,
            rows,
            ahead,
            sums,
            scratch,
        },
    );
}

/// The summed loss and the correct count over the samples `rows`, forward only.
pub fn loss_and_correct(
    weights: &Weights,
    images: &Images,
    labels: &[Label],
    rows: Range<usize>,
) -> (f64, usize) {
    models_loss_and_correct(&[weights], images, labels, rows)[0]
}

/// The logits of the rows `rows`, no labels needed: `rows.len()` rows of
/// `classes` values, row by row.
///
/// # Panics
/// If a row is out of range or the images have another feature count.
pub fn logits(weights: &Weights, images: &Images, rows: Range<usize>) -> Vec<f32> {
    assert_eq!(images.features(), weights.features());
    let mut logits = vec![0.0; rows.len() * weights.classes()];
    fused::run(
        weights,
        LogitsOp {
            weights,
            pixels: gather::rows(images),
            range: rows,
            logits: &mut logits,
        },
    );
    logits
}

/// [`loss_and_correct`] that also writes each row's predicted class (the argmax
/// of its logits) into `predictions`, which holds one slot per row.
///
/// # Panics
/// If `predictions.len() != rows.len()`.
pub fn loss_correct_and_predictions(
    weights: &Weights,
    images: &Images,
    labels: &[Label],
    rows: Range<usize>,
    predictions: &mut [usize],
) -> (f64, usize) {
    assert_eq!(predictions.len(), rows.len());
    assert_eq!(images.features(), weights.features());
    fused::run(
        weights,
        EvalOp {
            weights: &[weights],
            pixels: gather::rows(images),
            labels,
            range: rows,
            predictions: Some(predictions),
        },
    )[0]
}

/// [`loss_and_correct`] of several models of the same shape in one pass over
/// the rows: each model's figures, bit for bit what it gets alone.
///
/// # Panics
/// If the models differ in shape or instruction set from each other or the
/// images.
pub fn models_loss_and_correct(
    weights: &[&Weights],
    images: &Images,
    labels: &[Label],
    range: Range<usize>,
) -> Vec<(f64, usize)> {
    let Some(first) = weights.first() else {
        return Vec::new();
    };
    for w in weights {
        assert_eq!(images.features(), w.features());
        assert_eq!(
            (w.isa.name(), w.classes()),
            (first.isa.name(), first.classes())
        );
    }
    fused::run(
        first,
        EvalOp {
            weights,
            pixels: gather::rows(images),
            labels,
            range,
            predictions: None,
        },
    )
}
