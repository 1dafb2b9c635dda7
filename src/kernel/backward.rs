//! The backward micro-kernel: the weight gradient `dW += Gᵀ X` on a panel of
//! classes by feature vectors, in the packed layout ([`super::packing`]).

use pulp::Simd;

use super::gather::Pixel;

/// For `M` classes from `c0` and the `N` feature vectors from vector `v0`:
/// `dW[c][f] = Σ_k g[k][c] x[k][f]`, added to what `dw` holds unless
/// `overwrite`.
///
/// `dw` is the vector part of the packed gradient of `classes` classes, `g`
/// holds one row of `classes` values per row of `x`. The `M x N` accumulators
/// stay in registers for the whole sweep over the rows: each gradient vector is
/// loaded and stored once per call, each pixel vector is loaded (and widened)
/// once and used `M` times.
///
/// # Panics
/// If the panel reaches past a row or the gradient, or `g` is shorter than
/// `x.len() * classes`.
#[inline(always)]
pub(super) fn panel<S: Simd, P: Pixel, const M: usize, const N: usize>(
    simd: S,
    dw: &mut [S::f32s],
    (classes, c0): (usize, usize),
    v0: usize,
    x: &[&[P]],
    g: &[f32],
    overwrite: bool,
) {
    let lanes = S::F32_LANES;
    assert!(c0 + M <= classes && g.len() >= x.len() * classes);
    let mut acc = [[simd.splat_f32s(0.0); N]; M];
    if !overwrite {
        for (m, acc_m) in acc.iter_mut().enumerate() {
            for (n, sum) in acc_m.iter_mut().enumerate() {
                *sum = dw[(v0 + n) * classes + c0 + m];
            }
        }
    }
    for (row, gk) in x.iter().zip(g.chunks_exact(classes)) {
        let row = &row[v0 * lanes..(v0 + N) * lanes];
        let mut xk = [simd.splat_f32s(0.0); N];
        for n in 0..N {
            xk[n] = P::load(simd, &row[n * lanes..]);
        }
        let gk = &gk[c0..c0 + M];
        for m in 0..M {
            let gkm = simd.splat_f32s(gk[m]);
            for n in 0..N {
                acc[m][n] = simd.mul_add_e_f32s(xk[n], gkm, acc[m][n]);
            }
        }
    }
    for (m, acc_m) in acc.iter().enumerate() {
        for (n, &sum) in acc_m.iter().enumerate() {
            dw[(v0 + n) * classes + c0 + m] = sum;
        }
    }
}

/// The features past the last whole vector: `dW[c][f] (+)= Σ_k g[k][c] x[k][f]`
/// for every class, in scalar code; `dw` is the tail part of the packed
/// gradient (`classes` rows of `dw.len() / classes` features).
pub(super) fn scalar_tail<P: Pixel>(
    dw: &mut [f32],
    classes: usize,
    x: &[&[P]],
    g: &[f32],
    overwrite: bool,
) {
    let tail = dw.len() / classes;
    for (c, dw_c) in dw.chunks_exact_mut(tail.max(1)).enumerate().take(classes) {
        for (t, slot) in dw_c.iter_mut().enumerate() {
            let sum: f32 = x
                .iter()
                .enumerate()
                .map(|(k, row)| g[k * classes + c] * row[row.len() - tail + t].to_f32())
                .sum();
            *slot = if overwrite { sum } else { *slot + sum };
        }
    }
}
