//! Every block size of the fused kernel, in one place, with the checks that
//! keep them consistent; the register tiles that compute a block are
//! [`super::tiles`]'s.

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

/// A register tile or panel of `A x B` accumulators: rows by classes forward
/// ([`super::forward::ForwardTile`]), classes by feature vectors backward ([`super::backward::BackwardPanel`]).
pub(super) struct Tile<const A: usize, const B: usize>;

const _: () = assert!(
    CHUNK_ROWS.is_multiple_of(BLOCK_ROWS),
    "a chunk is whole row blocks"
);
const _: () = assert!(EVAL_CHUNK_ROWS.is_multiple_of(BLOCK_ROWS));
const _: () = assert!(BLOCK_ROWS.is_multiple_of(MAX_LANES));
