//! Numerically stable log-softmax and cross-entropy for a block of rows,
//! computed across the rows: each vector holds one class's logits of
//! `S::F32_LANES` rows, so the maximum, the exponentials, their sum and the
//! gradient are vector operations and only the logarithm and the loss are
//! taken row by row.

use pulp::Simd;

use super::blocking::{BLOCK_ROWS, in_lanes_len};

/// Calls `on_row(loss, argmax)` for every row of a block, where `argmax` is the
/// class of the largest logit (the first on ties); with `grad`,
/// also writes the gradient of each row's loss with respect to its logits,
/// `softmax(z) - onehot(label)`.
///
/// The block's logits, its exponentials and its gradient are held with rows in
/// lanes: `logits[c * stride + k]` is row `k`'s logit of class `c`, for the
/// `labels.len()` rows (at most [`BLOCK_ROWS`]) of `classes` classes, and
/// the gradient is written in the same layout; `stride` is a multiple of
/// [`BLOCK_ROWS`] (`BLOCK_ROWS` itself for a block held alone, more for a
/// block of a larger matrix of classes by rows, as the GEMM baseline computes
/// it). Each row's maximum is subtracted before exponentiating, so large
/// logits stay finite. A NaN logit makes its row's loss NaN.
#[inline(always)]
pub fn cross_entropy_block<S: Simd>(
    simd: S,
    (logits, stride): (&[f32], usize),
    classes: usize,
    labels: impl Iterator<Item = usize>,
    exps: &mut [f32],
    grad: Option<&mut [f32]>,
    mut on_row: impl FnMut(f32, usize),
) {
    let mut label = [0usize; BLOCK_ROWS];
    let mut rows = 0usize;
    for (slot, l) in label.iter_mut().zip(labels) {
        *slot = l;
        rows += 1;
    }
    let lanes = S::F32_LANES;
    assert!(stride.is_multiple_of(BLOCK_ROWS), "whole blocks of rows");
    let groups = rows.div_ceil(lanes);
    // Vector `g` of class `c`: of the logits and the gradient, and of the
    // exponentials (a block of their own).
    let at = |c: usize, g: usize| c * (stride / lanes) + g;
    let exp_at = |c: usize, g: usize| c * (BLOCK_ROWS / lanes) + g;
    let held = (classes.max(1) - 1) * stride + BLOCK_ROWS;
    let z = S::as_simd_f32s(&logits[..held]).0;
    let e = S::as_mut_simd_f32s(&mut exps[..in_lanes_len(classes)]).0;
    let splat = |v: f32| simd.splat_f32s(v);
    let mut maxima = [0.0f32; BLOCK_ROWS];
    let mut argmaxes = [0.0f32; BLOCK_ROWS];
    let mut poisoned = [0.0f32; BLOCK_ROWS];
    let mut sums = [0.0f32; BLOCK_ROWS];
    for g in 0..groups {
        let (mut max, mut best) = (z[at(0, g)], splat(0.0));
        let mut numbers = simd.equal_f32s(max, max);
        for c in 1..classes {
            let v = z[at(c, g)];
            // Selects rather than branches: which logit is largest is data
            // the branch predictor cannot learn.
            let larger = simd.less_than_f32s(max, v);
            max = simd.select_f32s(larger, v, max);
            best = simd.select_f32s(larger, splat(c as f32), best);
            numbers = simd.and_m32s(numbers, simd.equal_f32s(v, v));
        }
        for c in 0..classes {
            e[exp_at(c, g)] = simd.sub_f32s(z[at(c, g)], max);
        }
        let rows = g * lanes..(g + 1) * lanes;
        simd.partial_store_f32s(&mut maxima[rows.clone()], max);
        simd.partial_store_f32s(&mut argmaxes[rows.clone()], best);
        let poison = simd.select_f32s(numbers, splat(0.0), splat(f32::NAN));
        simd.partial_store_f32s(&mut poisoned[rows], poison);
    }
    for c in 0..classes {
        exp_in_place(simd, &mut e[exp_at(c, 0)..exp_at(c, groups)]);
    }
    for g in 0..groups {
        let mut sum = e[exp_at(0, g)];
        for c in 1..classes {
            sum = simd.add_f32s(sum, e[exp_at(c, g)]);
        }
        simd.partial_store_f32s(&mut sums[g * lanes..(g + 1) * lanes], sum);
    }
    if let Some(grad) = grad {
        let gv = S::as_mut_simd_f32s(&mut grad[..held]).0;
        for g in 0..groups {
            let sum = simd.partial_load_f32s(&sums[g * lanes..(g + 1) * lanes]);
            let inv = simd.div_f32s(splat(1.0), sum);
            for c in 0..classes {
                gv[at(c, g)] = simd.mul_f32s(e[exp_at(c, g)], inv);
            }
        }
        for (k, &label) in label.iter().enumerate().take(rows) {
            grad[label * stride + k] -= 1.0;
        }
    }
    for (k, &label) in label.iter().enumerate().take(rows) {
        let loss = if poisoned[k].is_nan() {
            f32::NAN
        } else {
            maxima[k] - logits[label * stride + k] + sums[k].ln()
        };
        on_row(loss, argmaxes[k] as usize);
    }
}

