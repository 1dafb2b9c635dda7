//! What `bench` prints: the measured peaks and every configuration's
//! throughput as a fraction of them, as a table or JSON.

use std::fmt::Write as _;

use super::bench::BenchReport;
use super::report::count;
use crate::compute::cores;
use crate::data::PixelFormat;
use crate::kernel::Kernel;

/// The fraction of the ideal (one core's peak times the cores used) below
/// which the threads' own peak says the machine is busy.
const BUSY_BELOW: f64 = 0.85;

/// A warning when the FMA peak measured on `threads` threads together,
/// `peak_all_threads`, is far below `peak_one_core` times the cores they use:
/// another process (or a slowed vCPU) is taking time, and every figure of the
/// run is suspect.
pub fn busy_warning(peak_one_core: f64, peak_all_threads: f64, threads: usize) -> Option<String> {
    let ideal = peak_one_core * threads.min(cores()) as f64;
    (threads > 1 && peak_all_threads < BUSY_BELOW * ideal).then(|| {
        format!(
            "warning: {} measured {:.1} GFLOP/s, {:.0} % of {} times one core's {:.1}: the \
             machine is busy, so the figures below are not this machine's best; run again",
            count(threads, "thread"),
            peak_all_threads,
            100.0 * peak_all_threads / ideal,
            threads.min(cores()),
            peak_one_core
        )
    })
}

/// A report's first lines: [`busy_warning`] if the machine is busy, then the
/// FMA peak of `isa` measured on one core and on `threads` threads.
pub(super) fn peak_lines(isa: &str, (one_core, all_threads): (f64, f64), threads: usize) -> String {
    let mut out = String::new();
    if let Some(warning) = busy_warning(one_core, all_threads, threads) {
        let _ = writeln!(out, "{warning}");
    }
    let _ = writeln!(
        out,
        "f32 FMA peak ({isa}): {one_core:.1} GFLOP/s on one core, {all_threads:.1} GFLOP/s measured on {}",
        count(threads, "thread")
    );
    out
}

impl BenchReport {
    /// [`busy_warning`] for this run's peaks.
    pub fn busy(&self) -> Option<String> {
        busy_warning(self.peak_one_core, self.peak_all_threads, self.threads)
    }

