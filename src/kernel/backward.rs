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

#[cfg(test)]
mod tests {
    use pulp::{Simd, WithSimd};

    use super::panel;
    use crate::kernel::{Isa, Packed};

    const CLASSES: usize = 4;
    const ROWS: usize = 5;

    /// A 2-class x 2-vector panel at class 1 and vector 1, on every
    /// instruction set: overwriting gives `Σ_k g[k][c] x[k][f]`, accumulating
    /// adds it to what was there, and values outside the panel stay untouched.
    #[test]
    fn a_panel_sums_gradient_times_pixels_over_the_rows() {
        for isa in Isa::available() {
            let features = 4 * isa.lanes();
            let x: Vec<Vec<f32>> = (0..ROWS)
                .map(|k| {
                    (0..features)
                        .map(|f| ((k * 13 + f * 5) % 11) as f32 / 10.0)
                        .collect()
                })
                .collect();
            let g: Vec<f32> = (0..ROWS * CLASSES)
                .map(|i| ((i * 3 % 7) as f32 - 3.0) / 4.0)
                .collect();
            let start: Vec<f32> = (0..CLASSES * features).map(|i| i as f32).collect();

            struct Panel<'a>(&'a [Vec<f32>], &'a [f32], Packed, bool);
            impl WithSimd for Panel<'_> {
                type Output = Packed;
                #[inline(always)]
                fn with_simd<S: Simd>(self, simd: S) -> Packed {
                    let Panel(x, g, mut dw, overwrite) = self;
                    let rows: Vec<&[f32]> = x.iter().map(|r| &r[..]).collect();
                    let vectors = S::as_mut_simd_f32s(dw.values_mut()).0;
                    panel::<S, f32, 2, 2>(simd, vectors, (CLASSES, 1), 1, &rows, g, overwrite);
                    dw
                }
            }
            for overwrite in [true, false] {
                let dw = Packed::from_row_major(isa, features, CLASSES, &start);
                let dw = isa.dispatch(Panel(&x, &g, dw, overwrite));
                let mut got = vec![0.0; CLASSES * features];
                dw.copy_to_row_major(&mut got);
                let lanes = isa.lanes();
                for c in 0..CLASSES {
                    #[allow(clippy::needless_range_loop)] // `f` indexes three arrays.
                    for f in 0..features {
                        let inside = (1..3).contains(&c) && (lanes..3 * lanes).contains(&f);
                        let i = c * features + f;
                        if !inside {
                            assert_eq!(got[i], start[i], "{}: ({c}, {f}) is outside", isa.name());
                            continue;
                        }
                        let sum: f64 = (0..ROWS)
                            .map(|k| f64::from(g[k * CLASSES + c]) * f64::from(x[k][f]))
                            .sum();
                        let exact = if overwrite {
                            sum
                        } else {
                            sum + f64::from(start[i])
                        };
                        assert!(
                            (f64::from(got[i]) - exact).abs() <= 1e-5 * exact.abs().max(1.0),
                            "{}: ({c}, {f}) overwrite {overwrite}: {} vs {exact}",
                            isa.name(),
                            got[i]
                        );
                    }
                }
            }
        }
    }
}
