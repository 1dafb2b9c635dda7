//! `bench --features D --classes K`: training throughput on random f32
//! features of any shape, for each kernel, beside `matrixmultiply`'s sgemm on
//! the same two products per minibatch, in interleaved rounds of one run.
//!
//! ```no_run
//! use softreg::app::bench_shape::{run, ShapeBenchConfig};
//! let report = run(&ShapeBenchConfig::new(768, 1000))?;
//! println!("{}", report.table());
//! # Ok::<(), softreg::train::TrainError>(())
//! ```

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use super::bench_report::{busy_warning, peak_lines};
use super::peak;
use super::report::flop_per_sample;
use super::timing::Spread;
use crate::compute::{Compute, cores};
use crate::data::{Dataset, Images, Split};
use crate::kernel::{Isa, Kernel, Plan, gemm};
use crate::model::Model;
use crate::random::SeededRng;
use crate::train::{RunConfig, TrainConfig, TrainError, train};

/// What to measure.
#[derive(Debug, Clone)]
pub struct ShapeBenchConfig {
    /// Features per sample.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Worker threads of the widest configuration.
    pub threads: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Interleaved rounds: each times sgemm and one epoch of every
    /// configuration; the medians are reported.
    pub rounds: usize,
    /// Lane-FMAs per peak measurement.
    pub peak_lane_fmas: u64,
    /// The plan the fused kernel runs with.
    pub plan: Plan,
}

impl ShapeBenchConfig {
    /// `features x classes` on every core, minibatches of 256, 5 rounds.
    pub fn new(features: usize, classes: usize) -> Self {
        Self {
            features,
            classes,
            threads: cores(),
            batch_size: 256,
            rounds: 5,
            peak_lane_fmas: 20_000_000_000,
            plan: Plan::default_for(Isa::best()),
        }
    }
}

impl ShapeBenchConfig {
    /// Bytes the run allocates, about: the random features twice while the
    /// set is built, and the weights about ten times over (the model, its
    /// packed copy, gradient sums per chunk, the yardstick's products).
    pub fn memory_needed(&self) -> u64 {
        let samples = samples_for(self.features, self.classes, self.batch_size) as u64;
        let features = self.features as u64;
        let weights = features.saturating_mul(self.classes as u64);
        let batch_rows = self.batch_size.min(samples as usize);
        let chunks = batch_rows.div_ceil(crate::train::CHUNK_ROWS) as u64;
        samples
            .saturating_mul(features)
            .saturating_mul(8)
            .saturating_add(weights.saturating_mul(4 * (8 + chunks)))
    }
}

/// One kernel on one thread count.
#[derive(Debug, Clone)]
pub struct ShapeRow {
    /// The kernel.
    pub kernel: Kernel,
    /// Worker threads.
    pub threads: usize,
    /// Training throughput, an epoch per round.
    pub samples_per_second: Spread,
    /// Arithmetic rate the median throughput implies.
    pub gflops: f64,
    /// The median over rounds of the training rate over the same round's
    /// one-core FMA peak times the cores used.
    pub of_peak: f64,
    /// The median over rounds of the training rate over the same round's
    /// sgemm rate times the cores used.
    pub of_sgemm: f64,
}

/// The peaks, the sgemm yardstick and every configuration's throughput.
#[derive(Debug, Clone)]
pub struct ShapeReport {
    /// The instruction set of the peak and the fused kernel.
    pub isa: &'static str,
    /// Features per sample.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Training samples per epoch.
    pub samples: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Worker threads of the widest configuration.
    pub threads: usize,
    /// Arithmetic per training sample, FLOP.
    pub flop_per_sample: f64,
    /// f32 FMA peak of one core, GFLOP/s.
    pub peak_one_core: f64,
    /// f32 FMA peak of `threads` threads together, GFLOP/s.
    pub peak_all_threads: f64,
    /// The kernel `--kernel auto` picks for this shape.
    pub auto: Kernel,
    /// `matrixmultiply::sgemm` on one thread: a minibatch's two products
    /// (the logits and the weight gradient), GFLOP/s.
    pub sgemm_gflops: Spread,
    /// One row per kernel and thread count.
    pub rows: Vec<ShapeRow>,
}

/// Training samples of the synthetic set: enough for an epoch of about 8
/// GFLOP and at least 64 minibatches, at most [`MAX_SAMPLES`].
fn samples_for(features: usize, classes: usize, batch_size: usize) -> usize {
    let for_work = (8e9 / flop_per_sample(features, classes)).ceil() as usize;
    for_work.max(64 * batch_size).min(MAX_SAMPLES)
}

