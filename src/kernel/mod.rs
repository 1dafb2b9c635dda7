//! The fused minibatch kernel: logits, log-softmax, loss, accuracy and gradient
//! in one pass over the rows.
//!
//! A minibatch is cut into chunks of [`blocking::CHUNK_ROWS`] rows (the unit a
//! thread computes) and a chunk into blocks of [`blocking::BLOCK_ROWS`] rows. For
//! each block:
//!
//! 1. **forward** ([`forward`]): each row's logits, feature block by feature
//!    block ([`blocking::BLOCK_VECTORS`] vectors, so that the block of packed
//!    weights ([`packing`]) stays in L1 while every row of the block reuses it),
//!    in register tiles of rows by ten classes: each pixel vector is loaded once
//!    per ten FMAs; byte pixels are widened to f32 in registers ([`gather`]),
//!    and one cache line of a row [`blocking::PREFETCH_ROWS`] ahead is
//!    prefetched per line read;
//! 2. **softmax** ([`softmax`]): a numerically stable log-softmax per row with a
//!    vectorised `exp`, giving the loss, the argmax and the gradient of the loss
//!    with respect to the logits, `softmax(z) - onehot(label)`;
//! 3. **backward** ([`backward`]): `dW += Gᵀ X` into the packed gradient, on
//!    panels of classes by two feature vectors, re-reading the block's rows from
//!    cache.
//!
//! Each row is thus read from memory once per step, and costs 2 x 7,840 FMAs
//! (31,360 FLOP) for 784 features and 10 classes. All kernels are generic over
//! [`pulp::Simd`] and run with the instruction set an [`Isa`] names (AVX-512,
//! AVX2+FMA, NEON or scalar); the tile sizes follow the register count
//! ([`blocking`]).

mod backward;
pub mod blocking;
mod forward;
mod fused;
mod gather;
pub mod gemm;
mod isa;
pub mod packing;
mod softmax;

use std::ops::Range;

pub use isa::Isa;
pub use packing::Packed;

use crate::data::{Images, Split};
use crate::model::Model;
use blocking::{BLOCK_ROWS, EVAL_CHUNK_ROWS};
use fused::{EvalOp, StepOp};
use gather::AnyRows;

/// Rows of scratch in a [`ChunkSums`]: a fused block or a GEMM block.
const SCRATCH_ROWS: usize = if BLOCK_ROWS > gemm::GEMM_ROWS {
    BLOCK_ROWS
} else {
    gemm::GEMM_ROWS
};

/// A model's weights in the layout the fused kernel reads ([`packing`]),
/// packed for one instruction set, with its bias.
///
/// ```
/// use softreg::{kernel::{Isa, Weights}, model::Model, random::SeededRng};
/// let model = Model::init(784, 10, &mut SeededRng::new(0));
/// let weights = Weights::new(Isa::best(), &model);
/// assert_eq!(weights.to_model(), model);
/// ```
#[derive(Debug, Clone)]
pub struct Weights {
    isa: Isa,
    /// The weight matrix, packed.
    pub packed: Packed,
    /// One bias per class.
    pub bias: Vec<f32>,
}

impl Weights {
    /// `model`'s weights packed for `isa`.
    pub fn new(isa: Isa, model: &Model) -> Self {
        Self {
            isa,
            packed: Packed::from_row_major(isa, model.features, model.classes, &model.weights),
            bias: model.bias.clone(),
        }
    }

    /// The model these weights hold, row-major.
    pub fn to_model(&self) -> Model {
        let (features, classes) = (self.packed.features(), self.packed.classes());
        let mut weights = vec![0.0; features * classes];
        self.packed.copy_to_row_major(&mut weights);
        Model {
            features,
            classes,
            weights,
            bias: self.bias.clone(),
        }
    }

    /// The instruction set the weights are packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.packed.classes()
    }

    /// Inputs per sample.
    pub fn features(&self) -> usize {
        self.packed.features()
    }

    /// A weight gradient in these weights' packed layout (as [`step`] writes
    /// it into [`ChunkSums::grad_weights`]), row-major.
    pub fn gradient_row_major(&self, packed: &[f32]) -> Vec<f32> {
        let (features, classes) = (self.features(), self.classes());
        let mut gradient = Packed::zeros(self.isa, features, classes);
        gradient.values_mut().copy_from_slice(packed);
        let mut row_major = vec![0.0; features * classes];
        gradient.copy_to_row_major(&mut row_major);
        row_major
    }
}

/// Which implementation computes the loss and gradient: the choice `train`,
/// `bench` and the tests make, decided here once (every use is an exhaustive
/// `match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The fused SIMD kernel of this module, parallel over fixed chunks.
    #[default]
    Fused,
    /// The unfused baseline on `matrixmultiply::sgemm` ([`gemm`]), parallel
    /// over the same chunks.
    Gemm,
    /// The naive f64 reference ([`crate::reference`]), one thread per minibatch.
    Reference,
}

