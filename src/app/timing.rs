//! Tools every measurement of the machine shares: the spread of repeated
//! timings, and one minibatch through the fused kernel as training runs it.

use crate::data::Split;
use crate::kernel::{self, ChunkSums, Scratch, Weights};
use crate::train::CHUNK_ROWS;

/// The smallest, middle and largest of some measurements (the upper middle
/// of an even count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The smallest.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, at least one.
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self {
            min: values[0],
            median: values[values.len() / 2],
            max: values[values.len() - 1],
        }
    }
}

/// One minibatch `rows` through the fused kernel in training's chunks, one
/// thread, each chunk prefetching the next as training does; returns the last
/// chunk's summed loss (for `black_box`).
pub fn fused_minibatch(
    weights: &Weights,
    train: &Split,
    rows: &[usize],
    sums: &mut ChunkSums,
    scratch: &mut Scratch,
) -> f64 {
    let mut chunks = rows.chunks(CHUNK_ROWS).peekable();
    while let Some(chunk) = chunks.next() {
        let ahead = chunks.peek().copied().unwrap_or(&[]);
        kernel::step(
            weights,
            &train.images,
            &train.labels,
            chunk,
            ahead,
            sums,
            scratch,
        );
    }
    sums.loss_sum
}
