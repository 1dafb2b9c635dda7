//! Measures this machine's ceilings: the f32 fused multiply-add peak and the
//! streaming read bandwidth, against which softreg reports every throughput.
//!
//! ```no_run
//! use softreg::{app::peak, kernel::Isa};
//! let gflops = peak::fma_gflops(Isa::best(), 200_000_000);
//! println!("one core: {gflops:.1} GFLOP/s");
//! ```

use std::hint::black_box;
use std::time::Instant;

use pulp::{Simd, WithSimd};

use crate::kernel::Isa;

/// Independent accumulators: enough to cover FMA latency x FMA ports on current
/// cores while fitting the 16 AVX2 vector registers with the two operands.
const CHAINS: usize = 12;

/// One core's f32 FMA throughput in GFLOP/s (2 FLOP per lane per FMA), measured
/// over about `lane_fmas` lane-FMAs of register-only work with `isa`.
pub fn fma_gflops(isa: Isa, lane_fmas: u64) -> f64 {
    isa.dispatch(FmaLoop { lane_fmas })
}

/// The combined FMA throughput of `threads` threads running the loop at once.
pub fn fma_gflops_threads(isa: Isa, lane_fmas: u64, threads: usize) -> f64 {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || fma_gflops(isa, lane_fmas)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the FMA loop does not panic"))
            .sum()
    })
}

/// Read bandwidth in GB/s of `threads` threads summing disjoint parts of
/// `values` (best of `repeats` passes, so that page faults and a noisy
/// neighbour do not count).
pub fn read_gbps(values: &[f32], threads: usize, repeats: usize) -> f64 {
    let part = values.len().div_ceil(threads.max(1)).max(1);
    let mut best = 0.0f64;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let total: f32 = std::thread::scope(|scope| {
            let handles: Vec<_> = values
                .chunks(part)
                .map(|chunk| scope.spawn(move || sum_lanes(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("summing does not panic"))
                .sum()
        });
        black_box(total);
        best = best.max(size_of_val(values) as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Sums `values` with 32 independent accumulators, so that the loop is limited
/// by loads rather than by add latency.
fn sum_lanes(values: &[f32]) -> f32 {
    let mut acc = [0.0f32; 32];
    let mut blocks = values.chunks_exact(32);
    for block in &mut blocks {
        for (a, v) in acc.iter_mut().zip(block) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>()
}

struct FmaLoop {
    lane_fmas: u64,
}

impl WithSimd for FmaLoop {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f64 {
        let per_iteration = (CHAINS * S::F32_LANES) as u64;
        let iterations = (self.lane_fmas / per_iteration).max(1);
        let a = simd.splat_f32s(black_box(0.999_999));
        let b = simd.splat_f32s(black_box(1e-7));
        let mut acc = [simd.splat_f32s(black_box(1.0)); CHAINS];
        let start = Instant::now();
        for _ in 0..iterations {
            for chain in &mut acc {
                *chain = simd.mul_add_e_f32s(*chain, a, b);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        black_box(acc);
        2.0 * (iterations * per_iteration) as f64 / seconds / 1e9
    }
}
