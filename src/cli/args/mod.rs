//! The flags of every command, as clap parses them: each declared once, under
//! the heading of its concern (`--help` groups them so), flags several
//! commands share flattened in. The heading of an optimizer's flags also says
//! which optimizers take them: [`refuse_foreign_flags`] turns that into a
//! usage error.

mod tools;
mod training;
mod values;

pub use tools::{BenchArgs, EvalArgs, InfoArgs, PredictArgs, TuneArgs};
pub use training::{SolverArgs, SweepArgs, TrainArgs};

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser, Subcommand, ValueEnum};
use softreg::kernel::Plan;
use softreg::train::Optimizer;

use values::{at_least_one, class_count, epoch_count, plan};

/// Softmax (multinomial logistic) regression trained on the CPU: minibatch
/// SGD, momentum or Adam, or a full-batch L-BFGS fit to scikit-learn's optimum.
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

/// `--help` headings: what a flag is about. The optimizer headings also say
/// which `--optimizer` takes the flag ([`applies`]).
pub const DATA: &str = "Data";
/// `--optimizer` itself.
pub const OPTIMIZER: &str = "Optimizer";
/// The epochs of SGD and Adam: rates, schedules, batches, seeds, checkpoints.
pub const FIRST_ORDER: &str = "SGD and Adam";
/// SGD's own.
pub const SGD: &str = "SGD";
/// Adam's own.
pub const ADAM: &str = "Adam";
/// The full-batch fit's.
pub const LBFGS: &str = "L-BFGS";
/// Where the run computes: kernel, instruction set, plan, threads.
pub const COMPUTE: &str = "Compute";
/// What the command writes.
pub const OUTPUT: &str = "Output";

/// Whether the flags under `heading` apply to a run of `optimizers`.
fn applies(heading: &str, optimizers: &[OptimizerArg]) -> bool {
    let named = |name: &str| optimizers.iter().any(|o| o.name() == name);
    let first_order = optimizers.iter().any(|o| *o != OptimizerArg::Lbfgs);
    match heading {
        FIRST_ORDER => first_order,
        SGD => named("sgd"),
        ADAM => named("adam"),
        LBFGS => named("lbfgs"),
        _ => true,
    }
}

/// Refuses, as clap refuses a flag (exit status 2), a flag given on the
/// command line whose heading's optimizers do not include the one the
/// command runs (`train --optimizer lbfgs --lr 0.5`): every optimizer's flags
/// are refused by the same rule, from their headings alone.
pub fn refuse_foreign_flags(
    cli: &mut clap::Command,
    matches: &ArgMatches,
) -> Result<(), clap::Error> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let Ok(Some(OptimizerList(optimizers))) = sub.try_get_one::<OptimizerList>("optimizer") else {
        return Ok(());
    };
    let command = cli
        .find_subcommand_mut(name)
        .expect("a parsed subcommand is declared");
    let foreign = command.get_arguments().find_map(|arg| {
        let given = sub.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine);
        let heading = arg.get_help_heading().filter(|_| given)?;
        let long = arg.get_long().unwrap_or(arg.get_id().as_str());
        (!applies(heading, optimizers)).then(|| format!("--{long} is a flag of {heading}"))
    });
    match foreign {
        None => Ok(()),
        Some(flag) => {
            let names: Vec<&str> = optimizers.iter().map(|o| o.name()).collect();
            let message = format!(
                "{flag}, which --optimizer {} does not run (`softreg {name} --help` lists \
                 each optimizer's flags under its heading)",
                names.join(",")
            );
            Err(command.error(clap::error::ErrorKind::ArgumentConflict, message))
        }
    }
}

/// `--data`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// Directory of the four idx files, or of train_x.npy and train_y.npy.
    ///
    /// idx files raw or .gz, of any idx type; .npy files of any integer or
    /// float dtype, with test_x.npy and test_y.npy if there is a test split.
    /// Class names from a classes.txt in it, one per line.
    #[arg(long, default_value = "data/fashion-mnist", help_heading = DATA)]
    pub data: PathBuf,
}

