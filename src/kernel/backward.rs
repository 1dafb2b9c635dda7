//! The backward pass: a row block's weight gradient `dW += Gᵀ X` ([`block`],
//! the driver) on register panels of classes by feature vectors ([`panel`],
//! the micro-kernel), in the packed layout ([`super::packing`]), and its bias
//! gradient ([`bias_gradient`]).

use pulp::Simd;

use super::blocking::{BLOCK_ROWS, Tile};
use super::gather::Pixel;

/// A backward register panel of `CLASSES` classes by `VECTORS` feature
/// vectors, and the backward pass of a row block in such panels.
pub(super) trait BackwardPanel {
    /// Classes per panel: each pixel vector loaded feeds this many FMAs.
    const CLASSES: usize;
    /// Feature vectors per panel: each broadcast gradient value feeds this
    /// many FMAs.
    const VECTORS: usize;

    /// [`block`] in panels of this shape.
    fn block<S: Simd, P: Pixel>(
        simd: S,
        x: &[&[P]],
        g: &[f32],
        dw: (&mut [f32], usize),
        classes: usize,
        overwrite: bool,
    );
}

impl<const M: usize, const N: usize> BackwardPanel for Tile<M, N> {
    const CLASSES: usize = M;
    const VECTORS: usize = N;

    #[inline(always)]
    fn block<S: Simd, P: Pixel>(
        simd: S,
        x: &[&[P]],
        g: &[f32],
        dw: (&mut [f32], usize),
        classes: usize,
        overwrite: bool,
    ) {
        block::<S, P, M, N>(simd, x, g, dw, classes, overwrite);
    }
}

/// `dW (+)= Gᵀ X` for the rows of a block (overwriting for a chunk's first
/// block): panels of `M` classes by `N` feature vectors, smaller
/// panels for the classes and vectors left over, then the scalar tail. `dw` is
/// the packed gradient with the length of its vector part.
#[inline(always)]
pub(super) fn block<S: Simd, P: Pixel, const M: usize, const N: usize>(
    simd: S,
    x: &[&[P]],
    g: &[f32],
    (dw, per_vector): (&mut [f32], usize),
    classes: usize,
    overwrite: bool,
) {
    let lanes = S::F32_LANES;
    let vectors = x[0].len() / lanes;
    let (dw, dw_tail) = dw.split_at_mut(vectors * per_vector);
    let dw = S::as_mut_simd_f32s(dw).0;
    let mut v = 0;
    while v < vectors {
        if v + N <= vectors {
            class_panels::<S, P, M, N>(simd, x, g, dw, classes, v, overwrite);
            v += N;
        } else {
            class_panels::<S, P, M, 1>(simd, x, g, dw, classes, v, overwrite);
            v += 1;
        }
    }
    scalar_tail(dw_tail, classes, x, g, overwrite);
}

/// Every class's panel of `N` vectors from vector `v0`.
#[inline(always)]
fn class_panels<S: Simd, P: Pixel, const M: usize, const N: usize>(
    simd: S,
    x: &[&[P]],
    g: &[f32],
    dw: &mut [S::f32s],
    classes: usize,
    v0: usize,
    overwrite: bool,
) {
    let mut c0 = 0;
    while c0 < classes {
        if c0 + M <= classes {
            panel::<S, P, M, N>(simd, dw, (classes, c0), v0, x, g, overwrite);
            c0 += M;
        } else {
            panel::<S, P, 1, N>(simd, dw, (classes, c0), v0, x, g, overwrite);
            c0 += 1;
        }
    }
}

/// `db += Σ_k g[k]`: the bias gradient of a block of `rows` rows whose logit
/// gradient `g` holds rows in lanes (`g[c * BLOCK_ROWS + k]`), added row by row.
#[inline(always)]
pub(super) fn bias_gradient(g: &[f32], rows: usize, db: &mut [f32]) {
    for (db, g) in db.iter_mut().zip(g.chunks_exact(BLOCK_ROWS)) {
        for &g in &g[..rows] {
            *db += g;
        }
    }
}

