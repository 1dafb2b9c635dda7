//! The forward micro-kernel: partial dot products of a few rows with a few class
//! weight rows over a block of feature vectors.

use pulp::Simd;

/// `acc[r * C + c] += x[r] · w[c]`, lane-wise, for `R` rows and `C` classes.
///
/// `x` and `w` are the same block of feature vectors of each row and class. The
/// `R x C` accumulators stay in registers for the whole block; each loaded
/// vector of `x` is used `C` times and each of `w` `R` times. The lanes are summed
/// by the caller once every block is done.
///
/// # Panics
/// If the slices differ in length or `acc` holds fewer than `R * C` vectors.
#[inline(always)]
pub fn accumulate<S: Simd, const R: usize, const C: usize>(
    simd: S,
    x: [&[S::f32s]; R],
    w: [&[S::f32s]; C],
    acc: &mut [S::f32s],
) {
    let vectors = x[0].len();
    // Equal lengths let the compiler drop the bounds checks in the loop below
    // (plain indexing measured as fast as `get_unchecked`).
    assert!(x.iter().chain(&w).all(|s| s.len() == vectors));
    let mut sums = [[simd.splat_f32s(0.0); C]; R];
    for (r, row) in sums.iter_mut().enumerate() {
        row.copy_from_slice(&acc[r * C..(r + 1) * C]);
    }
    for i in 0..vectors {
        let mut xi = [simd.splat_f32s(0.0); R];
        for r in 0..R {
            xi[r] = x[r][i];
        }
        for c in 0..C {
            let wi = w[c][i];
            for r in 0..R {
                sums[r][c] = simd.mul_add_e_f32s(xi[r], wi, sums[r][c]);
            }
        }
    }
    for r in 0..R {
        acc[r * C..(r + 1) * C].copy_from_slice(&sums[r]);
    }
}
