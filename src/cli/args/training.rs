//! The flags of the commands that train: `train` and `sweep`, grouped by
//! concern; the heading of an optimizer's flags says which optimizers take
//! them ([`super::refuse_foreign_flags`]).

use std::path::PathBuf;

use softreg::train::Schedule;

use super::values::{
    at_least_one, at_least_zero, below_one, optimizers, positive_finite, schedule, seed_range,
};
use super::{
    ADAM, ClassesArg, ComputeArgs, DATA, DataArgs, FIRST_ORDER, JsonArg, LBFGS, OPTIMIZER, OUTPUT,
    OptimizerList, PixelsArg, PreconditionArg, RunArgs, SGD, StandardizeArg,
};

#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub classes: ClassesArg,
    #[command(flatten)]
    pub standardize: StandardizeArg,
    /// Hold out the last N training images for validation.
    ///
    /// They are never trained on, and are scored after every epoch (val acc)
    /// or at the end of a fit.
    #[arg(long, default_value_t = 0, value_name = "N", help_heading = DATA)]
    pub validation: usize,
    /// How pixels are held in memory: u8 or f32; the weights are bit-identical.
    ///
    /// u8 keeps the file's bytes, widened to f32 in registers by the kernel as
    /// it reads them (a quarter of the memory traffic); f32 converts them once
    /// at load.
    #[arg(long, value_enum, default_value_t = PixelsArg::U8, help_heading = DATA)]
    pub pixels: PixelsArg,
    /// sgd, adam or rmsprop (PyTorch's semantics), or lbfgs (scikit-learn's).
    ///
    /// sgd is torch.optim.SGD, adam torch.optim.Adam, rmsprop
    /// torch.optim.RMSprop (rmsprop:alpha=0.99,eps=1e-8,momentum=0), each with its settings
    /// after a colon as a spec: sgd:momentum=0.9,nesterov or
    /// adam:beta1=0.8,weight_decay=1e-4 (the flags below set them too).
    /// lbfgs is a full-batch L-BFGS fit to the optimum of mean cross-entropy
    /// plus (λ/2)‖W‖², the model of scikit-learn's LogisticRegression: it has
    /// no learning rate, epochs or batches.
    #[arg(long, default_value = "sgd", value_parser = optimizers, help_heading = OPTIMIZER)]
    pub optimizer: OptimizerList,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = positive_finite, allow_negative_numbers = true, help_heading = FIRST_ORDER)]
    pub lr: f32,
    #[command(flatten)]
    pub run: RunArgs,
    /// Learning-rate schedule, stepped after every epoch as PyTorch steps it.
    ///
    /// constant, step:STEP_SIZE,GAMMA (StepLR), cosine:T_MAX[,ETA_MIN]
    /// (CosineAnnealingLR) or linear:START,END,ITERS (LinearLR warm-up).
    #[arg(long, default_value = "constant", value_parser = schedule, help_heading = FIRST_ORDER)]
    pub schedule: Schedule,
    /// L2 weight decay added to the gradient, for weight and bias [default: 0].
    #[arg(long, value_parser = at_least_zero, allow_negative_numbers = true, help_heading = FIRST_ORDER)]
    pub weight_decay: Option<f32>,
    /// Seed of the weight initialisation and the shuffles.
    #[arg(long, default_value_t = 0, help_heading = FIRST_ORDER)]
    pub seed: u64,
    /// Start from the weights of this saved model rather than random ones.
    ///
    /// The seed still orders the data.
    #[arg(long, value_name = "MODEL", conflicts_with = "resume", help_heading = FIRST_ORDER)]
    pub init: Option<PathBuf>,
    /// After every epoch, write all the run needs to continue to this file.
    ///
    /// Weights, optimizer state, data order, history and settings, written
    /// atomically.
    #[arg(long, value_name = "FILE", help_heading = FIRST_ORDER)]
    pub checkpoint: Option<PathBuf>,
    /// Continue the run of this checkpoint, with its settings and data.
    ///
    /// The weights and every later epoch are bit-identical to the run never
    /// stopped, for any thread count (--epochs may go further).
    #[arg(long, value_name = "FILE", help_heading = FIRST_ORDER)]
    pub resume: Option<PathBuf>,
    /// Momentum factor (0: none) [default: 0].
    #[arg(long, value_parser = at_least_zero, allow_negative_numbers = true, help_heading = SGD)]
    pub momentum: Option<f32>,
    /// Nesterov momentum (needs --momentum above 0).
    #[arg(long, help_heading = SGD)]
    pub nesterov: bool,
    /// First-moment decay [default: 0.9].
    #[arg(long, value_parser = below_one, allow_negative_numbers = true, help_heading = ADAM)]
    pub beta1: Option<f32>,
    /// Second-moment decay [default: 0.999].
    #[arg(long, value_parser = below_one, allow_negative_numbers = true, help_heading = ADAM)]
    pub beta2: Option<f32>,
    /// Epsilon [default: 1e-8].
    #[arg(long, value_parser = at_least_zero, allow_negative_numbers = true, help_heading = ADAM)]
    pub eps: Option<f32>,
    /// scikit-learn's C, the inverse strength of the L2 penalty [default: 1].
    ///
    /// λ = 1 / (C n) for n training images.
    #[arg(long = "C", value_name = "C", allow_negative_numbers = true, help_heading = LBFGS)]
    pub c: Option<f64>,
    /// The L2 penalty's strength λ itself (instead of --C).
    #[arg(long, conflicts_with = "c", allow_negative_numbers = true, help_heading = LBFGS)]
    pub l2: Option<f64>,
    #[command(flatten)]
    pub solver: SolverArgs,
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// Write the trained model to this safetensors file.
    ///
    /// PyTorch's nn.Linear layout; the settings in its metadata.
    #[arg(long, help_heading = OUTPUT)]
    pub save: Option<PathBuf>,
    /// Draw the loss and accuracy curves into this picture (.png or .jpg).
    #[arg(long, help_heading = OUTPUT)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub classes: ClassesArg,
    #[command(flatten)]
    pub standardize: StandardizeArg,
    /// Hold out the last N training images to rank the models by.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = at_least_one, help_heading = DATA)]
    pub validation: usize,
    /// Optimizers: sgd, adam or both (sgd,adam); or lbfgs alone.
    ///
    /// sgd and adam models train side by side in one pass over the data per
    /// step; specs with settings are separated by `;`
    /// (sgd:momentum=0.9;adam:beta1=0.8). A swept setting (--momentum,
    /// --weight-decay) applies to the optimizers that have it. lbfgs fits one
    /// full-batch L-BFGS model per --C (or --l2), all in one pass over the
    /// data per round.
    #[arg(long, default_value = "sgd", value_parser = optimizers, help_heading = OPTIMIZER)]
    pub optimizer: OptimizerList,
    /// Learning rates, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1", value_parser = positive_finite, allow_negative_numbers = true, help_heading = FIRST_ORDER)]
    pub lr: Vec<f32>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Learning-rate schedules (as train's --schedule), separated by `;`.
    #[arg(long, value_delimiter = ';', default_value = "constant", value_parser = schedule, help_heading = FIRST_ORDER)]
    pub schedule: Vec<Schedule>,
    /// L2 weight decays, comma-separated [default: each optimizer's own, 0].
    #[arg(long, value_delimiter = ',', value_parser = at_least_zero, allow_negative_numbers = true, help_heading = FIRST_ORDER)]
    pub weight_decay: Vec<f32>,
    /// Seeds of the initial weights: values and ranges, `0-3` or `0,5,7-9`.
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = seed_range, help_heading = FIRST_ORDER)]
    pub seeds: Vec<(u64, u64)>,
    /// Seed of the shuffles every model shares.
    #[arg(long, default_value_t = 0, help_heading = FIRST_ORDER)]
    pub data_seed: u64,
    /// Momentum factors, comma-separated [default: each optimizer's own, 0].
    #[arg(long, value_delimiter = ',', value_parser = at_least_zero, allow_negative_numbers = true, help_heading = SGD)]
    pub momentum: Vec<f32>,
    /// Nesterov momentum for the models with momentum.
    #[arg(long, help_heading = SGD)]
    pub nesterov: bool,
    /// scikit-learn's C values, comma-separated [default: 1].
    #[arg(
        long = "C",
        value_name = "C",
        value_delimiter = ',',
        allow_negative_numbers = true,
        help_heading = LBFGS
    )]
    pub c: Vec<f64>,
    /// L2 strengths λ, comma-separated (with or instead of --C).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, help_heading = LBFGS)]
    pub l2: Vec<f64>,
    #[command(flatten)]
    pub solver: SolverArgs,
    /// Fit every strength from zero, all in lockstep, not along the path.
    ///
    /// Each model is then the fit `train` makes alone, to the bit; along the
    /// path (the default) the strongest penalty goes first, each next one
    /// from near the previous optimum, in far fewer passes.
    #[arg(long, help_heading = LBFGS)]
    pub from_zero: bool,
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// Write the model with the best validation accuracy to this file.
    ///
    /// A safetensors file, its settings in the metadata.
    #[arg(long, help_heading = OUTPUT)]
    pub save_best: Option<PathBuf>,
    /// Draw the best models' validation curves and the lr x weight decay map.
    ///
    /// Into this picture (.png or .jpg).
    #[arg(long, help_heading = OUTPUT)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
}

/// `--tol`, `--max-iter` and `--precondition`: how an L-BFGS fit runs and
/// stops, as `train` and `sweep` take them.
#[derive(clap::Args)]
pub struct SolverArgs {
    /// Stop once every gradient component is at most this [default: 1e-4].
    ///
    /// In absolute value: scipy's pgtol, scikit-learn's tol.
    #[arg(long, allow_negative_numbers = true, help_heading = LBFGS)]
    pub tol: Option<f64>,
    /// Stop after this many iterations (scikit-learn's max_iter) [default: 100].
    #[arg(long, help_heading = LBFGS)]
    pub max_iter: Option<usize>,
    /// Start each direction from the features' Gram matrix [default: auto].
    ///
    /// gram: from the Gram matrix of the features; none: from the identity,
    /// as scipy does; auto: gram where it pays.
    #[arg(long, value_enum, help_heading = LBFGS)]
    pub precondition: Option<PreconditionArg>,
}