/// The most samples the synthetic set holds.
const MAX_SAMPLES: usize = 200_000;

/// `samples` random standard normal features of `features` each and
/// uniformly random labels of `classes` classes (every class present when
/// there are at least as many samples), seeded.
pub fn random_dataset(features: usize, classes: usize, samples: usize) -> Dataset {
    let mut rng = SeededRng::new(20_261_201);
    let values: Vec<f32> = (0..samples * features)
        .map(|_| rng.normal(0.0, 1.0) as f32)
        .collect();
    let mut labels: Vec<u32> = (0..samples).map(|i| (i % classes) as u32).collect();
    rng.shuffle(&mut labels);
    Dataset {
        train: Split {
            images: Images::from_f32(1, features, &values),
            labels,
        },
        test: None,
        classes,
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    }
}

/// Measures the FMA peak, then in each of `config.rounds` rounds one epoch
/// of the fused and the GEMM kernel on one thread and on `config.threads`,
/// each right after a shorter peak measurement and `matrixmultiply`'s sgemm
/// on as many minibatches' two products, on random f32 features of the
/// configured shape.
pub fn run(config: &ShapeBenchConfig) -> Result<ShapeReport, TrainError> {
    let (features, classes) = (config.features, config.classes);
    let isa = Isa::best();
    let peak_one_core = peak::fma_gflops(isa, config.peak_lane_fmas);
    let peak_all_threads = peak::fma_gflops_threads(isa, config.peak_lane_fmas, config.threads);
    let samples = samples_for(features, classes, config.batch_size);
    let data = random_dataset(features, classes, samples);
    let flop = flop_per_sample(features, classes);
    let mut thread_counts = vec![1, config.threads];
    thread_counts.dedup();
    let configurations: Vec<(Kernel, usize)> = thread_counts
        .iter()
        .flat_map(|&t| [(Kernel::Fused, t), (Kernel::Gemm, t)])
        .collect();
    let mut rates = vec![Vec::new(); configurations.len()];
    let mut ratios = vec![Vec::new(); configurations.len()];
    let mut of_peak = vec![Vec::new(); configurations.len()];
    let mut sgemm = Vec::new();
    let products = Products::new(&data, config.batch_size);
    for _ in 0..config.rounds {
        for (i, &(kernel, threads)) in configurations.iter().enumerate() {
            // The yardsticks right before each epoch (a tenth of the start's
            // peak measurement), so that each ratio compares measurements of
            // the same moment of a machine whose speed changes.
            let peak_gflops = peak::fma_gflops(isa, config.peak_lane_fmas / 10);
            let sgemm_gflops = products.gflops(samples.div_ceil(config.batch_size));
            sgemm.push(sgemm_gflops);
            let train_config = TrainConfig {
                compute: Compute {
                    kernel,
                    threads: Some(threads),
                    plan: Some(config.plan),
                    ..Compute::default()
                },
                run: RunConfig {
                    epochs: 1,
                    batch_size: config.batch_size,
                    ..RunConfig::default()
                },
                ..TrainConfig::default()
            };
            let trained = train(&data, &train_config, |_| {})?;
            let rate = trained.epochs[0].samples_per_second();
            rates[i].push(rate);
            let used = threads.min(cores()) as f64;
            ratios[i].push(rate * flop / 1e9 / (sgemm_gflops * used));
            of_peak[i].push(rate * flop / 1e9 / (peak_gflops * used));
        }
    }
    let rows = configurations
        .iter()
        .zip(rates.into_iter().zip(ratios).zip(of_peak))
        .map(|(&(kernel, threads), ((rates, ratios), of_peak))| {
            let samples_per_second = Spread::of(rates);
            ShapeRow {
                kernel,
                threads,
                samples_per_second,
                gflops: samples_per_second.median * flop / 1e9,
                of_peak: Spread::of(of_peak).median,
                of_sgemm: Spread::of(ratios).median,
            }
        })
        .collect();
    Ok(ShapeReport {
        isa: isa.name(),
        features,
        classes,
        samples,
        batch_size: config.batch_size,
        threads: config.threads,
        flop_per_sample: flop,
        peak_one_core,
        peak_all_threads,
        auto: Kernel::for_shape(features, classes),
        sgemm_gflops: Spread::of(sgemm),
        rows,
    })
}