/// The first `rows.len() / classes` rows of a block held rows in lanes,
/// row-major into `rows`.
pub(super) fn from_lanes(in_lanes: &[f32], classes: usize, rows: &mut [f32]) {
    for (k, row) in rows.chunks_exact_mut(classes).enumerate() {
        for (c, z) in row.iter_mut().enumerate() {
            *z = in_lanes[c * BLOCK_ROWS + k];
        }
    }
}

/// `x = exp(x)` for every element, for arguments `<= 0` (as after subtracting a
/// row maximum). Results below `2^-64` (arguments below [`FLUSH_BELOW`]) are
/// exactly 0.
///
/// Cephes' `expf`: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 polynomial
/// for `exp(r)`, and `2^n` built in the exponent bits; within 1 ulp of `exp`
/// (tested below).
///
/// Why flush: a softmax probability below `2^-64` is lost in the row's sum
/// (which is at least 1), but as a gradient it would still be multiplied by
/// every pixel of the row in the backward pass, and `2^-126` or less, as a
/// probability near the bottom of the normal range becomes, times a pixel gives
/// subnormal products. CPUs that take a microcode assist for subnormals (Intel)
/// then run the backward pass several times slower: `train --lr 1e30` makes 86 %
/// of all gradient values that small. Flushed at `2^-64`, a probability times a
/// pixel (at least `1/255`) and divided by a row sum (at most the class count)
/// stays far inside the normal range.
#[inline(always)]
fn exp_in_place<S: Simd>(simd: S, vectors: &mut [S::f32s]) {
    let splat = |v: f32| simd.splat_f32s(v);
    let shifter = splat(12_582_912.0); // 1.5 * 2^23: adding it rounds to an integer.
    for x in vectors {
        let flushed = simd.less_than_f32s(*x, splat(FLUSH_BELOW));
        let v = simd.max_f32s(*x, splat(FLUSH_BELOW));
        let t = simd.mul_add_e_f32s(v, splat(std::f32::consts::LOG2_E), shifter);
        let n = simd.sub_f32s(t, shifter);
        let r = simd.mul_add_e_f32s(n, splat(-0.693_359_4), v);
        let r = simd.mul_add_e_f32s(n, splat(2.121_944_4e-4), r);
        let mut p = splat(1.987_569_1e-4);
        for coefficient in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
            p = simd.mul_add_e_f32s(p, r, splat(coefficient));
        }
        let y = simd.mul_add_e_f32s(simd.mul_f32s(p, r), r, simd.add_f32s(r, splat(1.0)));
        // The low bits of `t` hold n; shifted into the exponent field and biased by
        // 127 they are the bits of 2^n.
        let bits = simd.transmute_u32s_f32s(t);
        let pow2 = simd.add_u32s(
            simd.wrapping_dyn_shl_u32s(bits, simd.splat_u32s(23)),
            simd.splat_u32s(127 << 23),
        );
        let e = simd.mul_f32s(y, simd.transmute_f32s_u32s(pow2));
        *x = simd.select_f32s(flushed, splat(0.0), e);
    }
}

