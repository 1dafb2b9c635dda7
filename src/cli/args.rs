//! The flags of every command, as clap parses them; flags several commands
//! share are declared once and flattened in.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use softreg::app::tune;
use softreg::compute::MAX_MODELS;
use softreg::kernel::{Plan, PlanError};
use softreg::train::{MAX_EPOCHS, Schedule, ScheduleError};

/// Softmax regression on Fashion-MNIST, trained on the CPU.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train on the training set, printing loss and accuracy after every epoch.
    Train(TrainArgs),
    /// Train every combination of the listed settings at once, in one pass
    /// over the data, and rank them by validation accuracy.
    Sweep(SweepArgs),
    /// Score a saved model on the test set: loss, accuracy, per-class accuracy,
    /// confusion matrix.
    Eval(EvalArgs),
    /// Show test images with their true and predicted labels (a picture or the
    /// terminal), or classify your own pictures with --image.
    Predict(PredictArgs),
    /// Measure training throughput of each kernel against this machine's FMA peak.
    Bench(BenchArgs),
    /// Time the fused kernel's candidate plans on this machine and save the
    /// fastest, which train, sweep and bench then use.
    Tune(TuneArgs),
    /// Describe a data directory: files, checksums, counts, shape, class histogram.
    Info(InfoArgs),
}

/// `--data`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// Directory with the four idx files (raw or .gz, of any idx type), or
    /// train_x.npy, train_y.npy, test_x.npy and test_y.npy; class names from a
    /// classes.txt in it, one per line.
    #[arg(long, default_value = "data/fashion-mnist")]
    pub data: PathBuf,
}

/// `--kernel`, for the commands that train.
#[derive(clap::Args)]
pub struct KernelChoice {
    /// The implementation of the loss and gradient.
    #[arg(long, value_enum, default_value_t = KernelArg::Auto)]
    pub kernel: KernelArg,
}

/// `--classes`, for the commands that load a data set to train or describe.
#[derive(clap::Args)]
pub struct ClassesArg {
    /// Classes of the data set; every label must be below it [default: the
    /// largest label + 1].
    #[arg(long, value_parser = class_count)]
    pub classes: Option<usize>,
}

/// `--standardize`, for the commands that train.
#[derive(clap::Args)]
pub struct StandardizeArg {
    /// Standardize every feature by its mean and spread over the training
    /// images (not the held-out ones) before training; the saved model has
    /// them folded into its weight and bias, so it takes the raw features.
    #[arg(long)]
    pub standardize: bool,
}

/// `--threads`.
#[derive(clap::Args)]
pub struct ThreadArgs {
    /// Worker threads [default: one per core; at most 4 per core].
    #[arg(long, value_parser = at_least_one)]
    pub threads: Option<usize>,
}

/// `--json`.
#[derive(clap::Args)]
pub struct JsonArg {
    /// Print JSON, one object per line, instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--epochs`, `--batch-size`, `--isa`, `--plan` and `--patience`, as every
/// training command takes them.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 5, value_parser = epoch_count)]
    pub epochs: usize,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub batch_size: usize,
    /// Instruction set to compute with: avx512, avx2, neon or scalar [default:
    /// the best this CPU runs]. Results are the same bits for any thread count
    /// on one instruction set, and differ in the last bits between them.
    #[arg(long)]
    pub isa: Option<String>,
    #[command(flatten)]
    pub plan: PlanArg,
    /// Stop a model once N epochs pass without a higher validation accuracy
    /// than its best epoch's (needs --validation); the best epoch is the one
    /// kept either way.
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
}

/// `--plan`.
#[derive(clap::Args)]
pub struct PlanArg {
    /// The fused kernel's tiles, forward block and prefetch distance, e.g.
    /// wide,block=32K,prefetch=16 [default: $SOFTREG_PLAN, else the plan
    /// `softreg tune` saved for this CPU, else one from its cache sizes].
    /// Every plan gives the same bits.
    #[arg(long, value_parser = plan)]
    pub plan: Option<Plan>,
}

fn schedule(text: &str) -> Result<Schedule, String> {
    text.parse().map_err(|e: ScheduleError| e.to_string())
}

