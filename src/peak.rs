//! Measures this machine's f32 fused multiply-add peak: the ceiling for every
//! throughput figure softreg reports.
//!
//! ```no_run
//! use softreg::{kernel::Isa, peak};
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