/// `-64 ln 2`: [`exp_in_place`] gives exactly 0 below it.
pub const FLUSH_BELOW: f32 = -44.361_42;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Isa;

    /// Runs `exp_in_place` on `values` with one instruction set.
    fn exp_with(isa: Isa, values: &mut [f32]) {
        struct Exp<'a>(&'a mut [f32]);
        impl pulp::WithSimd for Exp<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                exp_in_place(simd, S::as_mut_simd_f32s(self.0).0);
            }
        }
        isa.dispatch(Exp(values));
    }

    /// Distance in units in the last place between two positive floats.
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_one_ulp_and_flushes_below_two_to_the_minus_64() {
        // Every 1/4096 from -50 to 0: 204,801 arguments, a whole number of vectors.
        let arguments: Vec<f32> = (0..=204_800).map(|i| -(i as f32) / 4096.0).collect();
        let len = arguments
            .len()
            .next_multiple_of(super::super::blocking::MAX_LANES);
        for isa in Isa::available() {
            let mut values = arguments.clone();
            values.resize(len, 0.0);
            exp_with(isa, &mut values);
            for (&x, &e) in arguments.iter().zip(&values) {
                if x < FLUSH_BELOW {
                    assert_eq!(e, 0.0, "{}: exp({x})", isa.name());
                } else {
                    let exact = f64::from(x).exp() as f32;
                    assert!(
                        ulps(e, exact) <= 1,
                        "{}: exp({x}) = {e}, not {exact}",
                        isa.name()
                    );
                    assert!(
                        e >= 2f32.powi(-64) * (1.0 - 1e-6),
                        "{}: exp({x}) = {e}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn far_below_the_maximum_gives_zero_gradients_never_subnormal_ones() {
        // Logits 1e30 apart, as after `train --lr 1e30`: every class but the
        // largest has probability 0, not a value near the bottom of the floats.
        // Rows in lanes: entry `c * BLOCK_ROWS + k` is row k's logit of class c.
        let logits: Vec<f32> = (0..BLOCK_ROWS * 10)
            .map(|i| {
                let (c, k) = (i / BLOCK_ROWS, i % BLOCK_ROWS);
                if c == k % 10 {
                    1e30
                } else {
                    -1e30 * ((k * 10 + c) % 7) as f32
                }
            })
            .collect();
        let labels: Vec<usize> = (0..BLOCK_ROWS).map(|k| (k + 3) % 10).collect();
        struct Block<'a>(&'a [f32], &'a [usize], &'a mut [f32]);
        impl pulp::WithSimd for Block<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                let Block(logits, labels, grad) = self;
                let mut scratch = vec![0.0; logits.len()];
                let labels = labels.iter().copied();
                cross_entropy_block(
                    simd,
                    (logits, BLOCK_ROWS),
                    10,
                    labels,
                    &mut scratch,
                    Some(grad),
                    |_, _| {},
                );
            }
        }
        for isa in Isa::available() {
            let mut grad = vec![f32::NAN; BLOCK_ROWS * 10];
            isa.dispatch(Block(&logits, &labels, &mut grad));
            for (i, &g) in grad.iter().enumerate() {
                let (c, k) = (i / BLOCK_ROWS, i % BLOCK_ROWS);
                let expected =
                    f32::from(u8::from(c == k % 10)) - f32::from(u8::from(c == (k + 3) % 10));
                assert_eq!(g, expected, "{}: row {k} class {c}", isa.name());
            }
        }
    }
}