fn plan(text: &str) -> Result<Plan, String> {
    text.parse().map_err(|e: PlanError| e.to_string())
}

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = positive_finite, allow_negative_numbers = true)]
    pub lr: f32,
    /// sgd (torch.optim.SGD) or adam (torch.optim.Adam), PyTorch's semantics;
    /// or lbfgs: full-batch L-BFGS to the optimum of mean cross-entropy +
    /// (λ/2)‖W‖², scikit-learn's LogisticRegression (--C or --l2, --tol,
    /// --max-iter; it has no learning rate, epochs or batches).
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// L-BFGS: scikit-learn's C, the inverse strength of the L2 penalty on the
    /// weights: λ = 1 / (C n) for n training images [default: 1].
    #[arg(long = "C", value_name = "C", allow_negative_numbers = true)]
    pub c: Option<f64>,
    /// L-BFGS: the L2 penalty's strength λ itself (instead of --C).
    #[arg(long, conflicts_with = "c", allow_negative_numbers = true)]
    pub l2: Option<f64>,
    /// L-BFGS: stop once every gradient component is at most this in absolute
    /// value (scipy's pgtol, scikit-learn's tol) [default: 1e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub tol: Option<f64>,
    /// L-BFGS: stop after this many iterations (scikit-learn's max_iter)
    /// [default: 100].
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// L-BFGS: start each direction from the Gram matrix of the features
    /// (gram), from the identity as scipy does (none), or gram where it
    /// pays [default: auto].
    #[arg(long, value_enum)]
    pub precondition: Option<PreconditionArg>,
    /// SGD momentum factor (0: none).
    #[arg(long, default_value_t = 0.0, value_parser = at_least_zero, allow_negative_numbers = true)]
    pub momentum: f32,
    /// Nesterov momentum (SGD; needs --momentum above 0).
    #[arg(long)]
    pub nesterov: bool,
    /// L2 weight decay added to the gradient, for weight and bias (SGD and Adam).
    #[arg(long, default_value_t = 0.0, value_parser = at_least_zero, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Adam's first-moment decay [default: 0.9].
    #[arg(long, value_parser = below_one, allow_negative_numbers = true)]
    pub beta1: Option<f32>,
    /// Adam's second-moment decay [default: 0.999].
    #[arg(long, value_parser = below_one, allow_negative_numbers = true)]
    pub beta2: Option<f32>,
    /// Adam's epsilon [default: 1e-8].
    #[arg(long, value_parser = at_least_zero, allow_negative_numbers = true)]
    pub eps: Option<f32>,
    /// Learning-rate schedule, stepped after every epoch with PyTorch's
    /// semantics: constant, step:STEP_SIZE,GAMMA (StepLR),
    /// cosine:T_MAX[,ETA_MIN] (CosineAnnealingLR) or linear:START,END,ITERS
    /// (LinearLR warm-up).
    #[arg(long, default_value = "constant", value_parser = schedule)]
    pub schedule: Schedule,
    /// Hold out the last N training images for validation: never trained on,
    /// scored after every epoch (val acc).
    #[arg(long, default_value_t = 0)]
    pub validation: usize,
    /// Seed of the weight initialisation and the shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub threads: ThreadArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub classes: ClassesArg,
    #[command(flatten)]
    pub standardize: StandardizeArg,
    #[command(flatten)]
    pub kernel: KernelChoice,
    /// How pixels are held in memory: u8 (the file's bytes, widened to f32 in
    /// registers by the kernel as it reads them: a quarter of the memory
    /// traffic) or f32 (converted once at load); the weights are bit-identical.
    #[arg(long, value_enum, default_value_t = PixelsArg::U8)]
    pub pixels: PixelsArg,
    /// Write the trained model to this safetensors file (PyTorch nn.Linear layout).
    #[arg(long)]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
    /// Draw the loss and accuracy curves into this picture (.png or .jpg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// After every epoch, write everything the run needs to continue to this
    /// file (weights, optimizer state, data order, history, settings).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run of this checkpoint, with its settings and data: the
    /// weights and every later epoch are bit-identical to the run never
    /// stopped, for any thread count (--epochs may go further).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Start from the weights of this saved model rather than random ones
    /// (the seed still orders the data).
    #[arg(long, value_name = "MODEL", conflicts_with = "resume")]
    pub init: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Learning rates, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1", value_parser = positive_finite, allow_negative_numbers = true)]
    pub lr: Vec<f32>,
    /// Optimizers: sgd, adam or both (Adam takes no momentum); or lbfgs alone:
    /// one full-batch L-BFGS fit per --C (or --l2), all in one pass over the
    /// data per round.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sgd")]
    pub optimizer: Vec<OptimizerArg>,
    /// L-BFGS: scikit-learn's C values, comma-separated [default: 1].
    #[arg(
        long = "C",
        value_name = "C",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub c: Vec<f64>,
    /// L-BFGS: L2 strengths λ, comma-separated (with or instead of --C).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub l2: Vec<f64>,
    /// L-BFGS: stop once every gradient component is at most this [default: 1e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub tol: Option<f64>,
    /// L-BFGS: stop after this many iterations [default: 100].
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// L-BFGS: gram, none or auto, as for train [default: auto].
    #[arg(long, value_enum)]
    pub precondition: Option<PreconditionArg>,
    /// L-BFGS: fit every strength from zero, all in lockstep (each model then
    /// is the fit `train` makes alone, to the bit) rather than along the
    /// path, strongest first, each from near the previous optimum.
    #[arg(long)]
    pub from_zero: bool,
    /// SGD momentum factors.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = at_least_zero, allow_negative_numbers = true)]
    pub momentum: Vec<f32>,
    /// Nesterov momentum for the SGD models with momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// L2 weight decays.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = at_least_zero, allow_negative_numbers = true)]
    pub weight_decay: Vec<f32>,
    /// Learning-rate schedules (as train's --schedule), separated by `;`.
    #[arg(long, value_delimiter = ';', default_value = "constant", value_parser = schedule)]
    pub schedule: Vec<Schedule>,
    /// Seeds of the initial weights: values and ranges, `0-3` or `0,5,7-9`.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = seed_range)]
    pub seeds: Vec<(u64, u64)>,
    /// Seed of the shuffles every model shares.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub kernel: KernelChoice,
    /// Hold out the last N training images to rank the models by.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_one)]
    pub validation: usize,
    #[command(flatten)]
    pub threads: ThreadArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub classes: ClassesArg,
    #[command(flatten)]
    pub standardize: StandardizeArg,
    #[command(flatten)]
    pub json: JsonArg,
    /// Draw the best configurations' validation curves and the learning rate x
    /// weight decay map into this picture (.png or .jpg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write the model with the best validation accuracy to this safetensors
    /// file, its settings in the metadata.
    #[arg(long)]
    pub save_best: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model file, as written by `train --save`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub threads: ThreadArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(clap::Args)]
