//! What `bench` prints: the measured peaks and every configuration's
//! throughput as a fraction of them, as a table or JSON.

use std::fmt::Write as _;

use super::bench::BenchReport;
use super::report::count;
use crate::data::PixelFormat;
use crate::kernel::Kernel;
use crate::train::cores;

impl BenchReport {
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
                    "samples_per_s": row.samples_per_second,
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
                let gflops = rate * self.flop_per_sample / 1e9;
                serde_json::json!({
                    "models": models,
                    "threads": self.threads,
                    "model_samples_per_s": rate,
                    "gflops": gflops,
                    "of_peak": gflops / ceiling,
                })
            })
            .collect();
        let hot_gflops = self.hot_rows_samples_per_second * self.flop_per_sample / 1e9;
        serde_json::json!({
            "isa": self.isa,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "flop_per_sample": self.flop_per_sample,
            "peak_gflops_one_core": self.peak_one_core,
            "peak_gflops_all_threads": self.peak_all_threads,
            "read_gbps_one_thread": self.read_one_thread,
            "read_gbps_all_threads": self.read_all_threads,
            "training": rows,
            "sweep": sweeps,
            "fused_kernel_alone": {
                "samples_per_s": self.hot_rows_samples_per_second,
                "gflops": hot_gflops,
                "of_peak": hot_gflops / self.peak_one_core,
            },
        })
    }

    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "f32 FMA peak ({}): {:.1} GFLOP/s on one core, {:.1} GFLOP/s measured on {}",
            self.isa,
            self.peak_one_core,
            self.peak_all_threads,
            count(self.threads, "thread")
        );
        let _ = writeln!(
            out,
            "read bandwidth (training pixels as f32): {:.1} GB/s on one thread, {:.1} GB/s on {}",
            self.read_one_thread,
            self.read_all_threads,
            count(self.threads, "thread")
        );
        let _ = writeln!(
            out,
            "training, batch {} (median epoch; of peak: against the one-core peak times the cores used):",
            self.batch_size
        );
        let _ = writeln!(
            out,
            "{:<10} {:<6} {:>7} {:>12} {:>10} {:>9}",
            "kernel", "pixels", "threads", "samples/s", "GFLOP/s", "of peak"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:>7} {:>10.3} M {:>10.1} {:>8.1}%",
                row.kernel.name(),
                row.pixels.name(),
                row.threads,
                row.samples_per_second / 1e6,
                row.gflops,
                100.0 * row.gflops / row.ceiling
            );
        }
        let rate = |kernel: Kernel, pixels: PixelFormat, threads: usize| {
            self.rows
                .iter()
                .find(|r| r.kernel == kernel && r.pixels == pixels && r.threads == threads)
                .map(|r| r.samples_per_second)
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
        let _ = writeln!(
            out,
            "sweep, u8 pixels, {} (median epoch, summed over models; of peak as above):",
            count(self.threads, "thread")
        );
        let _ = writeln!(
            out,
            "{:>6} {:>16} {:>10} {:>9}",
            "models", "model-samples/s", "GFLOP/s", "of peak"
        );
        for &(models, rate) in &self.sweeps {
            let gflops = rate * flop / 1e9;
            let _ = writeln!(
                out,
                "{models:>6} {:>14.3} M {gflops:>10.1} {:>8.1}%",
                rate / 1e6,
                100.0 * gflops / ceiling
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
        out
    }
}
