//! The one instruction-set hook of the kernel: a row group's lane sums
//! transposed into one vector ([`transposed_sums`]), rows in lanes.
//!
//! The forward pass leaves one vector of partial sums per (row, class); the
//! softmax wants each class's logits of `S::F32_LANES` rows in one vector.
//! Summing each vector on its own ([`Simd::reduce_sum_f32s`]) costs a chain of
//! shuffles per logit; a transposing tree sums `L` vectors in `L - 1` adds and
//! twice as many shuffles, every step working on whole vectors. pulp has no
//! portable shuffles, so AVX-512 and AVX2 get the tree in their own
//! intrinsics here; other instruction sets sum vector by vector.
//!
//! Every tree pairs the lanes exactly as pulp's `reduce_sum_f32s` does on the
//! same instruction set (halves first, then quarters, down to lanes 0 and 1),
//! so the two give the same bits (tested below) and the choice of one over the
//! other never shows in a result.

use std::any::Any;

use pulp::Simd;

/// A vector whose lane `i` is the sum of the lanes of `v(i)`, for `i` below
/// `S::F32_LANES`: bit for bit `simd.reduce_sum_f32s(v(i))`.
#[inline(always)]
pub(super) fn transposed_sums<S: Simd>(simd: S, v: impl Fn(usize) -> S::f32s) -> S::f32s {
    #[cfg(target_arch = "x86_64")]
    {
        let any: &dyn Any = &simd;
        // The types are known when this is compiled, so each test folds to a
        // constant and `bytemuck::cast` converts a vector to itself.
        if let Some(&v4) = any.downcast_ref::<pulp::x86::V4>() {
            let mut inputs: [pulp::f32x16; 16] = bytemuck::Zeroable::zeroed();
            for (input, &row) in inputs.iter_mut().zip(&V4_ROW_AT) {
                *input = bytemuck::cast(v(row));
            }
            return bytemuck::cast(avx512_tree(v4, inputs));
        }
        if let Some(&v3) = any.downcast_ref::<pulp::x86::V3>() {
            let mut inputs: [pulp::f32x8; 8] = bytemuck::Zeroable::zeroed();
            for (input, &row) in inputs.iter_mut().zip(&V3_ROW_AT) {
                *input = bytemuck::cast(v(row));
            }
            return bytemuck::cast(avx2_tree(v3, inputs));
        }
    }
    let mut sums = [0.0f32; super::blocking::MAX_LANES];
    for (i, sum) in sums.iter_mut().enumerate().take(S::F32_LANES) {
        *sum = simd.reduce_sum_f32s(v(i));
    }
    simd.partial_load_f32s(&sums[..S::F32_LANES])
}

/// The row whose vector goes in at each position of [`avx512_tree`], so that
/// lane `i` of its result is row `i`'s sum: the tree leaves the sum of input
/// `j + 4m` in lane `4j + m`.
#[cfg(target_arch = "x86_64")]
const V4_ROW_AT: [usize; 16] = {
    let mut rows = [0; 16];
    let mut p = 0;
    while p < 16 {
        rows[p] = 4 * (p % 4) + p / 4;
        p += 1;
    }
    rows
};

/// As [`V4_ROW_AT`] for [`avx2_tree`], which leaves the sum of input `j + 2m`
/// in lane `4j + m`.
#[cfg(target_arch = "x86_64")]
const V3_ROW_AT: [usize; 8] = {
    let mut rows = [0; 8];
    let mut p = 0;
    while p < 8 {
        rows[p] = 4 * (p % 2) + p / 2;
        p += 1;
    }
    rows
};

/// Sixteen vectors summed in four steps, each adding the halves pulp's
/// `reduce_sum_f32s` adds at that step: lanes `i` and `i + 8`, then `i + 4`,
/// then `i + 2`, then lanes 0 and 1.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx512_tree(simd: pulp::x86::V4, v: [pulp::f32x16; 16]) -> pulp::f32x16 {
    use std::arch::x86_64::{__m512, __m512d};
    let f = simd.avx512f;
    let ps = |v: pulp::f32x16| -> __m512 { pulp::cast(v) };
    let pd = |v: __m512| -> __m512d { pulp::cast(v) };
    let back = |v: __m512d| -> __m512 { pulp::cast(v) };
    // Lanes i and i + 8: the 256-bit halves of a pair side by side.
    let eighths: [__m512; 8] = pairwise(v.map(ps), |a, b| {
        f._mm512_add_ps(
            f._mm512_shuffle_f32x4::<0x44>(a, b),
            f._mm512_shuffle_f32x4::<0xEE>(a, b),
        )
    });
    // Lanes i and i + 4: the 128-bit quarters.
    let quarters: [__m512; 4] = pairwise(eighths, |a, b| {
        f._mm512_add_ps(
            f._mm512_shuffle_f32x4::<0x88>(a, b),
            f._mm512_shuffle_f32x4::<0xDD>(a, b),
        )
    });
    // Lanes i and i + 2 within each quarter.
    let pairs: [__m512; 2] = pairwise(quarters, |a, b| {
        let (a, b) = (pd(a), pd(b));
        f._mm512_add_ps(
            back(f._mm512_unpacklo_pd(a, b)),
            back(f._mm512_unpackhi_pd(a, b)),
        )
    });
    // Lanes 0 and 1.
    let (a, b) = (pairs[0], pairs[1]);
    pulp::cast(f._mm512_add_ps(
        f._mm512_shuffle_ps::<0x88>(a, b),
        f._mm512_shuffle_ps::<0xDD>(a, b),
    ))
}

