//! The three implementations of a chunk's loss and gradient behind one trait,
//! so that training runs any of them through the same loop: the fused kernel
//! ([`Fused`]), the GEMM baseline ([`Gemm`]) and the f64 reference
//! ([`Reference`]). Each holds a model's weights in the layout it reads and
//! writes its gradient sums in that layout, so the update never converts.

use crate::data::Label;
use std::ops::Range;

use super::gemm::{self, GemmScratch};
use super::{ChunkSums, Isa, Kernel, Plan, Scratch, Weights};
use crate::data::{Images, Split};
use crate::model::Model;
use crate::reference;

/// An implementation of a chunk's loss and gradient, for one or more models
/// of one shape.
pub trait Engine: Sync {
    /// A model's weights in the layout this engine reads.
    type Weights: Clone + Send + Sync;

    /// The working space one thread reuses for every chunk it computes.
    type Scratch;

    /// Which kernel this is.
    fn kernel(&self) -> Kernel;

    /// The instruction set the engine's kernels and the update run with.
    fn isa(&self) -> Isa;

    /// `model` in this engine's layout.
    fn weights(&self, model: &Model) -> Self::Weights;

    /// The model `weights` hold, row-major.
    fn model(&self, weights: &Self::Weights) -> Model;

    /// Working space for `weights`' shape, for chunks of at most `rows` rows.
    fn scratch(&self, weights: &Self::Weights, rows: usize) -> Self::Scratch;

    /// The sums of the chunk `rows` for each model `weights[i]` into
    /// `sums[i]`, prefetching `ahead` (`chunk` is `(rows, ahead)`), working in
    /// `scratch`.
    fn step(
        &self,
        weights: &[&Self::Weights],
        train: &Split,
        chunk: (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut Self::Scratch,
    );

    /// The weights and the bias as flat slices, in the layout of the gradient
    /// sums.
    fn params(weights: &mut Self::Weights) -> (&mut [f32], &mut [f32]);

    /// Forward only over the consecutive images `rows`: each model's summed
    /// loss and correct count.
    fn loss_and_correct(
        &self,
        weights: &[&Self::Weights],
        images: &Images,
        labels: &[Label],
        rows: Range<usize>,
    ) -> Vec<(f64, usize)>;
}

/// The fused kernel on packed weights, with an instruction set and a plan;
/// several models share each pass over the rows.
pub struct Fused(pub Isa, pub Plan);

impl Engine for Fused {
    type Weights = Weights;
    type Scratch = Scratch;

    fn kernel(&self) -> Kernel {
        Kernel::Fused
    }

    fn isa(&self) -> Isa {
        self.0
    }

    fn weights(&self, model: &Model) -> Weights {
        Weights::planned(self.0, self.1, model)
    }

    fn model(&self, weights: &Weights) -> Model {
        weights.to_model()
    }

    fn scratch(&self, weights: &Weights, _: usize) -> Scratch {
        Scratch::new(weights.classes())
    }

    fn step(
        &self,
        weights: &[&Weights],
        train: &Split,
        chunk: (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut Scratch,
    ) {
        super::step_models(weights, &train.images, &train.labels, chunk, sums, scratch);
    }

    fn params(weights: &mut Weights) -> (&mut [f32], &mut [f32]) {
        (weights.packed.values_mut(), &mut weights.bias)
    }

    /// All models in one pass over the rows.
    fn loss_and_correct(
        &self,
        weights: &[&Weights],
        images: &Images,
        labels: &[Label],
        rows: Range<usize>,
    ) -> Vec<(f64, usize)> {
        super::models_loss_and_correct(weights, images, labels, rows)
    }
}

/// The GEMM baseline on row-major weights, its softmax pass compiled for the
/// instruction set; one model after another (the baseline has no shared pass).
pub struct Gemm(pub Isa);

impl Engine for Gemm {
    type Weights = Model;
    type Scratch = GemmScratch;

    fn kernel(&self) -> Kernel {
        Kernel::Gemm
    }

    fn isa(&self) -> Isa {
        self.0
    }

    fn weights(&self, model: &Model) -> Model {
        model.clone()
    }

    fn model(&self, weights: &Model) -> Model {
        weights.clone()
    }

    fn scratch(&self, model: &Model, rows: usize) -> GemmScratch {
        GemmScratch::new(model.features, model.classes, rows)
    }

    fn step(
        &self,
        models: &[&Model],
        train: &Split,
        (rows, _): (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut GemmScratch,
    ) {
        let (images, labels) = (&train.images, &train.labels[..]);
        for (model, sums) in models.iter().zip(sums) {
            gemm::step(self.0, model, images, labels, rows, sums, scratch);
        }
    }

    fn params(model: &mut Model) -> (&mut [f32], &mut [f32]) {
        (&mut model.weights, &mut model.bias)
    }

    fn loss_and_correct(
        &self,
        models: &[&Model],
        images: &Images,
        labels: &[Label],
        rows: Range<usize>,
    ) -> Vec<(f64, usize)> {
        let one =
            |model: &&Model| gemm::loss_and_correct(self.0, model, images, labels, rows.clone());
        models.iter().map(one).collect()
    }
}

/// The naive reference ([`crate::reference`]) on row-major weights: each
/// chunk's sums accumulated in f64 and rounded once to f32, so that it trains
/// through the same update as the fast engines. The update itself runs as
/// scalar code.
pub struct Reference;

impl Engine for Reference {
    type Weights = Model;
    type Scratch = ();

    fn kernel(&self) -> Kernel {
        Kernel::Reference
    }

    fn isa(&self) -> Isa {
        Isa::scalar()
    }

    fn weights(&self, model: &Model) -> Model {
        model.clone()
    }

    fn model(&self, weights: &Model) -> Model {
        weights.clone()
    }

    fn scratch(&self, _: &Model, _: usize) {}

    fn step(
        &self,
        models: &[&Model],
        train: &Split,
        (rows, _): (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        (): &mut (),
    ) {
        for (model, out) in models.iter().zip(sums) {
            let exact = reference::sums(model, &train.images, &train.labels, rows);
            out.loss_sum = exact.loss_sum;
            out.correct = exact.correct;
            for (o, &g) in out.grad_weights.iter_mut().zip(&exact.grad_weights) {
                *o = g as f32;
            }
            for (o, &g) in out.grad_bias.iter_mut().zip(&exact.grad_bias) {
                *o = g as f32;
            }
        }
    }

    fn params(model: &mut Model) -> (&mut [f32], &mut [f32]) {
        (&mut model.weights, &mut model.bias)
    }
    fn loss_and_correct(
        &self,
        models: &[&Model],
        images: &Images,
        labels: &[Label],
        rows: Range<usize>,
    ) -> Vec<(f64, usize)> {
        let one = |model: &&Model| reference::loss_and_correct(model, images, labels, rows.clone());
        models.iter().map(one).collect()
    }
}
