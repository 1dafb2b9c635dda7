//! The `softreg` command line: parses flags and calls the library.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use softreg::app::bench::{self, BenchConfig};
use softreg::app::figures::sweep as sweep_figure;
use softreg::app::figures::{curves, predictions};
use softreg::app::report::{self, printable};
use softreg::app::sweep_report;
use softreg::app::{info, user_image};
use softreg::checkpoint::{self, ModelInfo};
use softreg::data::{self, Dataset, PixelFormat, fashion_mnist};
use softreg::eval::{self, Metrics};
use softreg::kernel::Kernel;
use softreg::output;
use softreg::train::{
    Grid, MAX_EPOCHS, MAX_SWEEP_MODELS, Optimizer, OptimizerKind, SweepConfig, TrainConfig,
    pool_size, sweep, train_with_progress,
};

/// Softmax regression on Fashion-MNIST, trained on the CPU.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train on the training set, printing loss and accuracy after every epoch.
    Train(TrainArgs),
    /// Measure training throughput of each kernel against this machine's FMA peak.
    Bench(BenchArgs),
    /// Score a saved model on the test set: loss, accuracy, per-class accuracy,
    /// confusion matrix.
    Eval(EvalArgs),
    /// Show test images with their true and predicted labels (PNG or terminal),
    /// or classify your own pictures with --image.
    Predict(PredictArgs),
    /// Describe a data directory: files, checksums, counts, shape, class histogram.
    Info(InfoArgs),
    /// Train every combination of the listed settings at once, in one pass
    /// over the data, and rank them by validation accuracy.
    Sweep(SweepArgs),
}

#[derive(clap::Args)]
struct SweepArgs {
    /// Learning rates, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1", value_parser = positive_finite, allow_negative_numbers = true)]
    lr: Vec<f32>,
    /// Optimizers: sgd, adam or both (Adam takes no momentum).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sgd")]
    optimizer: Vec<OptimizerArg>,
    /// SGD momentum factors.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = at_least_zero, allow_negative_numbers = true)]
    momentum: Vec<f32>,
    /// Nesterov momentum for the SGD models with momentum.
    #[arg(long)]
    nesterov: bool,
    /// L2 weight decays.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = at_least_zero, allow_negative_numbers = true)]
    weight_decay: Vec<f32>,
    /// Seeds of the initial weights: values and ranges, `0-3` or `0,5,7-9`.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = seed_range)]
    seeds: Vec<(u64, u64)>,
    /// Seed of the shuffles every model shares.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 5, value_parser = epoch_count)]
    epochs: usize,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    batch_size: usize,
    /// Hold out the last N training images to rank the models by.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_one)]
    validation: usize,
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
    /// Print one JSON object per model and a summary object instead of text.
    #[arg(long)]
    json: bool,
    /// Draw the best configurations' validation curves and the learning rate x
    /// weight decay map into this PNG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the model with the best validation accuracy to this safetensors
    /// file, its settings in the metadata.
    #[arg(long)]
    save_best: Option<PathBuf>,
}

impl SweepArgs {
    /// The grid the flags describe; a value listed twice is refused.
    fn grid(&self) -> Result<Grid, String> {
        let seeds: Vec<u64> = self.seeds.iter().flat_map(|&(a, b)| a..=b).collect();
        no_repeats("--lr", &self.lr)?;
        no_repeats("--momentum", &self.momentum)?;
        no_repeats("--weight-decay", &self.weight_decay)?;
        no_repeats("--seeds", &seeds)?;
        no_repeats("--optimizer", &self.optimizer)?;
        if self.nesterov && !self.momentum.iter().any(|&m| m > 0.0) {
            return Err("--nesterov needs a --momentum above 0".into());
        }
        Ok(Grid {
            optimizers: self
                .optimizer
                .iter()
                .map(|&o| match o {
                    OptimizerArg::Sgd => OptimizerKind::Sgd,
                    OptimizerArg::Adam => OptimizerKind::Adam,
                })
                .collect(),
            learning_rates: self.lr.clone(),
            momenta: self.momentum.clone(),
            nesterov: self.nesterov,
            weight_decays: self.weight_decay.clone(),
            seeds,
        })
    }
}