pub struct PredictArgs {
    /// The model file, as written by `train --save`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// How many test images to show (at most 1,000: a figure of them is sized
    /// by the count).
    #[arg(long, default_value_t = 9, value_parser = shown_count)]
    pub count: usize,
    /// Draw the figure into this picture (.png or .jpg) instead of printing it.
    #[arg(long, alias = "out")]
    pub plot: Option<PathBuf>,
    /// Classify these pictures (PNG or JPEG, any size or colour) instead.
    #[arg(long, num_args = 1.., conflicts_with_all = ["plot", "count"])]
    pub image: Vec<PathBuf>,
    /// Classify every sample of this .npy file (the count, then one sample's
    /// shape, the model's features; any integer or float dtype) instead.
    #[arg(long, conflicts_with_all = ["plot", "count", "image"])]
    pub input: Option<PathBuf>,
    /// With --input: write every sample's class probabilities to this .npy
    /// file (float32, samples x classes) rather than printing them.
    #[arg(long, requires = "input")]
    pub probabilities: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub threads: ThreadArgs,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub batch_size: usize,
    /// Timed epochs per fused configuration (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    pub epochs: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// Measure on random f32 features of this many features per sample (with
    /// --classes) instead of --data: the fused and GEMM kernels beside
    /// matrixmultiply's sgemm on the same products, in --epochs interleaved
    /// rounds.
    #[arg(long, requires = "classes", conflicts_with = "data", value_parser = bench_features)]
    pub features: Option<usize>,
    /// The class count of --features' random data.
    #[arg(long, requires = "features", value_parser = class_count)]
    pub classes: Option<usize>,
    #[command(flatten)]
    pub json: JsonArg,
    /// Lane-FMAs per peak measurement (tests measure a tiny peak).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub peak_lane_fmas: Option<u64>,
    #[command(flatten)]
    pub plan: PlanArg,
}

