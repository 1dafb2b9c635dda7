//! Numerically stable log-softmax and cross-entropy for a block of rows, with the
//! exponentials vectorised across the whole block.

use pulp::Simd;

/// Calls `on_row(loss, argmax)` for every row of a block, where `argmax` is the
/// class of the largest logit (the first on ties); with `grad`,
/// also writes the gradient of each row's loss with respect to its logits,
/// `softmax(z) - onehot(label)`.
///
/// `logits` holds `labels.len()` rows of `classes` values; `scratch` (and
/// `grad`) hold at least as many, rounded up to whole vectors. Each row's maximum
/// is subtracted before exponentiating, so large logits stay finite. A NaN logit
/// makes its row's loss NaN.
#[inline(always)]
pub fn cross_entropy_block<S: Simd>(
    simd: S,
    logits: &[f32],
    classes: usize,
    labels: impl Iterator<Item = usize>,
    scratch: &mut [f32],
    mut grad: Option<&mut [f32]>,
    mut on_row: impl FnMut(f32, usize),
) {
    let rows = logits.len() / classes;
    let mut maxima = [0.0f32; super::blocking::BLOCK_ROWS];
    let mut poisoned = [false; super::blocking::BLOCK_ROWS];
    let mut argmaxes = [0usize; super::blocking::BLOCK_ROWS];
    for k in 0..rows {
        let z = &logits[k * classes..(k + 1) * classes];
        // Selects rather than branches: which logit is largest is data the
        // branch predictor cannot learn.
        let (mut best, mut max) = (0, z[0]);
        for (c, &v) in z.iter().enumerate().skip(1) {
            let larger = v > max;
            best = if larger { c } else { best };
            max = if larger { v } else { max };
        }
        maxima[k] = max;
        argmaxes[k] = best;
        poisoned[k] = z.iter().fold(false, |nan, v| nan | v.is_nan());
        for (s, &v) in scratch[k * classes..].iter_mut().zip(z) {
            *s = v - maxima[k];
        }
    }
    exp_in_place(
        simd,
        &mut scratch[..(rows * classes).next_multiple_of(S::F32_LANES)],
    );
    for (k, label) in labels.enumerate().take(rows) {
        let e = &scratch[k * classes..(k + 1) * classes];
        let sum: f32 = e.iter().sum();
        let loss = if poisoned[k] {
            f32::NAN
        } else {
            maxima[k] - logits[k * classes + label] + sum.ln()
        };
        if let Some(grad) = grad.as_deref_mut() {
            let inv = 1.0 / sum;
            let g = &mut grad[k * classes..(k + 1) * classes];
            for (g, &e) in g.iter_mut().zip(e) {
                *g = e * inv;
            }
            g[label] -= 1.0;
        }
        on_row(loss, argmaxes[k]);
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
///
/// # Panics
/// If the length is not a whole number of vectors.
#[inline(always)]
fn exp_in_place<S: Simd>(simd: S, values: &mut [f32]) {
    let (vectors, tail) = S::as_mut_simd_f32s(values);
    assert!(tail.is_empty(), "exp_in_place takes whole vectors");
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
                exp_in_place(simd, self.0);
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
        let logits: Vec<f32> = (0..16 * 10)
            .map(|i| {
                if i % 10 == (i / 10) % 10 {
                    1e30
                } else {
                    -1e30 * (i % 7) as f32
                }
            })
            .collect();
        let labels: Vec<usize> = (0..16).map(|k| (k + 3) % 10).collect();
        struct Block<'a>(&'a [f32], &'a [usize], &'a mut [f32]);
        impl pulp::WithSimd for Block<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                let Block(logits, labels, grad) = self;
                let mut scratch = vec![0.0; logits.len().next_multiple_of(16)];
                let labels = labels.iter().copied();
                cross_entropy_block(
                    simd,
                    logits,
                    10,
                    labels,
                    &mut scratch,
                    Some(grad),
                    |_, _| {},
                );
            }
        }
        for isa in Isa::available() {
            let mut grad = vec![f32::NAN; 16 * 10];
            isa.dispatch(Block(&logits, &labels, &mut grad));
            for (i, &g) in grad.iter().enumerate() {
                let (k, c) = (i / 10, i % 10);
                let expected =
                    f32::from(u8::from(c == k % 10)) - f32::from(u8::from(c == (k + 3) % 10));
                assert_eq!(g, expected, "{}: row {k} class {c}", isa.name());
            }
        }
    }
}