/// `--kernel`, for the commands that train.
#[derive(clap::Args)]
pub struct KernelChoice {
    /// The implementation of the loss and gradient.
    #[arg(long, value_enum, default_value_t = KernelArg::Auto, help_heading = COMPUTE)]
    pub kernel: KernelArg,
}

/// `--classes`, for the commands that load a data set to train or describe.
#[derive(clap::Args)]
pub struct ClassesArg {
    /// Classes of the data set [default: the largest label + 1].
    ///
    /// Every label must be below it.
    #[arg(long, value_parser = class_count, help_heading = DATA)]
    pub classes: Option<usize>,
}

/// `--standardize`, for the commands that train.
#[derive(clap::Args)]
pub struct StandardizeArg {
    /// Standardize every feature by its mean and spread before training.
    ///
    /// Over the training images (not the held-out ones); the saved model has
    /// them folded into its weight and bias, so it takes the raw features.
    #[arg(long, help_heading = DATA)]
    pub standardize: bool,
}

/// `--threads`.
#[derive(clap::Args)]
pub struct ThreadArgs {
    /// Worker threads [default: one per core; at most 4 per core].
    #[arg(long, value_parser = at_least_one, help_heading = COMPUTE)]
    pub threads: Option<usize>,
}

/// `--json`.
#[derive(clap::Args)]
pub struct JsonArg {
    /// Print JSON, one object per line, instead of text.
    #[arg(long, help_heading = OUTPUT)]
    pub json: bool,
}

/// `--epochs`, `--batch-size` and `--patience`, as `train` and `sweep` take
/// them.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Passes over the training set.
    #[arg(long, default_value_t = 5, value_parser = epoch_count, help_heading = FIRST_ORDER)]
    pub epochs: usize,
    /// Samples per minibatch.
    #[arg(long, default_value_t = 256, value_parser = at_least_one, help_heading = FIRST_ORDER)]
    pub batch_size: usize,
    /// Stop a model after N epochs without a better validation accuracy.
    ///
    /// Needs --validation. The best epoch is the one kept either way.
    #[arg(long, value_name = "N", help_heading = FIRST_ORDER)]
    pub patience: Option<usize>,
}

/// `--kernel`, `--isa`, `--plan` and `--threads`, for the commands that
/// train.
#[derive(clap::Args)]
pub struct ComputeArgs {
    #[command(flatten)]
    pub kernel: KernelChoice,
    /// Instruction set: avx512, avx2, neon or scalar [default: the best].
    ///
    /// Results are the same bits for any thread count on one instruction set,
    /// and differ in the last bits between them.
    #[arg(long, help_heading = COMPUTE)]
    pub isa: Option<String>,
    #[command(flatten)]
    pub plan: PlanArg,
    #[command(flatten)]
    pub threads: ThreadArgs,
}

/// `--plan`.
#[derive(clap::Args)]
pub struct PlanArg {
    /// The fused kernel's tiles, block and prefetch: wide,block=32K,prefetch=16.
    ///
    /// By default $SOFTREG_PLAN, else the plan `softreg tune` saved for this
    /// CPU, else one from its cache sizes. Every plan gives the same bits.
    #[arg(long, value_parser = plan, help_heading = COMPUTE)]
    pub plan: Option<Plan>,
}

/// One optimizer `--optimizer` names: a first-order optimizer's spec
/// (`sgd`, `adam:beta1=0.8`: [`Optimizer`]'s), or the full-batch fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerArg {
    /// SGD, Adam, ...: epochs of minibatches.
    FirstOrder(Optimizer),
    /// Full-batch L-BFGS to scikit-learn's optimum.
    Lbfgs,
}

impl OptimizerArg {
    /// The name `--optimizer` takes.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerArg::FirstOrder(optimizer) => optimizer.name(),
            OptimizerArg::Lbfgs => "lbfgs",
        }
    }
}

/// `--optimizer`'s value: specs separated by `;`, or names by `,`
/// (`sgd,adam`, `sgd:momentum=0.9;adam`).
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerList(pub Vec<OptimizerArg>);

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
