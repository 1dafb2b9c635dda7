//! The forward pass: a row block's logits ([`block`], the driver), feature
//! block by feature block, in register tiles of rows by classes
//! ([`accumulate`], the micro-kernel).

use std::ops::Range;

use pulp::Simd;

use super::Weights;
use super::blocking::{BLOCK_ROWS, MAX_LANES, Tile, in_lanes_len};
use super::gather::{Pixel, per_line, prefetch};
use super::lanes::transposed_sums;

/// A forward register tile of `ROWS` rows by `CLASSES` classes, and the
/// forward pass of a row block in such tiles.
pub(super) trait ForwardTile {
    /// Rows per tile: each weight vector loaded feeds this many FMAs.
    const ROWS: usize;
    /// Classes per tile: each pixel vector loaded feeds this many FMAs.
    const CLASSES: usize;

    /// [`block`] in tiles of this shape (`weights` with the pixels' scale).
    fn block<'a, S: Simd, P: Pixel + 'a>(
        simd: S,
        weights: (&Weights, f32),
        x: &[&[P]],
        ahead: impl Fn(usize) -> &'a [P],
        lane_sums: &mut [f32],
        logits: &mut [f32],
    );
}

impl<const R: usize, const C: usize> ForwardTile for Tile<R, C> {
    const ROWS: usize = R;
    const CLASSES: usize = C;

    #[inline(always)]
    fn block<'a, S: Simd, P: Pixel + 'a>(
        simd: S,
        weights: (&Weights, f32),
        x: &[&[P]],
        ahead: impl Fn(usize) -> &'a [P],
        lane_sums: &mut [f32],
        logits: &mut [f32],
    ) {
        block::<S, P, R, C>(simd, weights, x, ahead, lane_sums, logits);
    }
}

/// `logits[c * BLOCK_ROWS + k] = scale * (x[k] · W[c]) + b[c]` for the rows
/// of a block, rows in lanes as the softmax takes them (`x` the pixels as
/// held, `scale` the images' factor to their values), class block by class
/// block ([`forward_class_block`]) and within one feature block by feature
/// block (so that the block of the class block's weights stays in L1 while
/// every row tile reuses it), in tiles of `R` rows by `C` classes (rows and
/// classes left over in tiles of one); row `k` prefetches `ahead(k)` during
/// the first class block.
///
/// The vector accumulators of every (row, class) pair of a class block live
/// in `lane_sums` between feature blocks and are summed across lanes at the
/// block's end, a row group's sums of one class transposed into one vector.
/// Each accumulator adds its products in feature order whatever the tile
/// shape and the blocks, so every shape gives the same bits.
#[inline(always)]
pub(super) fn block<'a, S: Simd, P: Pixel + 'a, const R: usize, const C: usize>(
    simd: S,
    (weights, scale): (&Weights, f32),
    x: &[&[P]],
    ahead: impl Fn(usize) -> &'a [P],
    lane_sums: &mut [f32],
    logits: &mut [f32],
) {
    let (rows, classes) = (x.len(), weights.classes());
    let (w, w_tail) = weights.packed.parts();
    let w = S::as_simd_f32s(w).0;
    let lanes = S::F32_LANES;
    let vectors = w.len() / classes.max(1);
    let tail = w_tail.len() / classes.max(1);
    let zero = simd.splat_f32s(0.0);
    let out = S::as_mut_simd_f32s(&mut logits[..in_lanes_len(classes)]).0;
    let class_block = forward_class_block(vectors, classes, lanes, C);
    for first in (0..classes).step_by(class_block) {
        let block_classes = first..(first + class_block).min(classes);
        let width = block_classes.len();
        let acc = &mut S::as_mut_simd_f32s(lane_sums).0[..rows * width];
        let block_vectors = weights.plan().forward_block_vectors(vectors, width, lanes);
        for v0 in (0..vectors).step_by(block_vectors) {
            let block = v0..(v0 + block_vectors).min(vectors);
            let mut k = 0;
            while k < rows {
                let acc = &mut acc[k * width..];
                // The first class block prefetches the rows ahead.
                let ahead = |r: usize| if first == 0 { ahead(r) } else { &[] };
                let classes = (classes, block_classes.clone());
                if k + R <= rows {
                    let mut tile: [&[P]; R] = [&[]; R];
                    let mut prefetch: [&[P]; R] = [&[]; R];
                    for r in 0..R {
                        tile[r] = x[k + r];
                        prefetch[r] = ahead(k + r);
                    }
                    class_tiles::<S, P, R, C>(simd, w, classes, tile, prefetch, block.clone(), acc);
                    k += R;
                } else {
                    let (tile, prefetch) = ([x[k]], [ahead(k)]);
                    class_tiles::<S, P, 1, C>(simd, w, classes, tile, prefetch, block.clone(), acc);
                    k += 1;
                }
            }
        }
        // Rows in lanes: each class's logits of a row group in one vector.
        for g in 0..rows.div_ceil(lanes) {
            for c in block_classes.clone() {
                let lane_sum = |i: usize| acc.get((g * lanes + i) * width + c - first).copied();
                let mut dot = transposed_sums(simd, |i| lane_sum(i).unwrap_or(zero));
                if tail > 0 {
                    let mut rest = [0.0; MAX_LANES];
                    for (i, rest) in rest.iter_mut().enumerate().take(lanes) {
                        if let Some(row) = x.get(g * lanes + i) {
                            *rest = scalar_tail(row, &w_tail[c * tail..(c + 1) * tail]);
                        }
                    }
                    dot = simd.add_f32s(dot, simd.partial_load_f32s(&rest[..lanes]));
                }
                let z = simd.mul_f32s(dot, simd.splat_f32s(scale));
                let b = simd.splat_f32s(weights.bias[c]);
                out[c * (BLOCK_ROWS / lanes) + g] = simd.add_f32s(z, b);
            }
        }
    }
}

