//! The Gram preconditioner of the L-BFGS fit.
//!
//! At zero weights the objective's Hessian couples class c's weights with
//! class d's by (δ_cd/K − 1/K²) X̃ᵀX̃/n, plus λ on the weights, where X̃ is
//! the training rows with a 1 appended (the bias) and K the class count. Its
//! part within each class, M = X̃ᵀX̃/(K n) + λ, the same for every class, is
//! what each L-BFGS direction starts from here instead of the identity
//! ([`super::lbfgs::Preconditioner`]). Pixels, and the features a network
//! produces, are strongly correlated, so X̃ᵀX̃ spreads its eigenvalues over
//! orders of magnitude and plain L-BFGS spends most of its iterations
//! learning them: on Fashion-MNIST at C = 1 it reaches the objective of
//! scikit-learn's default fit in 105 iterations, preconditioned in about 10
//! (perf/RESULTS.md).
//!
//! X̃ᵀX̃/n is estimated from at most [`GRAM_ROWS`] evenly spaced training
//! rows, as f32 products of [`GRAM_CHUNK_ROWS`] rows each, added in f64 in
//! chunk order: the same bits for any thread count. It is computed once per
//! fit and shared by every strength; each strength factors its own M (λ
//! differs) by Cholesky ([`crate::linalg`]).

use std::sync::Arc;

use matrixmultiply::sgemm;
use rayon::prelude::*;

use super::lbfgs::Preconditioner;
use crate::data::Images;
use crate::linalg::Cholesky;

/// Training rows the Gram matrix is estimated from, at most: enough for
/// directions that matter to the fit (a few per feature of Fashion-MNIST),
/// few enough that its products cost about three passes of ten classes.
pub const GRAM_ROWS: usize = 4096;

/// Rows of one f32 product of the Gram matrix's estimate.
const GRAM_CHUNK_ROWS: usize = 512;

/// M's diagonal is raised by this much of its mean, so that a feature that
/// is constant over the sampled rows (a border pixel that is always 0) does
/// not make M singular when λ is 0.
const RIDGE: f64 = 1e-8;

/// The widest data `auto` preconditions: M and each strength's factor are
/// (features + 1)² f64 (128 MiB at this width).
pub const AUTO_MAX_FEATURES: usize = 4096;

/// Whether an L-BFGS fit starts its directions from the Gram preconditioner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preconditioning {
    /// The Gram preconditioner when it pays ([`gram_pays`]), else none.
    #[default]
    Auto,
    /// Always the Gram preconditioner.
    Gram,
    /// None: L-BFGS as scipy runs it.
    None,
}

/// Whether the Gram preconditioner costs little next to what it saves, for
/// `rows` training rows of `features` and `classes`: the Gram matrix and a
/// factor at most ten passes' multiply-adds, applying the factor in an
/// iteration (three solves) at most a tenth of a pass, and at most
/// [`AUTO_MAX_FEATURES`] features.
pub fn gram_pays(rows: usize, features: usize, classes: usize) -> bool {
    let size = (features + 1) as f64;
    let pass = 2.0 * rows as f64 * features as f64 * classes as f64;
    let setup = rows.min(GRAM_ROWS) as f64 * size * size + size * size * size / 3.0;
    let per_iteration = 3.0 * size * size * classes as f64;
    features <= AUTO_MAX_FEATURES && setup <= 10.0 * pass && per_iteration <= 0.1 * pass
}

/// Bytes the Gram preconditioner holds for `models` models of `features` on
/// `threads` threads: the Gram matrix and one factor per model (f64), and
/// while the matrix is estimated, each thread's rows and product (f32).
pub fn gram_bytes(features: usize, models: usize, threads: usize) -> u64 {
    let size = (features + 1) as u64;
    let square = size.saturating_mul(size);
    let f64s = square.saturating_mul(models as u64 + 1);
    let f32s =
        (threads as u64).saturating_mul(square.saturating_add(GRAM_CHUNK_ROWS as u64 * size));
    f64s.saturating_mul(8)
        .saturating_add(f32s.saturating_mul(4))
}

