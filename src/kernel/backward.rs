//! The backward micro-kernel: the weight gradient `dW += Gᵀ X` on a panel.

use pulp::Simd;

/// The shape of the gradient matrix, `classes x features`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Columns: features per class.
    pub features: usize,
    /// Rows: classes.
    pub classes: usize,
}

/// Largest number of classes per backward micro-kernel call.
pub const MAX_CLASSES: usize = 5;

/// For `M` classes starting at `c0` and the `N` feature vectors starting at
/// feature `f0`: `dw[c][f] += Σ_k g[k][c] x[k][f]`, with `(c0, f0) = corner`.
///
/// `dw` is the whole `classes x features` gradient, `g` holds one row of
/// `classes` values per row of `x`. The `M x N` accumulators stay in registers
/// for the whole sweep over the rows, so each gradient vector is loaded and stored
/// once per call.
///
/// # Panics
/// If the panel reaches past a row, or `g` is shorter than `x.len() * classes`.
#[inline(always)]
pub fn panel<S: Simd, const M: usize, const N: usize>(
    simd: S,
    dw: &mut [f32],
    shape: Shape,
    corner: (usize, usize),
    x: &[&[f32]],
    g: &[f32],
) {
    let Shape { features, classes } = shape;
    let (c0, f0) = corner;
    let width = N * S::F32_LANES;
    let mut acc = [[simd.splat_f32s(0.0); N]; M];
    for (m, acc_m) in acc.iter_mut().enumerate() {
        let start = (c0 + m) * features + f0;
        let vectors = S::as_simd_f32s(&dw[start..start + width]).0;
        acc_m.copy_from_slice(vectors);
    }
    for (k, row) in x.iter().enumerate() {
        let xk = S::as_simd_f32s(&row[f0..f0 + width]).0;
        let gk = &g[k * classes + c0..k * classes + c0 + M];
        for m in 0..M {
            let gkm = simd.splat_f32s(gk[m]);
            for n in 0..N {
                acc[m][n] = simd.mul_add_e_f32s(gkm, xk[n], acc[m][n]);
            }
        }
    }
    for (m, acc_m) in acc.iter().enumerate() {
        let start = (c0 + m) * features + f0;
        S::as_mut_simd_f32s(&mut dw[start..start + width])
            .0
            .copy_from_slice(acc_m);
    }
}
