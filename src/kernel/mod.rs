//! The fused minibatch kernel: logits, log-softmax, loss, accuracy and gradient
//! in one pass over the rows.
//!
//! Why it can fuse: the gradient of the loss with respect to a row's logits,
//! `softmax(z) - onehot(label)`, depends on that row's own logits and label
//! only, so the backward pass of a block of rows can start as soon as their
//! forward pass ends, while the rows are still in cache, and no minibatch-wide
//! intermediate is ever written.
//!
//! A minibatch is cut into chunks of [`blocking::CHUNK_ROWS`] rows (the unit a
//! thread computes) and a chunk into blocks of [`blocking::BLOCK_ROWS`] rows. For
//! each block ([`fused`] drives the three passes):
//!
//! 1. **forward** ([`forward`]): each row's logits, feature block by feature
//!    block (the [`Plan`]'s forward block, so that the block of packed
//!    weights ([`packing`]) stays in L1 while every row of the block reuses it),
//!    in register tiles of rows by classes: with the ten classes the tiles are
//!    tuned for, each pixel vector is loaded once per ten FMAs; byte pixels are
//!    widened to their exact f32 values in registers ([`gather`]) and the
//!    images' scale (1/255) is applied once per logit, and one cache line of a
//!    row the plan's distance ahead is prefetched per line read (and the
//!    first line of each row of the next block, for its page walk); the
//!    accumulators of a row group are summed by one transposing tree per class
//!    ([`lanes`]), leaving each class's logits with rows in lanes;
//! 2. **softmax** ([`softmax`]): a numerically stable log-softmax across the
//!    rows in lanes (maximum, argmax, `exp`, sum and gradient as vector
//!    operations), giving the loss, the argmax and the gradient of the loss
//!    with respect to the logits;
//! 3. **backward** ([`backward`]): `dW += Gᵀ X` into the packed gradient, on
//!    panels of classes by two feature vectors, re-reading the block's rows from
//!    cache (the scale folded into `G`, ten multiplies a row), and the bias
//!    gradient.
//!
//! Each row is thus read from memory once per step, and costs 2 x 7,840 FMAs
//! (31,360 FLOP) for 784 features and 10 classes. All kernels are generic over
//! [`pulp::Simd`] and run with the instruction set an [`Isa`] names (AVX-512,
//! AVX2+FMA, NEON or scalar); the tile shapes follow the register count
//! ([`blocking`]). Other class counts run the same code, with leftover classes
//! in tiles of one; many classes are taken in class blocks whose weights stay
//! in L1 (`forward.rs`'s class blocks).

mod backward;
pub mod blocking;
mod engine;
mod entry;
mod forward;
mod fused;
mod gather;
pub mod gemm;
mod isa;
mod lanes;
pub mod packing;
mod plan;
mod softmax;
mod sums;
mod tiles;

pub use engine::{Engine, Fused, Gemm, Reference};
pub use isa::Isa;
pub use packing::Packed;
pub use plan::{MAX_PREFETCH_ROWS, MIN_FORWARD_BLOCK_BYTES, Plan, PlanError, l1d_bytes};
pub use sums::ChunkSums;
pub use tiles::Tiles;

use crate::model::Model;

pub use entry::{
    logits, loss_and_correct, loss_correct_and_predictions, models_loss_and_correct, step,
    step_models,
};

/// A model's weights in the layout the fused kernel reads ([`packing`]),
/// packed for one instruction set, with its bias and the [`Plan`] the kernel
/// computes on them with.
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
    plan: Plan,
    /// The weight matrix, packed.
    pub packed: Packed,
    /// One bias per class.
    pub bias: Vec<f32>,
}

impl Weights {
    /// `model`'s weights packed for `isa`, with its default plan
    /// ([`Plan::default_for`]).
    pub fn new(isa: Isa, model: &Model) -> Self {
        Self::planned(isa, Plan::default_for(isa), model)
    }