/// Refuses a list naming a value twice (the same model trained twice).
fn no_repeats<T: PartialEq + std::fmt::Debug>(flag: &str, values: &[T]) -> Result<(), String> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("{flag} lists {v:?} twice"));
        }
    }
    Ok(())
}

/// A seed or an inclusive range of seeds, `7` or `0-3`, of at most
/// [`MAX_SWEEP_MODELS`] seeds.
fn seed_range(s: &str) -> Result<(u64, u64), String> {
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|e| format!("not a seed or a range of seeds like 0-3: {e}"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(s)?, number(s)?),
    };
    if a > b {
        return Err(format!(
            "the range {s} is empty: write the smaller seed first"
        ));
    }
    if b - a >= MAX_SWEEP_MODELS as u64 {
        return Err(format!(
            "{s} is more than the {MAX_SWEEP_MODELS} models one sweep trains"
        ));
    }
    Ok((a, b))
}

#[derive(clap::Args)]
struct InfoArgs {
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// The model file, as written by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
    /// How many test images to show.
    #[arg(long, default_value_t = 9, value_parser = at_least_one)]
    count: usize,
    /// Write the figure to this PNG file instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Classify these pictures (PNG or JPEG, any size or colour) instead.
    #[arg(long, num_args = 1.., conflicts_with_all = ["out", "count"])]
    image: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The model file, as written by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    batch_size: usize,
    /// Timed epochs per fused configuration (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    epochs: usize,
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 5, value_parser = epoch_count)]
    epochs: usize,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = positive_finite, allow_negative_numbers = true)]
    lr: f32,
    /// sgd (torch.optim.SGD) or adam (torch.optim.Adam), PyTorch's semantics.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    optimizer: OptimizerArg,
    /// SGD momentum factor (0: none).
    #[arg(long, default_value_t = 0.0, value_parser = at_least_zero, allow_negative_numbers = true)]
    momentum: f32,
    /// Nesterov momentum (SGD; needs --momentum above 0).
    #[arg(long)]
    nesterov: bool,
    /// L2 weight decay added to the gradient, for weight and bias (SGD and Adam).
    #[arg(long, default_value_t = 0.0, value_parser = at_least_zero, allow_negative_numbers = true)]
    weight_decay: f32,
    /// Adam's first-moment decay.
    #[arg(long, default_value_t = 0.9, value_parser = below_one, allow_negative_numbers = true)]
    beta1: f32,
    /// Adam's second-moment decay.
    #[arg(long, default_value_t = 0.999, value_parser = below_one, allow_negative_numbers = true)]
    beta2: f32,
    /// Adam's epsilon.
    #[arg(long, default_value_t = 1e-8, value_parser = at_least_zero, allow_negative_numbers = true)]
    eps: f32,
    /// Hold out the last N training images for validation: never trained on,
    /// scored after every epoch (val acc).
    #[arg(long, default_value_t = 0)]
    validation: usize,
    /// Seed of the weight initialisation and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Directory with the four idx files, raw or .gz.
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
    /// The implementation of the loss and gradient.
    #[arg(long, value_enum, default_value_t = KernelArg::Fused)]
    kernel: KernelArg,
    /// How pixels are held in memory: u8 (the file's bytes, widened to f32 in
    /// registers by the kernel as it reads them: a quarter of the memory
    /// traffic) or f32 (converted once at load); the weights are bit-identical.
    #[arg(long, value_enum, default_value_t = PixelsArg::U8)]
    pixels: PixelsArg,
    /// Write the trained model to this safetensors file (PyTorch nn.Linear layout).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print one JSON object per epoch and a summary object instead of text.
    #[arg(long)]
    json: bool,
    /// Draw the loss and accuracy curves into this PNG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// `--optimizer` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OptimizerArg {
    /// Stochastic gradient descent, with optional momentum and weight decay.
    Sgd,
    /// Adam, bias-corrected.
    Adam,
}

