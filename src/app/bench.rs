//! The `bench` subcommand: training throughput of each kernel against this
//! machine's measured FMA peak.
//!
//! ```no_run
//! use softreg::app::bench::{run, BenchConfig};
//! let report = run(&BenchConfig::default())?;
//! println!("{}", report.table());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use crate::app::peak;
use crate::app::report::flop_per_sample;
use crate::app::timing::{Spread, fused_minibatch};
use crate::app::tune::{self, Timed};
use crate::compute::{Compute, cores};
use crate::data::{Dataset, PixelFormat};
use crate::kernel::{ChunkSums, Isa, Kernel, Plan, Scratch, Weights};
use crate::model::Model;
use crate::random::SeededRng;
use crate::train::{
    CHUNK_ROWS, Grid, Param, RunConfig, Setting, SweepConfig, TrainConfig, TrainError, sweep, train,
};

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
    /// Lane-FMAs per peak measurement (the default is a few seconds of work
    /// on one AVX2 core).
    pub peak_lane_fmas: u64,
    /// The plan the fused configurations run with.
    pub plan: Plan,
    /// Where the plan came from, for the report: `default`, `saved by
    /// softreg tune`, `--plan`.
    pub plan_origin: &'static str,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("data/fashion-mnist"),
            threads: cores(),
            batch_size: 256,
            epochs: 5,
            peak_lane_fmas: 20_000_000_000,
            plan: Plan::default_for(Isa::best()),
            plan_origin: "default",
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// The kernel.
    pub kernel: Kernel,
    /// The pixel format.
    pub pixels: PixelFormat,
    /// Worker threads.
    pub threads: usize,
    /// Training throughput over the timed epochs.
    pub samples_per_second: Spread,
    /// Arithmetic rate the median throughput implies.
    pub gflops: f64,
    /// The FMA peak of the cores the threads can use, GFLOP/s.
    pub ceiling: f64,
}

/// The measured peak and every configuration's throughput.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The instruction set the fused kernel ran with.
    pub isa: &'static str,
    /// Worker threads of the widest configuration.
    pub threads: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Arithmetic per training sample of the data's model shape, FLOP.
    pub flop_per_sample: f64,
    /// f32 FMA peak of one core, GFLOP/s.
    pub peak_one_core: f64,
    /// f32 FMA peak of `threads` threads together, GFLOP/s.
    pub peak_all_threads: f64,
    /// Streaming read bandwidth from memory over the f32 training pixels, one thread, GB/s.
    pub read_one_thread: f64,
    /// The same with `threads` threads, GB/s.
    pub read_all_threads: f64,
    /// The fused kernel alone on one thread, f32 rows that stay in cache:
    /// samples/s.
    pub hot_rows_samples_per_second: f64,
    /// The plan the fused configurations ran with, and where it came from.
    pub plan: (Plan, &'static str),
    /// Every candidate plan's one-thread throughput on u8 pixels
    /// ([`tune::measure`]), the fastest first.
    pub candidates: Vec<Timed>,
    /// One row per kernel, pixel format and thread count.
    pub rows: Vec<BenchRow>,
    /// `sweep` on `threads` threads, u8 pixels: (models, epoch
    /// model-samples/s) for each model count of [`SWEEP_MODELS`].
    pub sweeps: Vec<(usize, Spread)>,
}

/// Rounds of the candidate plans' measurement in `bench` (fewer than `tune`'s:
/// the table shows the spread, `tune` decides).
const BENCH_ROUNDS: usize = 5;

/// The model counts the sweep rows train together.
pub const SWEEP_MODELS: [usize; 3] = [1, 8, 40];

