//! Every block and tile size of the fused kernel, in one place, with the
//! checks that keep them consistent.
//!
//! The register tiles are chosen by the instruction set's register count: the
//! accumulators of a tile, the vectors it loads and one temporary must fit the
//! register file, or the compiler spills them to the stack inside the hottest
//! loop.

/// Rows a minibatch chunk is cut into: each chunk's sums are computed by one
/// thread and added in chunk order, so the cuts (and the results) do not depend
/// on the thread count.
pub const CHUNK_ROWS: usize = 64;

/// Rows taken through forward, softmax and backward together: the backward
/// pass re-reads them from cache, and the gradient panel is loaded and stored
/// once per block rather than once per row.
pub const BLOCK_ROWS: usize = 16;

/// Feature vectors per forward block: the block of every class's packed
/// weights (`49 x 10 x 32` bytes = 15.7 KB with AVX2) stays in L1 while every
/// row of the row block reuses it. Streaming all 31 KB of weights per row does
/// not fit a 32 KB L1 beside the rows and runs at L2 bandwidth; smaller blocks
/// store and reload the accumulators more often (14 vectors was slower in a
/// one-off comparison on the Zen 2 development machine).
pub const BLOCK_VECTORS: usize = 49;

/// Rows of a training sequence ahead of the row being computed whose pixels are
/// prefetched, one cache line per cache line of pixels the forward loop reads.
pub const PREFETCH_ROWS: usize = 16;

/// Rows per evaluation task: fixed so that sums do not depend on the thread count.
pub const EVAL_CHUNK_ROWS: usize = 1024;

/// The widest vector of any instruction set, in f32 lanes (AVX-512): scratch
/// that holds vectors is sized for it.
pub const MAX_LANES: usize = 16;

/// A register tile shape for one register-file size.
#[derive(Debug, Clone, Copy)]
pub struct Tiles {
    /// Rows per forward tile (each with [`Tiles::forward_classes`] accumulators).
    pub forward_rows: usize,
    /// Classes per forward tile: each loaded pixel vector feeds this many FMAs.
    pub forward_classes: usize,
    /// Rows per forward tile on byte rows widened to f32 once for several
    /// models (no widening per load).
    pub widened_forward_rows: usize,
    /// Classes per forward tile on widened rows.
    pub widened_forward_classes: usize,
    /// Classes per backward panel.
    pub backward_classes: usize,
    /// Feature vectors per backward panel: each broadcast gradient value feeds
    /// this many FMAs.
    pub backward_vectors: usize,
}

/// 16 vector registers (AVX2, NEON, scalar): forward 1 row x 10 classes (10
/// accumulators, the weights read straight from L1 by the FMAs), backward 5
/// classes x 2 vectors (10 accumulators, 2 pixel vectors, 1 broadcast). In
/// one-off comparisons on the Zen 2 development machine, a 10 x 1 backward
/// panel was slower (`perf annotate` showed the compiler moving its
/// accumulators between registers and the stack every row), and so was a
/// 2 x 5 forward tile on byte rows (each widened row vector costs a multiply
/// on the FMA pipes). On rows already widened for several models, 2 x 5 is the
/// faster one (+4 % in sweep epochs there): 1 x 10 loads 11 vectors per 10
/// FMAs, more than two loads a cycle keep up with, 2 x 5 loads 7.
pub const NARROW: Tiles = Tiles {
    forward_rows: 1,
    forward_classes: 10,
    widened_forward_rows: 2,
    widened_forward_classes: 5,
    backward_classes: 5,
    backward_vectors: 2,
};

/// 32 vector registers (AVX-512): forward 2 rows x 10 classes, backward 10
/// classes x 2 vectors.
pub const WIDE: Tiles = Tiles {
    forward_rows: 2,
    forward_classes: 10,
    widened_forward_rows: 2,
    widened_forward_classes: 10,
    backward_classes: 10,
    backward_vectors: 2,
};

/// Whether a tile shape's accumulators and operands fit `registers` vector
/// registers.
const fn fits(tiles: Tiles, registers: usize) -> bool {
    let forward = tiles.forward_rows * tiles.forward_classes + tiles.forward_rows + 1;
    let widened =
        tiles.widened_forward_rows * tiles.widened_forward_classes + tiles.widened_forward_rows + 1;
    let backward = tiles.backward_classes * tiles.backward_vectors + tiles.backward_vectors + 1;
    forward <= registers && widened <= registers && backward <= registers
}

const _: () = assert!(fits(NARROW, 16) && fits(WIDE, 32));
const _: () = assert!(
    CHUNK_ROWS.is_multiple_of(BLOCK_ROWS),
    "a chunk is whole row blocks"
);
const _: () = assert!(BLOCK_ROWS.is_multiple_of(WIDE.forward_rows));
const _: () = assert!(BLOCK_ROWS.is_multiple_of(WIDE.widened_forward_rows));
const _: () = assert!(BLOCK_ROWS.is_multiple_of(NARROW.widened_forward_rows));
const _: () = assert!(EVAL_CHUNK_ROWS.is_multiple_of(BLOCK_ROWS));
const _: () = assert!(PREFETCH_ROWS > 0 && BLOCK_VECTORS > 0);