/// Every class tile of `R` rows over one feature block, for the classes
/// `block` of `classes`, into `acc` (a row's accumulators `block.len()`
/// apart); the first tile prefetches.
#[inline(always)]
fn class_tiles<S: Simd, P: Pixel, const R: usize, const C: usize>(
    simd: S,
    w: &[S::f32s],
    (classes, block): (usize, Range<usize>),
    x: [&[P]; R],
    ahead: [&[P]; R],
    vectors: Range<usize>,
    acc: &mut [S::f32s],
) {
    let mut prefetch = ahead;
    let width = block.len();
    let mut c0 = block.start;
    while c0 < block.end {
        let v = vectors.clone();
        let acc = &mut acc[c0 - block.start..];
        if c0 + C <= block.end {
            accumulate::<S, P, R, C>(simd, x, w, (classes, c0), v, prefetch, acc, width);
            c0 += C;
        } else {
            accumulate::<S, P, R, 1>(simd, x, w, (classes, c0), v, prefetch, acc, width);
            c0 += 1;
        }
        prefetch = [&[]; R];
    }
}

/// `acc[r][c] += x[r] · W[c0 + c]`, lane-wise, over the feature vectors
/// `vectors`, for `R` rows and `C` classes (`=` from the first feature
/// vector: the accumulators start at zero, whatever `acc` held);
/// `acc[r][c]` is `acc[r * stride + c]` and `w` is the vector part of the
/// packed weights ([`super::packing`]) of `classes` classes.
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
    if vectors.start > 0 {
        for r in 0..R {
            sums[r].copy_from_slice(&acc[r * stride..r * stride + C]);
        }
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
fn scalar_tail<P: Pixel>(x: &[P], w: &[f32]) -> f32 {
    x[x.len() - w.len()..]
        .iter()
        .zip(w)
        .map(|(&p, &w)| p.to_f32() * w)
        .sum()
}

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
fn forward_class_block(vectors: usize, classes: usize, lanes: usize, tile_classes: usize) -> usize {
    let per_class = vectors.max(1) * lanes * size_of::<f32>();
    let tiles = (super::l1d_bytes() / 2 / per_class / tile_classes).max(1);
    (tiles * tile_classes).min(classes.max(1))
}

#[cfg(test)]
mod tests {
    use pulp::{Simd, WithSimd};

    use super::accumulate;
    use crate::kernel::{Isa, Packed};

    /// A 2-row x 3-class tile starting at class 1 of 5, over all feature
    /// vectors, on every instruction set: each accumulator's lanes sum to the
    /// f64 dot product (whatever they held), and the accumulators outside the
    /// tile stay untouched.
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
                    // What the accumulators held before: overwritten inside
                    // the tile (it starts at feature vector 0), kept outside.
                    let mut acc = [simd.splat_f32s(7.0); 2 * CLASSES];
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
                            7.0 * isa.lanes() as f32,
                            "{}: row {r} class {c} is outside the tile",
                            isa.name()
                        );
                    }
                }
            }
        }
    }
}