#[derive(clap::Args)]
pub struct TuneArgs {
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub batch_size: usize,
    /// Instruction set to tune [default: the best this CPU runs].
    #[arg(long)]
    pub isa: Option<String>,
    /// Interleaved rounds: each times every candidate once (the median decides).
    #[arg(long, default_value_t = tune::ROUNDS, value_parser = at_least_one)]
    pub rounds: usize,
    /// Measure and print, but do not save the winner.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub classes: ClassesArg,
    #[command(flatten)]
    pub json: JsonArg,
}

/// `--optimizer` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Stochastic gradient descent, with optional momentum and weight decay.
    Sgd,
    /// Adam, bias-corrected.
    Adam,
    /// Full-batch L-BFGS (train only).
    Lbfgs,
}

/// `--precondition` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreconditionArg {
    /// gram where its cost is small next to a pass over the data (most
    /// fits of many rows), none elsewhere.
    Auto,
    /// The Gram matrix of the features (4,096 rows of it), factored once per
    /// strength: far fewer iterations on correlated features.
    Gram,
    /// The identity: L-BFGS exactly as scipy runs it.
    None,
}

/// `--pixels` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum PixelsArg {
    /// 4-byte floats in [0, 1].
    F32,
    /// 1-byte pixels.
    U8,
}

/// `--kernel` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum KernelArg {
    /// Fused while the weights take at most half the L2 cache, GEMM beyond
    /// (many classes of many features).
    Auto,
    /// The fused SIMD kernel, parallel over fixed chunks of each minibatch.
    Fused,
    /// The unfused baseline: logits GEMM, softmax pass, gradient GEMM (matrixmultiply).
    Gemm,
    /// The naive f64 reference, parallel over the same chunks.
    Reference,
}

/// A seed or an inclusive range of seeds, `7` or `0-3`, of at most
/// [`MAX_MODELS`] seeds.
fn seed_range(s: &str) -> Result<(u64, u64), String> {
    let seed = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|e| format!("not a seed or a range of seeds like 0-3: {e}"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (seed(a)?, seed(b)?),
        None => (seed(s)?, seed(s)?),
    };
    if a > b {
        return Err(format!(
            "the range {s} is empty: write the smaller seed first"
        ));
    }
    if b - a >= MAX_MODELS as u64 {
        return Err(format!(
            "{s} is more than the {MAX_MODELS} models one sweep trains"
        ));
    }
    Ok((a, b))
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// The most test images `predict --count` shows.
const MAX_SHOWN: usize = 1000;

fn shown_count(s: &str) -> Result<usize, String> {
    match at_least_one(s)? {
        n if n > MAX_SHOWN => Err(format!(
            "must be at most {MAX_SHOWN} (to classify more samples, use eval or predict --input)"
        )),
        n => Ok(n),
    }
}

/// The most features `bench --features` makes up.
const MAX_BENCH_FEATURES: usize = 1 << 16;

fn bench_features(s: &str) -> Result<usize, String> {
    match at_least_one(s)? {
        n if n > MAX_BENCH_FEATURES => Err(format!("must be at most {MAX_BENCH_FEATURES}")),
        n => Ok(n),
    }
}

fn class_count(s: &str) -> Result<usize, String> {
    let max = softreg::data::MAX_CLASSES;
    match at_least_one(s)? {
        n if n > max => Err(format!("must be at most {max}")),
        n => Ok(n),
    }
}

fn epoch_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > MAX_EPOCHS => Err(format!("must be at most {MAX_EPOCHS}")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

fn at_least_zero(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number >= 0, got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

fn below_one(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("must be in [0, 1), got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

fn positive_finite(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a positive finite number, got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}
