//! Dense symmetric positive definite systems in f64: a blocked Cholesky
//! factorisation and its solve for many right-hand sides, the bulk of both
//! on `matrixmultiply::dgemm`.
//!
//! The L-BFGS fit's Gram preconditioner needs exactly these two routines, on
//! a matrix of the feature count's order, once per fit. They are written
//! here over the GEMM the crate already uses rather than taken from a
//! linear-algebra crate: faer, the natural one, adds about 50 s to every
//! clean build (measured), a third of what CI may spend on everything else.

use matrixmultiply::dgemm;

/// Rows and columns of a diagonal block: the blocks are factored and solved
/// element by element, everything off them is a product of panels.
const BLOCK: usize = 64;

/// The lower-triangular factor `L` of a symmetric positive definite matrix
/// `A = L Lᵀ`.
#[derive(Debug, Clone)]
pub struct Cholesky {
    n: usize,
    /// `n x n`, row-major; zero above the diagonal.
    lower: Vec<f64>,
}

impl Cholesky {
    /// Factors the `n x n` row-major `a`, reading its lower triangle; `None`
    /// when `a` is not positive definite in f64.
    pub fn factor(mut a: Vec<f64>, n: usize) -> Option<Self> {
        assert_eq!(a.len(), n * n, "an n x n matrix");
        for k0 in (0..n).step_by(BLOCK) {
            let k1 = (k0 + BLOCK).min(n);
            // Columns k0..k1, left-looking within the block: the columns
            // before k0 were subtracted by the earlier trailing updates.
            for j in k0..k1 {
                let row_j = &a[j * n + k0..j * n + j];
                let pivot = a[j * n + j] - dot(row_j, row_j);
                if pivot.is_nan() || pivot <= 0.0 {
                    return None;
                }
                let pivot = pivot.sqrt();
                a[j * n + j] = pivot;
                for i in j + 1..n {
                    let s = dot(&a[i * n + k0..i * n + j], &a[j * n + k0..j * n + j]);
                    a[i * n + j] = (a[i * n + j] - s) / pivot;
                }
            }
            if k1 < n {
                let rest = n - k1;
                let base = a.as_mut_ptr();
                // SAFETY: the panel P = a[k1..n, k0..k1] and the trailing
                // block C = a[k1..n, k1..n] lie inside `a` (rows k1..n of
                // n columns) and share no element (their columns differ).
                // dgemm reads P twice (as P and as Pᵀ, by swapped strides)
                // and writes only C: C ← C − P Pᵀ.
                unsafe {
                    let panel = base.add(k1 * n + k0);
                    dgemm(
                        rest,
                        k1 - k0,
                        rest,
                        -1.0,
                        panel,
                        n as isize,
                        1,
                        panel,
                        1,
                        n as isize,
                        1.0,
                        base.add(k1 * n + k1),
                        n as isize,
                        1,
                    );
                }
            }
        }
        for i in 0..n {
            a[i * n + i + 1..(i + 1) * n].fill(0.0);
        }
        Some(Self { n, lower: a })
    }

    /// Rows and columns of the matrix.
    pub fn size(&self) -> usize {
        self.n
    }