/// Eight vectors summed in three steps, as pulp's AVX2 `reduce_sum_f32s`
/// adds: lanes `i` and `i + 4`, then `i + 2`, then lanes 0 and 1.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2_tree(simd: pulp::x86::V3, v: [pulp::f32x8; 8]) -> pulp::f32x8 {
    use std::arch::x86_64::{__m256, __m256d};
    let f = simd.avx;
    let ps = |v: pulp::f32x8| -> __m256 { pulp::cast(v) };
    let pd = |v: __m256| -> __m256d { pulp::cast(v) };
    let back = |v: __m256d| -> __m256 { pulp::cast(v) };
    // Lanes i and i + 4: the 128-bit halves of a pair side by side.
    let quarters: [__m256; 4] = pairwise(v.map(ps), |a, b| {
        f._mm256_add_ps(
            f._mm256_permute2f128_ps::<0x20>(a, b),
            f._mm256_permute2f128_ps::<0x31>(a, b),
        )
    });
    // Lanes i and i + 2 within each half.
    let pairs: [__m256; 2] = pairwise(quarters, |a, b| {
        let (a, b) = (pd(a), pd(b));
        f._mm256_add_ps(
            back(f._mm256_unpacklo_pd(a, b)),
            back(f._mm256_unpackhi_pd(a, b)),
        )
    });
    // Lanes 0 and 1.
    let (a, b) = (pairs[0], pairs[1]);
    pulp::cast(f._mm256_add_ps(
        f._mm256_shuffle_ps::<0x88>(a, b),
        f._mm256_shuffle_ps::<0xDD>(a, b),
    ))
}

/// `[add(v[0], v[1]), add(v[2], v[3]), ...]`: one step of a tree, written
/// as a loop (not `array::from_fn`, which the compiler left as a call).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pairwise<T: Copy, const N: usize, const H: usize>(v: [T; N], add: impl Fn(T, T) -> T) -> [T; H] {
    const { assert!(N == 2 * H) };
    let mut out = [v[0]; H];
    for (i, out) in out.iter_mut().enumerate() {
        *out = add(v[2 * i], v[2 * i + 1]);
    }
    out
}

#[cfg(test)]
mod tests {
    use pulp::{Simd, WithSimd};

    use super::transposed_sums;
    use crate::kernel::Isa;

    /// Lane sums of vectors of values of every magnitude (so that any other
    /// pairing of the lanes rounds differently), transposed and one by one.
    struct Both(Vec<f32>);

    impl WithSimd for Both {
        type Output = (Vec<f32>, Vec<f32>);
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> (Vec<f32>, Vec<f32>) {
            let lanes = S::F32_LANES;
            let vectors = S::as_simd_f32s(&self.0[..lanes * lanes]).0;
            let mut transposed = vec![0.0; lanes];
            simd.partial_store_f32s(&mut transposed, transposed_sums(simd, |i| vectors[i]));
            let one_by_one = vectors.iter().map(|&v| simd.reduce_sum_f32s(v)).collect();
            (transposed, one_by_one)
        }
    }

    #[test]
    fn transposed_sums_give_the_bits_of_each_vectors_own_sum_on_every_instruction_set() {
        let values: Vec<f32> = (0..256u32)
            .map(|i| {
                let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
                sign * (1.0 + (i * 37 % 101) as f32 / 7.0) * 2f32.powi((i * 13 % 41) as i32 - 20)
            })
            .collect();
        for isa in Isa::available() {
            let (transposed, one_by_one) = isa.dispatch(Both(values.clone()));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&transposed), bits(&one_by_one), "{}", isa.name());
        }
    }
}
