//! Every block and tile size of the fused kernel, in one place, with the
//! checks that keep them consistent.
//!
//! The register tiles are chosen by the instruction set's register count: the
//! accumulators of a tile, the vectors it loads and one temporary must fit the
//! register file, or the compiler spills them to the stack inside the hottest
//! loop.

use super::backward::BackwardPanel;
use super::forward::ForwardTile;

/// Rows a minibatch chunk is cut into: each chunk's sums are computed by one
/// thread and added in chunk order, so the cuts (and the results) do not depend
/// on the thread count.
pub const CHUNK_ROWS: usize = 64;

/// Rows taken through forward, softmax and backward together: the backward
/// pass re-reads them from cache, and the gradient panel is loaded and stored
/// once per block rather than once per row. 32 rather than 16 (interleaved on
/// the Xeon AVX-512 machine): one thread 1.01x, the 40-model sweep 1.13x.
/// Any size gives the same bits (rows are independent forward, and added to
/// the gradient in row order whatever the block).
pub const BLOCK_ROWS: usize = 32;

/// Rows per evaluation task: fixed so that sums do not depend on the thread count.
pub const EVAL_CHUNK_ROWS: usize = 1024;

/// The most rows per GEMM call of the unfused baseline ([`super::gemm`]),
/// and its chunk on weights beyond half the L2 ([`super::Kernel::chunk_rows`]):
/// half a default minibatch, one chunk per thread on two cores. At 768
/// features x 1,000 classes on the Xeon (family 6 model 207), interleaved
/// (`perf/ab.sh`, 7 rounds): against chunks of 64, one thread 1.45x and two
/// 1.33x; against chunks of 256 (one per minibatch), one thread 0.94x and
/// two 1.61x.
pub const GEMM_ROWS: usize = 128;

/// Classes per forward class block, for weights of `classes` classes of
/// `vectors` vectors of `lanes` lanes each and forward tiles of
/// `tile_classes` classes: as many whole tiles as keep the block's weights
/// (whole rows) within half the L1 data cache, at least one tile, all the
/// classes when they fit. Every row tile of a row block then finds a class
/// block's weights in L1, and the weights are read from further out once per
/// row block rather than once per row tile: at 768 features x 1,000 classes
/// (3 MB, more than the L2) that is the difference between streaming them from
/// L3 sixteen times per block and once. Ten classes of the tutorial's 784
/// features are one block, as before. The blocks only order the work: the
/// bits are the same.
pub(super) fn forward_class_block(
    vectors: usize,
    classes: usize,
    lanes: usize,
    tile_classes: usize,
) -> usize {
    let per_class = vectors.max(1) * lanes * size_of::<f32>();
    let tiles = (super::l1d_bytes() / 2 / per_class / tile_classes).max(1);
    (tiles * tile_classes).min(classes.max(1))
}

/// Floats of forward accumulator space for a row block: one vector of the
/// widest instruction set per (row, class).
pub(super) fn lane_sums_len(classes: usize) -> usize {
    BLOCK_ROWS * classes * MAX_LANES
}

/// Floats of a row block's values of every class held rows in lanes (its
/// logits, exponentials or logit gradient: `[class][BLOCK_ROWS]`, whole
/// vectors of any instruction set since `BLOCK_ROWS` is a multiple of
/// [`MAX_LANES`]).
pub(super) fn in_lanes_len(classes: usize) -> usize {
    classes * BLOCK_ROWS
}

/// The widest vector of any instruction set, in f32 lanes (AVX-512): scratch
/// that holds vectors is sized for it.
pub const MAX_LANES: usize = 16;

/// The register tiles of one register-file size: a type per shape, so that
/// every op selects its tiles in one place (the plan's [`super::Tiles`], in
/// [`super::fused::run`]) and a test can run any shape on any instruction set.
pub(super) trait TileShape {
    /// The forward tile on rows as they are stored (bytes widened per load).
    type Forward: ForwardTile;
    /// The forward tile on byte rows widened to f32 once for several models
    /// (no widening per load).
    type WidenedForward: ForwardTile;
    /// The backward panel.
    type Backward: BackwardPanel;
}

/// A register tile or panel of `A x B` accumulators: rows by classes forward
/// ([`ForwardTile`]), classes by feature vectors backward ([`BackwardPanel`]).
pub(super) struct Tile<const A: usize, const B: usize>;

/// 16 vector registers (AVX2, scalar): forward 1 row x 10 classes (10
/// accumulators, the weights read straight from L1 by the FMAs), backward 5
/// classes x 2 vectors (10 accumulators, 2 pixel vectors, 1 broadcast). In
/// one-off comparisons on the Zen 2 development machine, a 10 x 1 backward
/// panel was slower (`perf annotate` showed the compiler moving its
/// accumulators between registers and the stack every row), and so was a
/// 2 x 5 forward tile on byte rows (each widened row vector costs a multiply
/// on the FMA pipes). On rows already widened for several models, 2 x 5 is the
/// faster one (+4 % in sweep epochs there): 1 x 10 loads 11 vectors per 10
/// FMAs, more than two loads a cycle keep up with, 2 x 5 loads 7.
pub(super) struct Narrow;

impl TileShape for Narrow {
    type Forward = Tile<1, 10>;
    type WidenedForward = Tile<2, 5>;
    type Backward = Tile<5, 2>;
}

/// 32 vector registers (AVX-512, and NEON, where these tiles have not been
/// measured): forward 2 rows x 10 classes, backward 10 classes x 2 vectors.
pub(super) struct Wide;

impl TileShape for Wide {
    type Forward = Tile<2, 10>;
    type WidenedForward = Tile<2, 10>;
    type Backward = Tile<10, 2>;
}

/// 32 vector registers, rows taller than classes: forward 4 rows x 5 classes
/// (each weight vector feeds four rows, nine loads per 20 FMAs against
/// [`Wide`]'s twelve, but byte rows are widened twice per row, once per class
/// tile), backward as [`Wide`]. Which is faster depends on the machine: the
/// plan decides ([`super::Tiles`]).
pub(super) struct Tall;

impl TileShape for Tall {
    type Forward = Tile<4, 5>;
    type WidenedForward = Tile<4, 5>;
    type Backward = Tile<10, 2>;
}

/// Whether a tile shape's accumulators and operands fit `registers` vector
/// registers (an accumulator per tile element, a vector per row or feature
/// vector loaded, one temporary), and its forward tiles divide a row block.
const fn fits<T: TileShape>(registers: usize) -> bool {
    const fn forward<F: ForwardTile>(registers: usize) -> bool {
        F::ROWS * F::CLASSES + F::ROWS < registers && BLOCK_ROWS.is_multiple_of(F::ROWS)
    }
    let backward = T::Backward::CLASSES * T::Backward::VECTORS + T::Backward::VECTORS < registers;
    forward::<T::Forward>(registers) && forward::<T::WidenedForward>(registers) && backward
}

const _: () = assert!(fits::<Narrow>(16) && fits::<Wide>(32) && fits::<Tall>(32));
const _: () = assert!(
    CHUNK_ROWS.is_multiple_of(BLOCK_ROWS),
    "a chunk is whole row blocks"
);
const _: () = assert!(EVAL_CHUNK_ROWS.is_multiple_of(BLOCK_ROWS));
const _: () = assert!(BLOCK_ROWS.is_multiple_of(MAX_LANES));