/// X̃ᵀX̃/m over m sampled training rows, X̃ the rows with a 1 appended.
#[derive(Debug, Clone)]
pub struct Gram {
    rows: usize,
    size: usize,
    /// `size x size`, row-major.
    matrix: Vec<f64>,
}

impl Gram {
    /// The estimate from at most [`GRAM_ROWS`] of the first `rows` of
    /// `images`, evenly spaced, computed on the current thread pool.
    pub fn sample(images: &Images, rows: usize) -> Self {
        let size = images.features() + 1;
        let m = rows.min(GRAM_ROWS);
        let sampled: Vec<usize> = (0..m).map(|i| i * rows / m).collect();
        let chunks: Vec<&[usize]> = sampled.chunks(GRAM_CHUNK_ROWS).collect();
        let threads = rayon::current_num_threads();
        let mut matrix = vec![0.0; size * size];
        for group in chunks.chunks(threads) {
            let products: Vec<Vec<f32>> = group
                .par_iter()
                .map(|chunk| chunk_product(images, chunk))
                .collect();
            for product in products {
                for (sum, &v) in matrix.iter_mut().zip(&product) {
                    *sum += f64::from(v);
                }
            }
        }
        let scale = 1.0 / m.max(1) as f64;
        matrix.iter_mut().for_each(|v| *v *= scale);
        Self {
            rows: m,
            size,
            matrix,
        }
    }