impl TrainArgs {
    /// The optimizer the flags describe; flags of the other optimizer are refused.
    fn optimizer(&self) -> Result<Optimizer, String> {
        match self.optimizer {
            OptimizerArg::Sgd => {
                if (self.beta1, self.beta2, self.eps) != (0.9, 0.999, 1e-8) {
                    return Err(
                        "--beta1, --beta2 and --eps are Adam's: add --optimizer adam".into(),
                    );
                }
                Ok(Optimizer::Sgd {
                    momentum: self.momentum,
                    nesterov: self.nesterov,
                    weight_decay: self.weight_decay,
                })
            }
            OptimizerArg::Adam => {
                if self.momentum != 0.0 || self.nesterov {
                    return Err("--momentum and --nesterov are SGD's; Adam has --beta1".into());
                }
                Ok(Optimizer::Adam {
                    beta1: self.beta1,
                    beta2: self.beta2,
                    eps: self.eps,
                    weight_decay: self.weight_decay,
                })
            }
        }
    }
}

/// `--pixels` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PixelsArg {
    /// 4-byte floats in [0, 1].
    F32,
    /// 1-byte pixels.
    U8,
}

impl From<PixelsArg> for PixelFormat {
    fn from(arg: PixelsArg) -> Self {
        match arg {
            PixelsArg::F32 => PixelFormat::F32,
            PixelsArg::U8 => PixelFormat::U8,
        }
    }
}

/// `--kernel` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelArg {
    /// The fused SIMD kernel, parallel over fixed chunks of each minibatch.
    Fused,
    /// The unfused baseline: logits GEMM, softmax pass, gradient GEMM (matrixmultiply).
    Gemm,
    /// The naive f64 reference, single-threaded per minibatch.
    Reference,
}

impl From<KernelArg> for Kernel {
    fn from(arg: KernelArg) -> Self {
        match arg {
            KernelArg::Fused => Kernel::Fused,
            KernelArg::Gemm => Kernel::Gemm,
            KernelArg::Reference => Kernel::Reference,
        }
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
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

/// Standard output that a closed pipe ends quietly: after `EPIPE` (`softreg
/// train | head -1`) nothing more is printed and the command carries on, so a
/// model being trained is still saved. Any other write error (a full disk) is
/// kept and reported when the command ends.
#[derive(Default)]
struct Stdout {
    closed: bool,
    error: Option<io::Error>,
}

impl Stdout {
    fn print(&mut self, text: &str) {
        if self.closed || self.error.is_some() {
            return;
        }
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            } else {
                self.error = Some(e);
            }
        }
    }

    fn println(&mut self, line: impl std::fmt::Display) {
        self.print(&format!("{line}\n"));
    }

    /// The write error, if one other than a closed pipe happened.
    fn finish(self) -> Result<(), String> {
        match self.error {
            Some(e) => Err(format!("cannot write to standard output: {e}")),
            None => Ok(()),
        }
    }
}

/// Checks a command's output files before any work: none may be one of the
/// data files in `data`, and each must be writable. Returns the paths to write.
fn prepare_outputs<const N: usize>(
    outputs: [(&str, Option<&Path>); N],
    data: &Path,
) -> Result<[Option<PathBuf>; N], String> {
    let named: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|&(flag, path)| Some((flag, path?)))
        .collect();
    let inputs = data::files_of(data);
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|p| ("data file", p.as_path())).collect();
    output::refuse_collisions(&named, &inputs)?;
    let mut prepared = [const { None }; N];
    for (slot, (flag, path)) in prepared.iter_mut().zip(outputs) {
        *slot = path.map(|path| output::prepare(path, flag)).transpose()?;
    }
    Ok(prepared)
}

/// A bar over `samples` training samples on stderr, only for a person
/// watching a terminal: hidden when piped, and drawn aside while a line is
/// printed.
fn progress_bar(samples: usize) -> ProgressBar {
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(samples as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} samples, {eta} left")
            .expect("the template is valid"),
    );
    progress
}