    /// `model`'s weights packed for `isa`, computed on with `plan` (any plan
    /// gives the same bits).
    pub fn planned(isa: Isa, plan: Plan, model: &Model) -> Self {
        Self {
            isa,
            plan,
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

    /// The plan the kernel computes on these weights with.
    pub fn plan(&self) -> Plan {
        self.plan
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

/// Work that runs with any [`Engine`] ([`Kernel::run`] picks it): a closure
/// cannot be generic over the engine, so this is a trait, as pulp's
/// `WithSimd` is for instruction sets.
pub trait EngineJob {
    /// What the work returns.
    type Output;
    /// Does the work with `engine`.
    fn run<E: Engine>(self, engine: &E) -> Self::Output;
}

/// Which implementation computes the loss and gradient: the choice `train`,
/// `bench` and the tests make, named here once; each is an [`Engine`], and
/// [`Kernel::run`] is the one place a choice becomes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// The fused SIMD kernel of this module, parallel over fixed chunks.
    #[default]
    Fused,
    /// The unfused baseline on `matrixmultiply::sgemm` ([`gemm`]), parallel
    /// over the same chunks.
    Gemm,
    /// The naive f64 reference ([`crate::reference`]), parallel over the same
    /// chunks, its sums rounded to f32 once per chunk.
    Reference,
}

impl Kernel {
    /// The faster kernel for models of `features x classes`: the fused one
    /// while the weights take at most half the L2 cache (with their gradient
    /// beside them, each row block then reads both from L2), the GEMM
    /// baseline beyond, where the fused kernel streams every weight from L3
    /// for each row block and `matrixmultiply`'s blocking reuses them.
    ///
    /// Measured with `softreg train --kernel fused|gemm` on random f32 features
    /// (Intel Xeon family 6 model 207, L2 2 MB, one thread, samples/s; fused
    /// against GEMM): 768 x 10 3.5x, x 47 1.22x, x 100 1.38x, x 200 1.18x
    /// (weights 614 KB), x 400 0.72x (1.23 MB), x 1000 0.54x (3.1 MB); 2048 x 47
    /// 2.0x, x 100 1.71x (819 KB).
    pub fn for_shape(features: usize, classes: usize) -> Kernel {
        if weights_fit_half_l2(features, classes) {
            Kernel::Fused
        } else {
            Kernel::Gemm
        }
    }

    /// Runs `job` with this kernel's engine, on `isa` with `plan` (the plan
    /// only matters to the fused kernel, the instruction set not to the
    /// reference).
    pub fn run<J: EngineJob>(self, isa: Isa, plan: Plan, job: J) -> J::Output {
        match self {
            Kernel::Fused => job.run(&Fused(isa, plan)),
            Kernel::Gemm => job.run(&Gemm(isa)),
            Kernel::Reference => job.run(&Reference),
        }
    }

    /// Rows of the chunks a minibatch is cut into for this kernel on models
    /// of `features x classes` (each chunk's sums computed by one thread and
    /// added in chunk order, so the results do not depend on the thread
    /// count): [`blocking::CHUNK_ROWS`], but [`blocking::GEMM_ROWS`] for the
    /// GEMM baseline on weights beyond half the L2 ([`Kernel::for_shape`]'s
    /// rule): `matrixmultiply` then packs the weights twice per default
    /// minibatch rather than four times, and the update adds two weight
    /// gradients rather than four.
    pub fn chunk_rows(self, features: usize, classes: usize) -> usize {
        match self {
            Kernel::Gemm if !weights_fit_half_l2(features, classes) => blocking::GEMM_ROWS,
            _ => blocking::CHUNK_ROWS,
        }
    }

    /// The name `--kernel` takes: `fused`, `gemm` or `reference`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Fused => "fused",
            Kernel::Gemm => "gemm",
            Kernel::Reference => "reference",
        }
    }

    /// What runs with `isa` and `plan`, for a run's header: `fused avx2
    /// (narrow,block=21K,prefetch=16)`, `gemm (matrixmultiply)`, `reference`.
    pub fn describe(self, isa: Isa, plan: Plan) -> String {
        match self {
            Kernel::Fused => format!("fused {} ({plan})", isa.name()),
            Kernel::Gemm => "gemm (matrixmultiply)".to_string(),
            Kernel::Reference => "reference".to_string(),
        }
    }
}

/// Whether the f32 weights of `features x classes` take at most half the L2
/// cache: where the fused kernel finds them (and their gradient) in L2 for
/// every row block.
fn weights_fit_half_l2(features: usize, classes: usize) -> bool {
    features.saturating_mul(classes).saturating_mul(4) <= plan::l2_bytes() / 2
}

/// The fused kernel's working space for one thread: a row block's logits,
/// their gradient, exponentials and the forward accumulators. Sized by the
/// class count; reused for every chunk the thread computes.
#[derive(Debug, Clone)]
pub struct Scratch {
    logits: Vec<f32>,
    grad_logits: Vec<f32>,
    exps: Vec<f32>,
    lane_sums: Vec<f32>,
    /// A block of byte rows widened to f32, for several models at once.
    widened: Vec<f32>,
}

impl Scratch {
    /// Working space for a model with `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            logits: vec![0.0; blocking::in_lanes_len(classes)],
            grad_logits: vec![0.0; blocking::in_lanes_len(classes)],
            exps: vec![0.0; blocking::in_lanes_len(classes)],
            lane_sums: vec![0.0; blocking::lane_sums_len(classes)],
            widened: Vec::new(),
        }
    }
}