/// For `M` classes from `c0` and the `N` feature vectors from vector `v0`:
/// `dW[c][f] = Σ_k g[k][c] x[k][f]`, added to what `dw` holds unless
/// `overwrite`.
///
/// `dw` is the vector part of the packed gradient of `classes` classes, `g`
/// holds rows in lanes (`g[c * BLOCK_ROWS + k]` for row `k` of `x`). The `M x N` accumulators
/// stay in registers for the whole sweep over the rows: each gradient vector is
/// loaded and stored once per call, each pixel vector is loaded (and widened)
/// once and used `M` times.
///
/// # Panics
/// If the panel reaches past a row or the gradient, `x` holds more than
/// [`BLOCK_ROWS`] rows or `g` fewer than `classes * BLOCK_ROWS` values.
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
    assert!(c0 + M <= classes && x.len() <= BLOCK_ROWS && g.len() >= classes * BLOCK_ROWS);
    // Vector n of the panel's M classes: one bounds check per vector.
    let column = |n: usize| {
        let at = (v0 + n) * classes + c0;
        at..at + M
    };
    let mut acc = [[simd.splat_f32s(0.0); N]; M];
    if !overwrite {
        for n in 0..N {
            let sums: &[S::f32s; M] = dw[column(n)].try_into().expect("M classes");
            for (acc_m, &sum) in acc.iter_mut().zip(sums) {
                acc_m[n] = sum;
            }
        }
    }
    let g: &[[f32; BLOCK_ROWS]; M] = g[c0 * BLOCK_ROWS..(c0 + M) * BLOCK_ROWS]
        .as_chunks()
        .0
        .try_into()
        .expect("M classes of a row block");
    for (row, k) in x.iter().zip(0..BLOCK_ROWS) {
        let row = &row[v0 * lanes..(v0 + N) * lanes];
        let mut xk = [simd.splat_f32s(0.0); N];
        for n in 0..N {
            xk[n] = P::load(simd, &row[n * lanes..]);
        }
        for m in 0..M {
            let gkm = simd.splat_f32s(g[m][k]);
            for n in 0..N {
                acc[m][n] = simd.mul_add_e_f32s(xk[n], gkm, acc[m][n]);
            }
        }
    }
    for n in 0..N {
        let sums: &mut [S::f32s; M] = (&mut dw[column(n)]).try_into().expect("M classes");
        for (sum, acc_m) in sums.iter_mut().zip(&acc) {
            *sum = acc_m[n];
        }
    }
}

/// The features past the last whole vector: `dW[c][f] (+)= Σ_k g[k][c] x[k][f]`
/// for every class, in scalar code; `dw` is the tail part of the packed
/// gradient (`classes` rows of `dw.len() / classes` features).
fn scalar_tail<P: Pixel>(dw: &mut [f32], classes: usize, x: &[&[P]], g: &[f32], overwrite: bool) {
    let tail = dw.len() / classes;
    for (c, dw_c) in dw.chunks_exact_mut(tail.max(1)).enumerate().take(classes) {
        for (t, slot) in dw_c.iter_mut().enumerate() {
            let sum: f32 = x
                .iter()
                .enumerate()
                .map(|(k, row)| g[c * BLOCK_ROWS + k] * row[row.len() - tail + t].to_f32())
                .sum();
            *slot = if overwrite { sum } else { *slot + sum };
        }
    }
}

#[cfg(test)]
mod tests {
    use pulp::{Simd, WithSimd};

    use super::panel;
    use crate::kernel::blocking::BLOCK_ROWS;
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
            let g: Vec<f32> = (0..CLASSES * BLOCK_ROWS)
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
                            .map(|k| f64::from(g[c * BLOCK_ROWS + k]) * f64::from(x[k][f]))
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