fn run_train(args: TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut out = Stdout::default();
    let [save, plot_path] = prepare_outputs(
        [
            ("--save", args.save.as_deref()),
            ("--plot", args.plot.as_deref()),
        ],
        &args.data,
    )?;
    let data = Dataset::load_as(&args.data, fashion_mnist::CLASSES, args.pixels.into())?;
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        optimizer: args.optimizer()?,
        validation: args.validation,
        seed: args.seed,
        threads: args.threads,
        kernel: args.kernel.into(),
        ..TrainConfig::default()
    };
    config.check(&data)?;
    let (height, width) = data.train.images.shape();
    let kernel_name = config.kernel.describe();
    if !args.json {
        out.println(report::run_header(&args.data, &data, &config));
    }
    let flop = report::flop_per_sample(data.train.images.features(), data.classes);
    let trained_on = data.train.len() - config.validation;
    let progress = progress_bar(config.epochs.saturating_mul(trained_on));
    let trained = train_with_progress(
        &data,
        &config,
        |epoch| {
            progress.suspend(|| {
                if args.json {
                    out.println(report::epoch_json(epoch));
                } else {
                    out.println(report::epoch_line(epoch, flop));
                }
            })
        },
        |samples| progress.set_position(samples as u64),
    );
    progress.finish_and_clear();
    let trained = trained?;
    if let Some(path) = &save {
        let mut info = ModelInfo::fashion_mnist((height, width));
        info.test_accuracy = trained.epochs.last().map(|e| e.test_acc);
        info.training = [
            ("data", args.data.display().to_string()),
            ("epochs", config.epochs.to_string()),
            ("batch_size", config.batch_size.to_string()),
            ("lr", config.learning_rate.to_string()),
            ("seed", config.seed.to_string()),
            ("kernel", kernel_name),
        ]
        .into_iter()
        .chain(config.optimizer.settings())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        checkpoint::save(path, &trained.model, &info)?;
    }
    if let Some(path) = &plot_path {
        curves::draw(&trained.epochs)
            .save_png(path)
            .map_err(|e| format!("--plot {}: {e}", path.display()))?;
    }
    let total = start.elapsed().as_secs_f64();
    if args.json {
        out.println(report::summary_json(&trained.epochs, total));
    } else {
        out.println(report::summary_line(&trained.epochs, total));
        if let Some(path) = &args.save {
            out.println(format_args!("model saved to {}", path.display()));
        }
    }
    Ok(out.finish()?)
}