impl Kernel {
    /// The name `--kernel` takes: `fused`, `gemm` or `reference`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Fused => "fused",
            Kernel::Gemm => "gemm",
            Kernel::Reference => "reference",
        }
    }

    /// What runs, for a run's header: `fused avx2`, `gemm (matrixmultiply)`,
    /// `reference`.
    pub fn describe(self) -> String {
        match self {
            Kernel::Fused => format!("fused {}", Isa::best().name()),
            Kernel::Gemm => "gemm (matrixmultiply)".to_string(),
            Kernel::Reference => "reference".to_string(),
        }
    }

    /// The loss and accuracy of `model` on `split`, in parallel on the current
    /// rayon pool, in [`EVAL_CHUNK_ROWS`]-row chunks whose sums are added in order
    /// (so the figures do not depend on the thread count).
    pub fn evaluate(self, model: &Model, split: &Split) -> Evaluation {
        let n = split.len();
        let isa = Isa::best();
        let (images, labels) = (&split.images, split.labels.as_slice());
        let partials = match self {
            Kernel::Fused => {
                let weights = Weights::new(isa, model);
                map_eval_chunks(n, |rows| loss_and_correct(&weights, images, labels, rows))
            }
            Kernel::Gemm => map_eval_chunks(n, |rows| {
                gemm::loss_and_correct(isa, model, images, labels, rows)
            }),
            Kernel::Reference => map_eval_chunks(n, |rows| {
                crate::reference::loss_and_correct(model, images, labels, rows)
            }),
        };
        let (loss_sum, correct) = partials
            .iter()
            .fold((0.0, 0), |(l, c), &(pl, pc)| (l + pl, c + pc));
        Evaluation {
            loss: loss_sum / n as f64,
            accuracy: correct as f64 / n as f64,
        }
    }
}

/// Loss and accuracy of a model on a labelled split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// `f` on each [`EVAL_CHUNK_ROWS`]-row range of `0..n`, the ranges in parallel on
/// the current rayon pool, the results in row order.
pub fn map_eval_chunks<T: Send>(n: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    use rayon::prelude::*;
    (0..n.div_ceil(EVAL_CHUNK_ROWS))
        .into_par_iter()
        .map(|chunk| f(chunk * EVAL_CHUNK_ROWS..((chunk + 1) * EVAL_CHUNK_ROWS).min(n)))
        .collect()
}

/// The partial sums of one chunk of a minibatch, with the scratch space to compute them.
///
/// Holds sums, not means: the caller adds the chunks in a fixed order and divides
/// by the minibatch size.
#[derive(Debug, Clone)]
pub struct ChunkSums {
    /// Summed cross-entropy loss of the chunk's rows.
    pub loss_sum: f64,
    /// How many of the chunk's rows are classified correctly.
    pub correct: usize,
    /// Summed gradient of the loss with respect to the weights, `classes x
    /// features`, in the layout of the weights the kernel read: packed for the
    /// fused kernel ([`Weights::gradient_row_major`] unpacks it), row-major for
    /// the GEMM baseline.
    pub grad_weights: Vec<f32>,
    /// Summed gradient of the loss with respect to the bias.
    pub grad_bias: Vec<f32>,
    logits: Vec<f32>,
    grad_logits: Vec<f32>,
    exps: Vec<f32>,
    lane_sums: Vec<f32>,
    rows_f32: Vec<f32>,
}

impl ChunkSums {
    /// Zeroed sums and scratch for a model of this shape.
    pub fn new(features: usize, classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            correct: 0,
            grad_weights: vec![0.0; features * classes],
            grad_bias: vec![0.0; classes],
            logits: vec![0.0; SCRATCH_ROWS * classes],
            grad_logits: vec![0.0; SCRATCH_ROWS * classes],
            exps: vec![0.0; fused::exps_len(classes)],
            lane_sums: vec![0.0; fused::lane_sums_len(classes)],
            rows_f32: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.loss_sum = 0.0;
        self.correct = 0;
        self.grad_weights.fill(0.0);
        self.grad_bias.fill(0.0);
    }
}

/// Forward and backward over the samples `rows`: overwrites `partial` with their
/// summed loss, correct count and summed gradient (packed like `weights`).
/// Meanwhile prefetches the rows `ahead`, the ones the caller computes next;
/// they do not change the result.
///
/// # Panics
/// If `partial` was made for another model shape, or a row is out of range.
pub fn step(
    weights: &Weights,
    images: &Images,
    labels: &[u8],
    rows: &[usize],
    ahead: &[usize],
    partial: &mut ChunkSums,
) {
    assert_eq!(images.features(), weights.features());
    assert_eq!(partial.grad_weights.len(), weights.packed.values().len());
    assert_eq!(partial.grad_bias.len(), weights.classes());
    match gather::rows(images) {
        AnyRows::F32(pixels) => weights.isa.dispatch(StepOp {
            weights,
            rows: pixels,
            labels,
            order: rows,
            ahead,
            partial,
        }),
        AnyRows::U8(pixels) => weights.isa.dispatch(StepOp {
            weights,
            rows: pixels,
            labels,
            order: rows,
            ahead,
            partial,
        }),
    }
}

/// The summed loss and the correct count over the samples `rows`, forward only.
pub fn loss_and_correct(
    weights: &Weights,
    images: &Images,
    labels: &[u8],
    rows: Range<usize>,
) -> (f64, usize) {
    evaluate(weights, images, labels, rows, None)
}

/// [`loss_and_correct`] that also writes each row's predicted class (the argmax
/// of its logits) into `predictions`, which holds one slot per row.
///
/// # Panics
/// If `predictions.len() != rows.len()`.
pub fn predict(
    weights: &Weights,
    images: &Images,
    labels: &[u8],
    rows: Range<usize>,
    predictions: &mut [usize],
) -> (f64, usize) {
    assert_eq!(predictions.len(), rows.len());
    evaluate(weights, images, labels, rows, Some(predictions))
}

fn evaluate(
    weights: &Weights,
    images: &Images,
    labels: &[u8],
    range: Range<usize>,
    predictions: Option<&mut [usize]>,
) -> (f64, usize) {
    assert_eq!(images.features(), weights.features());
    match gather::rows(images) {
        AnyRows::F32(rows) => weights.isa.dispatch(EvalOp {
            weights,
            rows,
            labels,
            range,
            predictions,
        }),
        AnyRows::U8(rows) => weights.isa.dispatch(EvalOp {
            weights,
            rows,
            labels,
            range,
            predictions,
        }),
    }
}