    /// The report as one JSON object: the peaks and bandwidths, and a row per
    /// measured configuration with its fraction of the peak of the cores used.
    pub fn json(&self) -> serde_json::Value {
        let cores = cores();
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "kernel": row.kernel.name(),
                    "pixels": row.pixels.name(),
                    "threads": row.threads,
                    "samples_per_s": row.samples_per_second.median,
                    "samples_per_s_min": row.samples_per_second.min,
                    "samples_per_s_max": row.samples_per_second.max,
                    "gflops": row.gflops,
                    "of_peak": row.gflops / row.ceiling,
                })
            })
            .collect();
        let ceiling = self.peak_one_core * self.threads.min(cores) as f64;
        let sweeps: Vec<_> = self
            .sweeps
            .iter()
            .map(|&(models, rate)| {
                let gflops = rate.median * self.flop_per_sample / 1e9;
                serde_json::json!({
                    "models": models,
                    "threads": self.threads,
                    "model_samples_per_s": rate.median,
                    "model_samples_per_s_min": rate.min,
                    "model_samples_per_s_max": rate.max,
                    "gflops": gflops,
                    "of_peak": gflops / ceiling,
                })
            })
            .collect();
        let hot_gflops = self.hot_rows_samples_per_second * self.flop_per_sample / 1e9;
        serde_json::json!({
            "type": "bench",
            "isa": self.isa,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "flop_per_sample": self.flop_per_sample,
            "peak_gflops_one_core": self.peak_one_core,
            "peak_gflops_all_threads": self.peak_all_threads,
            "busy": self.busy().is_some(),
            "read_gbps_one_thread": self.read_one_thread,
            "read_gbps_all_threads": self.read_all_threads,
            "training": rows,
            "sweep": sweeps,
            "plan": self.plan.0.to_string(),
            "plan_origin": self.plan.1,
            "candidates": self.candidates.iter().map(|t| serde_json::json!({
                "plan": t.plan.to_string(),
                "samples_per_s": t.rate.median,
                "samples_per_s_min": t.rate.min,
                "samples_per_s_max": t.rate.max,
                "of_peak": t.rate.median * self.flop_per_sample / 1e9 / self.peak_one_core,
            })).collect::<Vec<_>>(),
            "fused_kernel_alone": {
                "samples_per_s": self.hot_rows_samples_per_second,
                "gflops": hot_gflops,
                "of_peak": hot_gflops / self.peak_one_core,
            },
        })
    }

    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = peak_lines(
            self.isa,
            (self.peak_one_core, self.peak_all_threads),
            self.threads,
        );
        let _ = writeln!(out, "plan: {} ({})", self.plan.0, self.plan.1);
        let _ = writeln!(
            out,
            "read bandwidth (training pixels as f32): {:.1} GB/s on one thread, {:.1} GB/s on {}",
            self.read_one_thread,
            self.read_all_threads,
            count(self.threads, "thread")
        );
        let _ = writeln!(
            out,
            "training, batch {} (median epoch, then the slowest and fastest; of peak: against the one-core peak times the cores used):",
            self.batch_size
        );
        let _ = writeln!(
            out,
            "{:<10} {:<6} {:>7} {:>12} {:>10} {:>9}  min-max",
            "kernel", "pixels", "threads", "samples/s", "GFLOP/s", "of peak"
        );
        for row in &self.rows {
            let rate = row.samples_per_second;
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:>7} {:>10.3} M {:>10.1} {:>8.1}%  {:.3}-{:.3} M",
                row.kernel.name(),
                row.pixels.name(),
                row.threads,
                rate.median / 1e6,
                row.gflops,
                100.0 * row.gflops / row.ceiling,
                rate.min / 1e6,
                rate.max / 1e6
            );
        }
        let rate = |kernel: Kernel, pixels: PixelFormat, threads: usize| {
            self.rows
                .iter()
                .find(|r| r.kernel == kernel && r.pixels == pixels && r.threads == threads)
                .map(|r| r.samples_per_second.median)
        };
        if let (Some(one), Some(all), true) = (
            rate(Kernel::Fused, PixelFormat::U8, 1),
            rate(Kernel::Fused, PixelFormat::U8, self.threads),
            self.threads > 1,
        ) {
            let _ = writeln!(
                out,
                "fused u8, {} / 1 thread: {:.2}x",
                count(self.threads, "thread"),
                all / one
            );
        }
        if let (Some(fused), Some(gemm), Some(reference)) = (
            rate(Kernel::Fused, PixelFormat::F32, 1),
            rate(Kernel::Gemm, PixelFormat::F32, 1),
            rate(Kernel::Reference, PixelFormat::F32, 1),
        ) {
            let _ = writeln!(
                out,
                "fused / gemm: {:.2}x, fused / reference: {:.1}x (f32 pixels, 1 thread)",
                fused / gemm,
                fused / reference
            );
        }
        let flop = self.flop_per_sample;
        let cores = cores();
        let ceiling = self.peak_one_core * self.threads.min(cores) as f64;
        // The sweeps train on the first row's data: bytes, unless the samples
        // are not bytes.
        let pixels = self.rows.first().map_or("u8", |r| r.pixels.name());
        let _ = writeln!(
            out,
            "sweep, {pixels} pixels, {} (median epoch, summed over models; of peak as above):",
            count(self.threads, "thread")
        );
        let _ = writeln!(
            out,
            "{:>6} {:>16} {:>10} {:>9}  min-max",
            "models", "model-samples/s", "GFLOP/s", "of peak"
        );
        for &(models, rate) in &self.sweeps {
            let gflops = rate.median * flop / 1e9;
            let _ = writeln!(
                out,
                "{models:>6} {:>14.3} M {gflops:>10.1} {:>8.1}%  {:.3}-{:.3} M",
                rate.median / 1e6,
                100.0 * gflops / ceiling,
                rate.min / 1e6,
                rate.max / 1e6
            );
        }
        let hot = self.hot_rows_samples_per_second;
        let _ = writeln!(
            out,
            "fused kernel alone (f32 rows in cache, 1 thread): {:.3} M samples/s, {:.1} GFLOP/s, {:.1}% of one core",
            hot / 1e6,
            hot * flop / 1e9,
            100.0 * hot * flop / 1e9 / self.peak_one_core
        );
        let _ = writeln!(
            out,
            "candidate plans (fused u8, 1 thread, interleaved; softreg tune chooses and saves):"
        );
        let _ = writeln!(
            out,
            "{:<32} {:>10} {:>9}  min-max",
            "plan", "samples/s", "of peak"
        );
        for t in &self.candidates {
            let mark = if t.plan == self.plan.0 {
                "  in use"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{:<32} {:>8.3} M {:>8.1}%  {:.3}-{:.3} M{mark}",
                t.plan.to_string(),
                t.rate.median / 1e6,
                100.0 * t.rate.median * flop / 1e9 / self.peak_one_core,
                t.rate.min / 1e6,
                t.rate.max / 1e6
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::BenchReport;
    use crate::compute::cores;
    use crate::kernel::{Isa, Plan};

    fn report(threads: usize, peak_one_core: f64, peak_all_threads: f64) -> BenchReport {
        BenchReport {
            isa: "scalar",
            threads,
            batch_size: 256,
            flop_per_sample: 31_360.0,
            peak_one_core,
            peak_all_threads,
            read_one_thread: 1.0,
            read_all_threads: 1.0,
            hot_rows_samples_per_second: 1.0,
            plan: (Plan::default_for(Isa::scalar()), "default"),
            candidates: Vec::new(),
            rows: Vec::new(),
            sweeps: Vec::new(),
        }
    }

    /// Two threads measuring far less than twice one core say the machine is
    /// busy, in the table and the JSON; close to twice, or one thread, do not.
    #[test]
    fn a_slow_second_thread_is_called_a_busy_machine() {
        if cores() < 2 {
            return;
        }
        let busy = report(2, 200.0, 250.0);
        assert!(busy.busy().is_some_and(|w| w.contains("62 %")));
        assert!(
            busy.table()
                .starts_with("warning: 2 threads measured 250.0")
        );
        assert_eq!(busy.json()["busy"], true);
        assert!(report(2, 200.0, 390.0).busy().is_none());
        assert!(report(1, 200.0, 100.0).busy().is_none());
    }
}
