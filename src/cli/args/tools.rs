//! The flags of the commands that do not train: `eval`, `predict`, `bench`,
//! `tune` and `info`.

use std::path::PathBuf;

use softreg::app::tune;

use super::values::{at_least_one, bench_features, class_count, shown_count};
use super::{ClassesArg, DataArgs, JsonArg, PlanArg, ThreadArgs};

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
