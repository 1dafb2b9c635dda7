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
    let mut maxima = [0.0f32; super::blocking::ROW_BLOCK];
    let mut poisoned = [false; super::blocking::ROW_BLOCK];
    let mut argmaxes = [0usize; super::blocking::ROW_BLOCK];
    for k in 0..rows {
        let z = &logits[k * classes..(k + 1) * classes];
        let mut best = 0;
        for (c, &v) in z.iter().enumerate() {
            if v > z[best] {
                best = c;
            }
        }
        maxima[k] = z[best];
        argmaxes[k] = best;
        poisoned[k] = z.iter().any(|v| v.is_nan());
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
/// row maximum). Arguments below -87.3 give about 1e-38 rather than a subnormal.
///
/// Cephes' `expf`: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 polynomial
/// for `exp(r)`, and `2^n` built in the exponent bits; about 1 ulp.
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
        let v = simd.max_f32s(*x, splat(-87.3));
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
        *x = simd.mul_f32s(y, simd.transmute_f32s_u32s(pow2));
    }
}