    /// Rows it was estimated from.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// X̃ᵀX̃ over the rows `rows` of `images`, in f32.
fn chunk_product(images: &Images, rows: &[usize]) -> Vec<f32> {
    let size = images.features() + 1;
    let mut x = vec![0.0f32; rows.len() * size];
    for (row, &i) in x.chunks_exact_mut(size).zip(rows) {
        let (pixels, one) = row.split_at_mut(size - 1);
        images.write_row_f32(i, pixels);
        one[0] = 1.0;
    }
    let mut product = vec![0.0f32; size * size];
    let s = size as isize;
    // SAFETY: `x` is rows.len() x size row-major, read as X̃ᵀ (size x rows,
    // strides 1 and size) and as X̃ (strides size and 1); `product` is
    // size x size row-major, written only, and `x` is not part of it.
    unsafe {
        sgemm(
            size,
            rows.len(),
            size,
            1.0,
            x.as_ptr(),
            1,
            s,
            x.as_ptr(),
            s,
            1,
            0.0,
            product.as_mut_ptr(),
            s,
            1,
        );
    }
    product
}

/// M = X̃ᵀX̃/(K n) + λ on the weights, factored, applied to all classes'
/// weights and biases at once in the solver's layout.
#[derive(Debug)]
pub struct GramPreconditioner {
    factor: Cholesky,
    classes: usize,
    /// For each weight in the solver's layout, its index in the class-major
    /// matrix (`class * features + feature`); the biases follow, by class.
    positions: Arc<[usize]>,
}

impl GramPreconditioner {
    /// M for `classes` classes and penalty `lambda`; `positions` as
    /// [`GramPreconditioner::positions`] holds. `None` when M is not
    /// positive definite in f64.
    pub fn new(gram: &Gram, classes: usize, lambda: f64, positions: Arc<[usize]>) -> Option<Self> {
        let size = gram.size;
        assert_eq!(
            positions.len(),
            (size - 1) * classes,
            "a position per weight"
        );
        let scale = 1.0 / classes as f64;
        let mut m: Vec<f64> = gram.matrix.iter().map(|v| v * scale).collect();
        let mean_diagonal = (0..size).map(|i| m[i * size + i]).sum::<f64>() / size as f64;
        let ridge = RIDGE * mean_diagonal;
        for i in 0..size {
            m[i * size + i] += ridge + if i + 1 < size { lambda } else { 0.0 };
        }
        Some(Self {
            factor: Cholesky::factor(m, size)?,
            classes,
            positions,
        })
    }
}

impl Preconditioner for GramPreconditioner {
    fn solve(&self, v: &mut [f64]) {
        let (size, classes) = (self.factor.size(), self.classes);
        let features = size - 1;
        let weights = features * classes;
        assert_eq!(v.len(), weights + classes, "the weights, then the biases");
        // b[feature][class], the biases as the last feature.
        let mut b = vec![0.0; size * classes];
        for (&value, &index) in v.iter().zip(self.positions.iter()) {
            b[(index % features) * classes + index / features] = value;
        }
        b[weights..].copy_from_slice(&v[weights..]);
        self.factor.solve(&mut b, classes);
        for (value, &index) in v.iter_mut().zip(self.positions.iter()) {
            *value = b[(index % features) * classes + index / features];
        }
        v[weights..].copy_from_slice(&b[weights..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three features over five rows, the second constant at 0.
    fn images() -> Images {
        let pixels = [
            1.0, 0.0, 2.0, //
            0.5, 0.0, -1.0, //
            -2.0, 0.0, 0.0, //
            3.0, 0.0, 1.0, //
            0.0, 0.0, 0.5,
        ];
        Images::from_f32(1, 3, &pixels)
    }

    #[test]
    fn the_gram_matrix_is_the_mean_outer_product_of_the_rows_with_a_one() {
        let images = images();
        let gram = Gram::sample(&images, 5);
        assert_eq!((gram.rows(), gram.size), (5, 4));
        for i in 0..4 {
            for j in 0..4 {
                let want: f64 = (0..5)
                    .map(|r| {
                        let row = images.row_f32(r);
                        let at = |k: usize| if k == 3 { 1.0 } else { f64::from(row[k]) };
                        at(i) * at(j)
                    })
                    .sum::<f64>()
                    / 5.0;
                assert!((gram.matrix[i * 4 + j] - want).abs() < 1e-6, "({i}, {j})");
            }
        }
    }

    #[test]
    fn the_preconditioner_solves_m_in_the_solvers_layout() {
        let images = images();
        let gram = Gram::sample(&images, 5);
        let (features, classes, lambda) = (3, 2, 0.0);
        // A layout that is not class-major: feature-major.
        let positions: Arc<[usize]> = (0..features * classes)
            .map(|p| (p % classes) * features + p / classes)
            .collect();
        // With λ 0 the constant feature leaves only the ridge on its diagonal.
        let m = GramPreconditioner::new(&gram, classes, lambda, positions.clone())
            .expect("positive definite with the ridge");
        let v: Vec<f64> = (0..features * classes + classes)
            .map(|i| i as f64 - 2.5)
            .collect();
        let mut x = v.clone();
        m.solve(&mut x);
        // M x = v, class by class, in the class-major order.
        let at = |values: &[f64], class: usize, k: usize| {
            if k == features {
                values[features * classes + class]
            } else {
                let p = positions
                    .iter()
                    .position(|&i| i == class * features + k)
                    .unwrap();
                values[p]
            }
        };
        let size = features + 1;
        let mean_diagonal =
            (0..size).map(|i| gram.matrix[i * size + i]).sum::<f64>() / (classes * size) as f64;
        for class in 0..classes {
            for i in 0..size {
                let mx: f64 = (0..size)
                    .map(|j| {
                        let mij = gram.matrix[i * size + j] / classes as f64
                            + if i == j { RIDGE * mean_diagonal } else { 0.0 };
                        mij * at(&x, class, j)
                    })
                    .sum();
                let want = at(&v, class, i);
                assert!(
                    (mx - want).abs() < 1e-6 * want.abs().max(1.0),
                    "{mx} against {want}"
                );
            }
        }
    }

    #[test]
    fn auto_preconditions_where_it_pays() {
        assert!(gram_pays(60_000, 784, 10));
        // Too few rows for the setup, too many features.
        assert!(!gram_pays(500, 784, 10));
        assert!(!gram_pays(10_000_000, AUTO_MAX_FEATURES + 1, 1000));
    }
}