/// A minibatch's two products as the GEMM kernel computes them, alone: the
/// logits `Zᵀ = W Xᵀ` and the weight gradient `dW = Gᵀ X`, on the first
/// minibatch's rows of a data set.
struct Products {
    model: Model,
    x: Vec<f32>,
    rows: usize,
    z: Vec<f32>,
    dw: Vec<f32>,
}

impl Products {
    fn new(data: &Dataset, batch_size: usize) -> Self {
        let features = data.train.images.features();
        let rows = batch_size.min(data.train.len());
        let mut x = vec![0.0; rows * features];
        for (r, out) in x.chunks_exact_mut(features).enumerate() {
            data.train.images.write_row_f32(r, out);
        }
        let model = Model::init(features, data.classes, &mut SeededRng::new(1));
        Self {
            z: vec![0.01; data.classes * rows],
            dw: vec![0.0; data.classes * features],
            model,
            x,
            rows,
        }
    }

    /// GFLOP/s of `steps` minibatches' products.
    fn gflops(&self, steps: usize) -> f64 {
        let (mut z, mut dw) = (self.z.clone(), self.dw.clone());
        let start = Instant::now();
        for _ in 0..steps {
            gemm::logits(&self.model, self.rows, &self.x, (&mut z, self.rows));
            gemm::weight_gradient((&self.z, self.rows), (&self.x, self.rows), (&mut dw, 0.0));
            black_box((&z, &dw));
        }
        let per_sample = flop_per_sample(self.model.features, self.model.classes);
        steps as f64 * self.rows as f64 * per_sample / start.elapsed().as_secs_f64() / 1e9
    }
}

impl ShapeReport {
    /// [`busy_warning`] for this run's peaks.
    pub fn busy(&self) -> Option<String> {
        busy_warning(self.peak_one_core, self.peak_all_threads, self.threads)
    }

    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = peak_lines(
            self.isa,
            (self.peak_one_core, self.peak_all_threads),
            self.threads,
        );
        let _ = writeln!(
            out,
            "random f32 features: {} samples of {} features, {} classes ({:.1} MB of weights), batch {}; --kernel auto runs {} here",
            self.samples,
            self.features,
            self.classes,
            (self.features * self.classes * 4) as f64 / 1e6,
            self.batch_size,
            self.auto.name()
        );
        let sgemm = self.sgemm_gflops;
        let _ = writeln!(
            out,
            "sgemm (matrixmultiply), a minibatch's two products alone, one thread: {:.1} GFLOP/s ({:.1}-{:.1}), {:.1}% of peak",
            sgemm.median,
            sgemm.min,
            sgemm.max,
            100.0 * sgemm.median / self.peak_one_core
        );
        let _ = writeln!(
            out,
            "training (median epoch of each round, then the slowest and fastest; of peak and of sgemm: medians of each round's ratio to the one-core peak and to sgemm measured right before it, times the cores used):"
        );
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>12} {:>10} {:>9} {:>9}  min-max",
            "kernel", "threads", "samples/s", "GFLOP/s", "of peak", "of sgemm"
        );
        for row in &self.rows {
            let rate = row.samples_per_second;
            let _ = writeln!(
                out,
                "{:<8} {:>7} {:>10.4} M {:>10.1} {:>8.1}% {:>8.2}x  {:.4}-{:.4} M",
                row.kernel.name(),
                row.threads,
                rate.median / 1e6,
                row.gflops,
                100.0 * row.of_peak,
                row.of_sgemm,
                rate.min / 1e6,
                rate.max / 1e6
            );
        }
        out
    }

    /// The report as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "kernel": row.kernel.name(),
                    "threads": row.threads,
                    "samples_per_s": row.samples_per_second.median,
                    "samples_per_s_min": row.samples_per_second.min,
                    "samples_per_s_max": row.samples_per_second.max,
                    "gflops": row.gflops,
                    "of_peak": row.of_peak,
                    "of_sgemm": row.of_sgemm,
                })
            })
            .collect();
        serde_json::json!({
            "type": "bench",
            "isa": self.isa,
            "features": self.features,
            "classes": self.classes,
            "samples": self.samples,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "flop_per_sample": self.flop_per_sample,
            "peak_gflops_one_core": self.peak_one_core,
            "peak_gflops_all_threads": self.peak_all_threads,
            "busy": self.busy().is_some(),
            "auto_kernel": self.auto.name(),
            "sgemm_gflops": self.sgemm_gflops.median,
            "sgemm_gflops_min": self.sgemm_gflops.min,
            "sgemm_gflops_max": self.sgemm_gflops.max,
            "training": rows,
        })
    }
}