/// The first `models` settings of a user's first sweep: learning rates 0.01
/// to 1 x momentum 0 and 0.9 x as many seeds as that takes.
fn sweep_settings(models: usize) -> Vec<Setting> {
    let grid = Grid {
        learning_rates: vec![0.01, 0.03, 0.1, 0.3, 1.0],
        params: vec![("momentum", vec![Param::Number(0.0), Param::Number(0.9)])],
        seeds: (0..models.div_ceil(10) as u64).collect(),
        ..Grid::default()
    };
    let mut settings = grid.settings();
    settings.truncate(models);
    settings
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

/// Measures the FMA peak and read bandwidth, then, on one thread and on
/// `config.threads`, trains with the fused kernel (u8 and f32 pixels) and the
/// GEMM baseline, and once with the reference, and reports the median epoch
/// throughput of each; last, the fused kernel alone on rows in cache.
pub fn run(config: &BenchConfig) -> Result<BenchReport, BenchError> {
    let isa = Isa::best();
    let peak_one_core = peak::fma_gflops(isa, config.peak_lane_fmas);
    let peak_all_threads = peak::fma_gflops_threads(isa, config.peak_lane_fmas, config.threads);
    let cores = cores();
    let u8_data = Dataset::load_as(&config.data, None, PixelFormat::U8)?;
    let f32_data = Dataset::load_as(&config.data, None, PixelFormat::F32)?;
    // Minibatches never hold more rows than the training set (as in
    // training): no buffer is sized by the flag alone.
    let batch_size = config.batch_size.min(u8_data.train.len()).max(1);
    let flop = flop_per_sample(f32_data.train.images.features(), f32_data.classes);
    let mut rows = Vec::new();
    let mut thread_counts = vec![1, config.threads];
    thread_counts.dedup();
    for &threads in &thread_counts {
        let ceiling = peak_one_core * threads.min(cores) as f64;
        let mut configurations = vec![
            (Kernel::Fused, &u8_data, config.epochs),
            (Kernel::Fused, &f32_data, config.epochs),
            (Kernel::Gemm, &f32_data, config.epochs),
        ];
        // Samples that are not bytes are f32 however they are asked for:
        // one fused row then, not two of the same.
        if u8_data.train.images.format() != PixelFormat::U8 {
            configurations.remove(0);
        }
        if threads == 1 {
            configurations.push((Kernel::Reference, &f32_data, 1));
        }
        for (kernel, data, epochs) in configurations {
            let train_config = TrainConfig {
                compute: Compute {
                    kernel,
                    threads: Some(threads),
                    plan: Some(config.plan),
                    ..Compute::default()
                },
                run: RunConfig {
                    epochs,
                    batch_size,
                    ..RunConfig::default()
                },
                ..TrainConfig::default()
            };
            let trained = train(data, &train_config, |_| {})?;
            let rates: Vec<f64> = trained
                .epochs
                .iter()
                .map(|e| e.samples_per_second())
                .collect();
            let rates = Spread::of(rates);
            rows.push(BenchRow {
                kernel,
                pixels: data.train.images.format(),
                threads,
                samples_per_second: rates,
                gflops: rates.median * flop / 1e9,
                ceiling,
            });
        }
    }
    let mut sweeps = Vec::new();
    // A sixth held out, as `sweep`'s default does of Fashion-MNIST.
    let validation = (u8_data.train.len() / 6).max(1);
    for models in SWEEP_MODELS
        .into_iter()
        .filter(|_| validation < u8_data.train.len())
    {
        let sweep_config = SweepConfig {
            settings: sweep_settings(models),
            run: RunConfig {
                epochs: config.epochs,
                batch_size,
                validation,
                ..SweepConfig::default().run
            },
            compute: Compute {
                threads: Some(config.threads),
                plan: Some(config.plan),
                ..Compute::default()
            },
            ..SweepConfig::default()
        };
        let swept = sweep(&u8_data, &sweep_config, |_, _| {}, |_| {})?;
        sweeps.push((models, Spread::of(swept.epoch_rates())));
    }
    let pixels = f32_data.train.images.f32_pixels().expect("loaded as f32");
    Ok(BenchReport {
        isa: isa.name(),
        threads: config.threads,
        batch_size,
        flop_per_sample: flop,
        peak_one_core,
        peak_all_threads,
        read_one_thread: peak::read_gbps(pixels, 1, 3),
        read_all_threads: peak::read_gbps(pixels, config.threads, 3),
        hot_rows_samples_per_second: hot_rows(&f32_data, batch_size, config.plan),
        plan: (config.plan, config.plan_origin),
        candidates: tune::measure(
            isa,
            &u8_data.train,
            u8_data.classes,
            batch_size,
            &Plan::candidates(isa),
            BENCH_ROUNDS,
        ),
        rows,
        sweeps,
    })
}

/// The fused kernel alone, one thread: minibatches of the same 64 training
/// rows (in L2 after the first pass), median samples/s of 7 timed runs of
/// about 60,000 samples each.
fn hot_rows(data: &Dataset, batch_size: usize, plan: Plan) -> f64 {
    let train = &data.train;
    let model = Model::init(
        train.images.features(),
        data.classes,
        &mut SeededRng::new(1),
    );
    let weights = Weights::planned(Isa::best(), plan, &model);
    let hot: Vec<usize> = (0..CHUNK_ROWS.min(train.len())).collect();
    if hot.is_empty() {
        return 0.0;
    }
    let batch: Vec<usize> = hot
        .iter()
        .copied()
        .cycle()
        .take(batch_size.max(1))
        .collect();
    let mut sums = ChunkSums::new(model.features, model.classes);
    let mut scratch = Scratch::new(model.classes);
    let steps = 60_000usize.div_ceil(batch.len());
    let runs = (0..8).map(|_| {
        let start = Instant::now();
        for _ in 0..steps {
            black_box(fused_minibatch(
                &weights,
                train,
                &batch,
                &mut sums,
                &mut scratch,
            ));
        }
        (steps * batch.len()) as f64 / start.elapsed().as_secs_f64()
    });
    Spread::of(runs.skip(1).collect()).median
}