fn run_sweep(args: SweepArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut out = Stdout::default();
    let grid = args.grid()?;
    let count = grid.count();
    if count > MAX_SWEEP_MODELS {
        return Err(format!(
            "the listed values make {count} models, more than the {MAX_SWEEP_MODELS} one sweep trains: list fewer"
        )
        .into());
    }
    let [save, plot_path] = prepare_outputs(
        [
            ("--save-best", args.save_best.as_deref()),
            ("--plot", args.plot.as_deref()),
        ],
        &args.data,
    )?;
    let data = Dataset::load_as(&args.data, fashion_mnist::CLASSES, PixelFormat::U8)?;
    let config = SweepConfig {
        settings: grid.settings(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        data_seed: args.data_seed,
        validation: args.validation,
        threads: args.threads,
        oversubscribe: false,
    };
    config.check(&data)?;
    if !args.json {
        out.println(sweep_report::header(&args.data, &data, &config, &grid));
    }
    let trained_on = data.train.len() - config.validation;
    let progress = progress_bar(config.epochs.saturating_mul(trained_on));
    let swept = sweep(
        &data,
        &config,
        |epoch, models| {
            if !args.json {
                progress.suspend(|| out.println(sweep_report::epoch_line(epoch, models)));
            }
        },
        |samples| progress.set_position(samples as u64),
    );
    progress.finish_and_clear();
    let swept = swept?;
    if swept.best().is_none() {
        if !args.json {
            out.print(&sweep_report::table(&swept));
        }
        return Err(
            "every model diverged, so nothing is written; lower the learning rates (--lr)".into(),
        );
    }
    if let (Some(path), Some(best)) = (&save, swept.best()) {
        let (height, width) = data.train.images.shape();
        let mut info = ModelInfo::fashion_mnist((height, width));
        info.test_accuracy = best.test.map(|t| t.accuracy);
        info.training = [
            ("data", args.data.display().to_string()),
            ("epochs", config.epochs.to_string()),
            ("batch_size", config.batch_size.to_string()),
            ("lr", best.setting.learning_rate.to_string()),
            ("seed", best.setting.seed.to_string()),
            ("data_seed", config.data_seed.to_string()),
            ("validation", config.validation.to_string()),
            ("val_acc", best.val_acc().unwrap_or(f64::NAN).to_string()),
            (
                "selected_by",
                format!("best val acc of a {}-model sweep", swept.models.len()),
            ),
        ]
        .into_iter()
        .chain(best.setting.optimizer.settings())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        checkpoint::save(path, &best.model, &info)?;
    }
    if let Some(path) = &plot_path {
        sweep_figure::draw(&swept)
            .save_png(path)
            .map_err(|e| format!("--plot {}: {e}", path.display()))?;
    }
    let total = start.elapsed().as_secs_f64();
    let flop = report::flop_per_sample(data.train.images.features(), data.classes);
    if args.json {
        for model in &swept.models {
            out.println(sweep_report::model_json(model));
        }
        out.println(sweep_report::summary_json(&swept, total));
    } else {
        out.print(&sweep_report::table(&swept));
        out.println(sweep_report::summary_line(&swept, flop, total));
        if let Some(path) = &args.save_best {
            out.println(format_args!("best model saved to {}", path.display()));
        }
    }
    Ok(out.finish()?)
}

fn run_eval(args: EvalArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = Stdout::default();
    let (model, info) = checkpoint::load(&args.model)?;
    let test = eval::test_split_for(&args.data, (&args.model, &model), info.image_shape)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(pool_size(args.threads))
        .build()?;
    let metrics = pool.install(|| Metrics::compute(&model, &test));
    if args.json {
        out.println(report::metrics_json(&metrics, &info.class_names));
    } else {
        out.print(&report::metrics_table(&metrics, &info.class_names));
    }
    Ok(out.finish()?)
}

fn run_predict(args: PredictArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = Stdout::default();
    let out_path = match &args.out {
        Some(path) => {
            output::refuse_collisions(&[("--out", path)], &[("--model", &args.model)])?;
            Some(output::prepare(path, "--out")?)
        }
        None => None,
    };
    let (model, info) = checkpoint::load(&args.model)?;
    if !args.image.is_empty() {
        for path in &args.image {
            let prepared = user_image::prepare(path, info.image_shape)?;
            let ranked = user_image::ranked_probabilities(&model, &prepared.pixels);
            let top: Vec<String> = ranked
                .iter()
                .take(3)
                .map(|&(c, p)| format!("{} {:.1}%", printable(&info.class_names[c]), 100.0 * p))
                .collect();
            let note = if prepared.inverted { " (inverted)" } else { "" };
            out.println(format_args!("{}{note}: {}", path.display(), top.join(", ")));
        }
        return Ok(out.finish()?);
    }
    let test = eval::test_split_for(&args.data, (&args.model, &model), info.image_shape)?;
    let predicted = predictions::predict_first(&model, &test, args.count);
    match &out_path {
        Some(path) => {
            let (canvas, _) = predictions::figure(&test, &predicted, &info.class_names);
            canvas
                .save_png(path)
                .map_err(|e| format!("--out {}: {e}", path.display()))?;
            out.println(format_args!(
                "wrote {} ({} images)",
                path.display(),
                predicted.len()
            ));
        }
        None => out.print(&predictions::terminal(&test, &predicted, &info.class_names)),
    }
    Ok(out.finish()?)
}

fn run_bench(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = BenchConfig::default();
    let config = BenchConfig {
        data: args.data,
        threads: args.threads.unwrap_or(defaults.threads),
        batch_size: args.batch_size,
        epochs: args.epochs,
    };
    let mut out = Stdout::default();
    out.print(&bench::run(&config)?.table());
    Ok(out.finish()?)
}

fn run_info(args: InfoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = Stdout::default();
    out.print(&info::inspect(&args.data, fashion_mnist::CLASSES)?.report());
    Ok(out.finish()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Bench(args) => run_bench(args),
        Command::Eval(args) => run_eval(args),
        Command::Predict(args) => run_predict(args),
        Command::Info(args) => run_info(args),
        Command::Sweep(args) => run_sweep(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing more can be done if standard error is closed too.
            let _ = writeln!(io::stderr(), "error: {e}{}", hint(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// What the user can do about an error, where the command line knows better
/// than the library.
fn hint(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let data_error = error.downcast_ref::<data::DataError>().or_else(|| {
        match error.downcast_ref::<eval::ScoringError>() {
            Some(eval::ScoringError::Data(e)) => Some(e),
            _ => None,
        }
    });
    match data_error {
        Some(e) if matches!(e.kind, data::DataErrorKind::Missing) => {
            "; pass --data DIR naming a directory with the four idx files"
        }
        _ => "",
    }
}
