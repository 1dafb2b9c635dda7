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

#[cfg(test)]
mod tests {
    use pulp::{Simd, WithSimd};

    use super::accumulate;
    use crate::kernel::{Isa, Packed};

    /// A 2-row x 3-class tile starting at class 1 of 5, over all feature
    /// vectors, on every instruction set: each accumulator's lanes sum to the
    /// f64 dot product, and the accumulators outside the tile stay untouched.
    #[test]
    fn a_tile_accumulates_the_dot_products_of_its_rows_and_classes() {
        const CLASSES: usize = 5;
        for isa in Isa::available() {
            let features = 3 * isa.lanes();
            let weights: Vec<f32> = (0..CLASSES * features)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let rows: Vec<Vec<f32>> = (0..2)
                .map(|r| {
                    (0..features)
                        .map(|f| ((r * 31 + f * 3) % 17) as f32 / 16.0)
                        .collect()
                })
                .collect();
            let packed = Packed::from_row_major(isa, features, CLASSES, &weights);

            struct Tile<'a>(&'a Packed, &'a [Vec<f32>]);
            impl WithSimd for Tile<'_> {
                type Output = Vec<f32>;
                #[inline(always)]
                fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
                    let Tile(packed, rows) = self;
                    let w = S::as_simd_f32s(packed.parts().0).0;
                    let vectors = rows[0].len() / S::F32_LANES;
                    let mut acc = [simd.splat_f32s(0.0); 2 * CLASSES];
                    let x = [&rows[0][..], &rows[1][..]];
                    let (tile, stride) = ((CLASSES, 1), CLASSES);
                    accumulate::<S, f32, 2, 3>(
                        simd,
                        x,
                        w,
                        tile,
                        0..vectors,
                        [&[], &[]],
                        &mut acc[1..],
                        stride,
                    );
                    acc.iter().map(|&v| simd.reduce_sum_f32s(v)).collect()
                }
            }
            let sums = isa.dispatch(Tile(&packed, &rows));
            for r in 0..2 {
                for c in 0..CLASSES {
                    let got = sums[r * CLASSES + c];
                    if (1..4).contains(&c) {
                        let exact: f64 = (0..features)
                            .map(|f| f64::from(rows[r][f]) * f64::from(weights[c * features + f]))
                            .sum();
                        assert!(
                            (f64::from(got) - exact).abs() <= 1e-5 * exact.abs().max(1.0),
                            "{}: row {r} class {c}: {got} vs {exact}",
                            isa.name()
                        );
                    } else {
                        assert_eq!(
                            got,
                            0.0,
                            "{}: row {r} class {c} is outside the tile",
                            isa.name()
                        );
                    }
                }
            }
        }
    }
}