    /// Overwrites the `n x columns` row-major `b` with `A⁻¹ b`: `L z = b`
    /// forward, then `Lᵀ x = z` backward.
    pub fn solve(&self, b: &mut [f64], columns: usize) {
        let n = self.n;
        assert_eq!(b.len(), n * columns, "n rows of right-hand sides");
        if columns == 0 {
            return;
        }
        let (l, cols) = (self.lower.as_ptr(), columns as isize);
        for i0 in (0..n).step_by(BLOCK) {
            let i1 = (i0 + BLOCK).min(n);
            if i0 > 0 {
                let base = b.as_mut_ptr();
                // SAFETY: L[i0..i1, 0..i0] lies inside `lower`; rows 0..i0
                // of `b` (read) and rows i0..i1 (written) are disjoint parts
                // of `b`: b[i0..i1] ← b[i0..i1] − L[i0..i1, ..i0] b[..i0].
                unsafe {
                    dgemm(
                        i1 - i0,
                        i0,
                        columns,
                        -1.0,
                        l.add(i0 * n),
                        n as isize,
                        1,
                        base,
                        cols,
                        1,
                        1.0,
                        base.add(i0 * columns),
                        cols,
                        1,
                    );
                }
            }
            for i in i0..i1 {
                for t in i0..i {
                    let factor = self.lower[i * n + t];
                    let (done, row) = b.split_at_mut(i * columns);
                    axpy(
                        -factor,
                        &done[t * columns..(t + 1) * columns],
                        &mut row[..columns],
                    );
                }
                let pivot = self.lower[i * n + i];
                b[i * columns..(i + 1) * columns]
                    .iter_mut()
                    .for_each(|v| *v /= pivot);
            }
        }
        let blocks: Vec<usize> = (0..n).step_by(BLOCK).collect();
        for &i0 in blocks.iter().rev() {
            let i1 = (i0 + BLOCK).min(n);
            if i1 < n {
                let base = b.as_mut_ptr();
                // SAFETY: Lᵀ[i0..i1, i1..n] is L[i1..n, i0..i1] read with
                // swapped strides, inside `lower`; rows i1..n of `b` (read)
                // and rows i0..i1 (written) are disjoint parts of `b`.
                unsafe {
                    dgemm(
                        i1 - i0,
                        n - i1,
                        columns,
                        -1.0,
                        l.add(i1 * n + i0),
                        1,
                        n as isize,
                        base.add(i1 * columns),
                        cols,
                        1,
                        1.0,
                        base.add(i0 * columns),
                        cols,
                        1,
                    );
                }
            }
            for i in (i0..i1).rev() {
                for t in i + 1..i1 {
                    let factor = self.lower[t * n + i];
                    let (row, done) = b.split_at_mut(t * columns);
                    axpy(
                        -factor,
                        &done[..columns],
                        &mut row[i * columns..(i + 1) * columns],
                    );
                }
                let pivot = self.lower[i * n + i];
                b[i * columns..(i + 1) * columns]
                    .iter_mut()
                    .for_each(|v| *v /= pivot);
            }
        }
    }
}

/// `a · b`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y ← y + alpha x`.
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRng;

    /// R Rᵀ + n I for a random R: symmetric, well conditioned.
    fn spd(n: usize, rng: &mut SeededRng) -> Vec<f64> {
        let r: Vec<f64> = (0..n * n).map(|_| rng.normal(0.0, 1.0)).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = dot(&r[i * n..(i + 1) * n], &r[j * n..(j + 1) * n]);
            }
            a[i * n + i] += n as f64;
        }
        a
    }

    #[test]
    fn the_factor_reproduces_the_matrix_across_blocks() {
        let mut rng = SeededRng::new(7);
        // Sizes below, at and across the block edge.
        for n in [1, 5, BLOCK, BLOCK + 1, 2 * BLOCK + 37] {
            let a = spd(n, &mut rng);
            let c = Cholesky::factor(a.clone(), n).expect("positive definite");
            let l = &c.lower;
            for i in 0..n {
                for j in 0..n {
                    let product = dot(&l[i * n..(i + 1) * n], &l[j * n..(j + 1) * n]);
                    let tolerance = 1e-12 * a[i * n + i].max(a[j * n + j]);
                    assert!(
                        (product - a[i * n + j]).abs() <= tolerance,
                        "n {n} ({i}, {j})"
                    );
                    if j > i {
                        assert_eq!(l[i * n + j], 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn the_solve_inverts_the_matrix() {
        let mut rng = SeededRng::new(11);
        for (n, columns) in [(3, 1), (BLOCK + 1, 10), (3 * BLOCK + 5, 3)] {
            let a = spd(n, &mut rng);
            let x: Vec<f64> = (0..n * columns).map(|_| rng.normal(0.0, 1.0)).collect();
            let mut b = vec![0.0; n * columns];
            for i in 0..n {
                for c in 0..columns {
                    b[i * columns + c] = (0..n).map(|j| a[i * n + j] * x[j * columns + c]).sum();
                }
            }
            let factor = Cholesky::factor(a, n).expect("positive definite");
            factor.solve(&mut b, columns);
            for (got, want) in b.iter().zip(&x) {
                assert!((got - want).abs() < 1e-10, "n {n}: {got} against {want}");
            }
        }
    }

    #[test]
    fn a_matrix_that_is_not_positive_definite_is_refused() {
        // Eigenvalues 3 and -1.
        assert!(Cholesky::factor(vec![1.0, 2.0, 2.0, 1.0], 2).is_none());
        assert!(Cholesky::factor(vec![0.0], 1).is_none());
        assert!(Cholesky::factor(vec![f64::NAN], 1).is_none());
        // Positive definite but for the last diagonal entry, past a block.
        let n = BLOCK + 3;
        let mut indefinite = spd(n, &mut SeededRng::new(3));
        indefinite[n * n - 1] = -1.0;
        assert!(Cholesky::factor(indefinite, n).is_none());
    }
}
