//! The `bench` subcommand: training throughput of each kernel against this
//! machine's measured FMA peak.
//!
//! ```no_run
//! use softreg::bench::{run, BenchConfig};
//! let report = run(&BenchConfig::default())?;
//! println!("{}", report.table());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::data::{Dataset, PixelFormat};
use crate::kernel::Isa;
use crate::peak;
use crate::report::flop_per_sample;
use crate::train::{Kernel, TrainConfig, TrainError, train};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The data directory.
    pub data: PathBuf,
    /// Worker threads.
    pub threads: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Timed epochs per fused configuration; the median is reported.
    pub epochs: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/fashion-mnist"),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_size: 256,
            epochs: 5,
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// Kernel name.
    pub kernel: &'static str,
    /// Pixel format name.
    pub pixels: &'static str,
    /// Median training throughput over the timed epochs.
    pub samples_per_second: f64,
    /// Arithmetic rate the throughput implies.
    pub gflops: f64,
}

/// The measured peak and every configuration's throughput.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The instruction set the fused kernel ran with.
    pub isa: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// f32 FMA peak of one core, GFLOP/s.
    pub peak_one_core: f64,
    /// The ceiling the "of peak" column divides by: the one-core peak times the
    /// cores the threads can use.
    pub peak_ceiling: f64,
    /// f32 FMA peak of `threads` threads together, GFLOP/s.
    pub peak_all_threads: f64,
    /// Streaming read bandwidth from memory over the f32 training pixels, one thread, GB/s.
    pub read_one_thread: f64,
    /// The same with `threads` threads, GB/s.
    pub read_all_threads: f64,
    /// One row per kernel and pixel format.
    pub rows: Vec<BenchRow>,
}

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The data set could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Training refused the settings.
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// Lane-FMAs per peak measurement: about a second of work on one AVX2 core.
const PEAK_LANE_FMAS: u64 = 20_000_000_000;

/// Measures the FMA peak and read bandwidth, then trains with the fused kernel
/// (f32 and u8 pixels), the GEMM baseline and the reference, and reports the
/// median epoch throughput of each.
pub fn run(config: &BenchConfig) -> Result<BenchReport, BenchError> {
    let isa = Isa::best();
    let peak_one_core = peak::fma_gflops(isa, PEAK_LANE_FMAS);
    let peak_all_threads = peak::fma_gflops_threads(isa, PEAK_LANE_FMAS, config.threads);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peak_ceiling = peak_one_core * config.threads.min(cores) as f64;
    let mut rows = Vec::new();
    let mut bandwidth = (0.0, 0.0);
    for (kernel, pixels, epochs) in [
        (Kernel::Fused, PixelFormat::F32, config.epochs),
        (Kernel::Fused, PixelFormat::U8, config.epochs),
        (Kernel::Gemm, PixelFormat::F32, config.epochs),
        (Kernel::Reference, PixelFormat::F32, 1),
    ] {
        let data = Dataset::load_as(&config.data, 10, pixels)?;
        if let (Kernel::Reference, Some(pixels)) = (kernel, data.train.images.f32_pixels()) {
            bandwidth = (
                peak::read_gbps(pixels, 1, 3),
                peak::read_gbps(pixels, config.threads, 3),
            );
        }
        let train_config = TrainConfig {
            epochs,
            batch_size: config.batch_size,
            threads: Some(config.threads),
            kernel,
            ..TrainConfig::default()
        };
        let trained = train(&data, &train_config, |_| {})?;
        let mut rates: Vec<f64> = trained
            .epochs
            .iter()
            .map(|e| e.samples_per_second())
            .collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let flop = flop_per_sample(data.train.images.features(), data.classes);
        rows.push(BenchRow {
            kernel: match kernel {
                Kernel::Fused => "fused",
                Kernel::Gemm => "gemm",
                Kernel::Reference => "reference",
            },
            pixels: match pixels {
                PixelFormat::F32 => "f32",
                PixelFormat::U8 => "u8",
            },
            samples_per_second: median,
            gflops: median * flop / 1e9,
        });
    }
    Ok(BenchReport {
        isa: isa.name(),
        threads: config.threads,
        batch_size: config.batch_size,
        peak_one_core,
        peak_ceiling,
        peak_all_threads,
        read_one_thread: bandwidth.0,
        read_all_threads: bandwidth.1,
        rows,
    })
}

impl BenchReport {
    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "f32 FMA peak ({}): {:.1} GFLOP/s on one core, {:.1} GFLOP/s measured on {} threads; ceiling {:.1} GFLOP/s",
            self.isa, self.peak_one_core, self.peak_all_threads, self.threads, self.peak_ceiling
        );
        let _ = writeln!(
            out,
            "read bandwidth (training pixels as f32): {:.1} GB/s on one thread, {:.1} GB/s on {} threads",
            self.read_one_thread, self.read_all_threads, self.threads
        );
        let _ = writeln!(
            out,
            "training, batch {}, {} threads (median epoch):",
            self.batch_size, self.threads
        );
        let _ = writeln!(
            out,
            "{:<10} {:<6} {:>14} {:>10} {:>9}",
            "kernel", "pixels", "samples/s", "GFLOP/s", "of peak"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:>12.3} M {:>10.1} {:>8.1}%",
                row.kernel,
                row.pixels,
                row.samples_per_second / 1e6,
                row.gflops,
                100.0 * row.gflops / self.peak_ceiling
            );
        }
        let rate = |kernel: &str| {
            self.rows
                .iter()
                .find(|r| r.kernel == kernel && r.pixels == "f32")
                .map(|r| r.samples_per_second)
        };
        if let (Some(fused), Some(gemm), Some(reference)) =
            (rate("fused"), rate("gemm"), rate("reference"))
        {
            let _ = writeln!(
                out,
                "fused / gemm: {:.2}x, fused / reference: {:.1}x (f32 pixels)",
                fused / gemm,
                fused / reference
            );
        }
        out
    }
}
