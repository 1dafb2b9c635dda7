//! The full-batch loss and gradient of many models at fixed weights, in one
//! pass over the training rows: what a quasi-Newton solver asks for.
//!
//! The rows are cut into fixed chunks of [`PASS_CHUNK_ROWS`]; the pool's
//! threads compute the chunks of a block, each a contiguous share (every
//! model on each chunk, so the rows are read once for all of them), then add the block's chunk sums in
//! chunk order into each model's f64 sums, split by gradient component
//! across the threads. Neither the chunks nor the order of the sums depend
//! on the thread count, so the sums are the same bits for any.

use rayon::prelude::*;

use crate::data::Split;
use crate::kernel::{ChunkSums, Engine};

/// Rows per chunk of the pass: enough that adding the chunks' gradients
/// costs a small fraction of computing them (for ten classes, a chunk's
/// forward and backward take 1,000 times the FLOP of adding its gradient).
pub const PASS_CHUNK_ROWS: usize = 512;

/// Bytes of chunk sums a pass holds at once, over all models; a block takes
/// as many chunks as fit (but at least one per thread).
const BLOCK_BYTES: usize = 256 << 20;

/// Gradient components one thread adds at a time in the reduction.
const REDUCE_PIECE: usize = 4096;

/// A model's sums over the rows of a pass.
#[derive(Debug, Clone, PartialEq)]
pub struct PassSums {
    /// Summed cross-entropy loss.
    pub loss_sum: f64,
    /// Rows classified correctly.
    pub correct: usize,
    /// Summed gradient: the weights' in the engine's layout, then the bias.
    pub gradient: Vec<f64>,
}

/// The chunk sums of one block of a pass, for up to `models` models:
/// allocated once for a whole fit, not once per pass.
pub struct PassBuffers {
    sums: Vec<Vec<ChunkSums>>,
}

impl PassBuffers {
    /// Buffers for passes over `rows` rows with up to `models` models of
    /// `features x classes`, on `threads` threads.
    pub fn new(
        (features, classes): (usize, usize),
        models: usize,
        rows: usize,
        threads: usize,
    ) -> Self {
        let block = block_chunks((features, classes), models, rows, threads);
        let sums = (0..block)
            .map(|_| {
                (0..models)
                    .map(|_| ChunkSums::new(features, classes))
                    .collect()
            })
            .collect();
        Self { sums }
    }

    /// The bytes [`PassBuffers::new`] allocates for these arguments.
    pub fn bytes(
        (features, classes): (usize, usize),
        models: usize,
        rows: usize,
        threads: usize,
    ) -> u64 {
        let block = block_chunks((features, classes), models, rows, threads) as u64;
        block
            .saturating_mul(models as u64)
            .saturating_mul(((features + 1) * classes * size_of::<f32>()) as u64)
    }
}

/// Chunks in a block: as many as [`BLOCK_BYTES`] holds for every model, at
/// least one per thread, at most every chunk of `rows`.
fn block_chunks(
    (features, classes): (usize, usize),
    models: usize,
    rows: usize,
    threads: usize,
) -> usize {
    let per_chunk = models
        .saturating_mul((features + 1) * classes)
        .saturating_mul(size_of::<f32>());
    (BLOCK_BYTES / per_chunk.max(1))
        .max(threads)
        .min(rows.div_ceil(PASS_CHUNK_ROWS))
        .max(1)
}

/// Each model's sums over the training rows `rows` of `train`, with the
/// weights `weights` (of `classes` classes, at most as many models as
/// `buffers` holds), on the current rayon pool.
pub fn pass<E: Engine>(
    engine: &E,
    (train, classes): (&Split, usize),
    rows: &[usize],
    weights: &[&E::Weights],
    buffers: &mut PassBuffers,
) -> Vec<PassSums> {
    let features = train.images.features();
    let parameters = (features + 1) * classes;
    let mut totals: Vec<PassSums> = weights
        .iter()
        .map(|_| PassSums {
            loss_sum: 0.0,
            correct: 0,
            gradient: vec![0.0; parameters],
        })
        .collect();
    if weights.is_empty() || rows.is_empty() {
        return totals;
    }
    let chunks: Vec<&[usize]> = rows.chunks(PASS_CHUNK_ROWS).collect();
    let block = buffers.sums.len();
    assert!(
        buffers.sums.iter().all(|c| c.len() >= weights.len()),
        "buffers for every model"
    );
    for (b, block_chunks) in chunks.chunks(block).enumerate() {
        let used = &mut buffers.sums[..block_chunks.len()];
        // One contiguous share per thread: the kernel reads its rows in
        // order. (Rayon's adaptive splitting, one chunk at a time, measured
        // no faster on two threads than on one.)
        let threads = rayon::current_num_threads();
        let share = used.len().div_ceil(threads);
        used.par_chunks_mut(share)
            .enumerate()
            .for_each(|(p, part)| {
                let mut scratch = engine.scratch(weights[0], PASS_CHUNK_ROWS);
                for (j, chunk_sums) in part.iter_mut().enumerate() {
                    let i = p * share + j;
                    let next = chunks.get(b * block + i + 1).copied().unwrap_or(&[]);
                    let models = &mut chunk_sums[..weights.len()];
                    models.iter_mut().for_each(ChunkSums::reset);
                    let mut targets: Vec<&mut ChunkSums> = models.iter_mut().collect();
                    engine.step(
                        weights,
                        train,
                        (block_chunks[i], next),
                        &mut targets,
                        &mut scratch,
                    );
                }
            });
        for (m, total) in totals.iter_mut().enumerate() {
            add_in_chunk_order(total, used, m, features * classes);
        }
    }
    totals
}

/// Adds model `m`'s sums of every chunk of `block`, in chunk order, into
/// `total` (the weight gradient's `weight_len` values, then the bias).
fn add_in_chunk_order(total: &mut PassSums, block: &[Vec<ChunkSums>], m: usize, weight_len: usize) {
    for chunk in block {
        total.loss_sum += chunk[m].loss_sum;
        total.correct += chunk[m].correct;
    }
    let (weights, bias) = total.gradient.split_at_mut(weight_len);
    weights
        .par_chunks_mut(REDUCE_PIECE)
        .enumerate()
        .for_each(|(p, piece)| {
            let start = p * REDUCE_PIECE;
            for chunk in block {
                let values = &chunk[m].grad_weights[start..start + piece.len()];
                for (t, v) in piece.iter_mut().zip(values) {
                    *t += f64::from(*v);
                }
            }
        });
    for chunk in block {
        for (t, v) in bias.iter_mut().zip(&chunk[m].grad_bias) {
            *t += f64::from(*v);
        }
    }
}
