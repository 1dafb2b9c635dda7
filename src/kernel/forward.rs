//! The forward micro-kernel: partial dot products of a few rows with a tile of
//! classes' packed weights over a block of feature vectors.

use std::ops::Range;

use pulp::Simd;

use super::gather::{Pixel, per_line, prefetch};

/// `acc[r][c] += x[r] · W[c0 + c]`, lane-wise, over the feature vectors
/// `vectors`, for `R` rows and `C` classes; `acc[r][c]` is `acc[r * stride + c]`
/// and `w` is the vector part of the packed weights ([`super::packing`]) of
/// `classes` classes.
///
/// Each pixel vector is loaded (and, for bytes, widened) once and used `C`
/// times, each weight vector is loaded once and used `R` times; the `R x C`
/// accumulators stay in registers for the whole block. While it runs, one
/// cache line of each `ahead` row is prefetched per cache line of pixels read,
/// so the rows a later tile needs arrive spread over the loop rather than in a
/// burst.
///
/// # Panics
/// If a row, the weights or `acc` are shorter than the tile reaches.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate<S: Simd, P: Pixel, const R: usize, const C: usize>(
    simd: S,
    x: [&[P]; R],
    w: &[S::f32s],
    (classes, c0): (usize, usize),
    vectors: Range<usize>,
    ahead: [&[P]; R],
    acc: &mut [S::f32s],
    stride: usize,
) {
    let lanes = S::F32_LANES;
    assert!(c0 + C <= classes);
    let mut x_vectors =
        x.map(|row| row[vectors.start * lanes..vectors.end * lanes].chunks_exact(lanes));
    let w_block = &w[vectors.start * classes..vectors.end * classes];
    let mut sums = [[simd.splat_f32s(0.0); C]; R];
    for r in 0..R {
        sums[r].copy_from_slice(&acc[r * stride..r * stride + C]);
    }
    let prefetch_every = (per_line::<P>() / lanes).max(1);
    for (v, w_vector) in vectors.zip(w_block.chunks_exact(classes)) {
        if v % prefetch_every == 0 {
            for row in ahead {
                prefetch(row, v * lanes);
            }
        }
        let w_tile: &[S::f32s; C] = w_vector[c0..c0 + C].try_into().expect("C classes");
        let mut xv = [simd.splat_f32s(0.0); R];
        for r in 0..R {
            xv[r] = P::load(
                simd,
                x_vectors[r]
                    .next()
                    .expect("as many pixel vectors as weight vectors"),
            );
        }
        for c in 0..C {
            for r in 0..R {
                sums[r][c] = simd.mul_add_e_f32s(xv[r], w_tile[c], sums[r][c]);
            }
        }
    }
    for r in 0..R {
        acc[r * stride..r * stride + C].copy_from_slice(&sums[r]);
    }
}

/// `x · w` for the features past the last whole vector (`x` the whole row,
/// `w` one class's part of the packed tail), in scalar code.
#[inline(always)]
pub(super) fn scalar_tail<P: Pixel>(x: &[P], w: &[f32]) -> f32 {
    x[x.len() - w.len()..]
        .iter()
        .zip(w)
        .map(|(&p, &w)| p.to_f32() * w)
        .sum()
}
