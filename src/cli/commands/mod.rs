//! One `run` per command, and what train and sweep share when they save.

mod bench;
mod eval;
mod fit;
mod info;
mod predict;
mod sweep;
mod train;
mod tune;

use std::error::Error;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use softreg::app::figures::canvas::Canvas;
use softreg::data::standardize::Standardization;
use softreg::data::{self, DataError, Dataset};
use softreg::model::Model;
use softreg::model_file::{self, ModelInfo};

use super::args::Command;
use super::stdout::{Output, Stdout, prepare_outputs};

/// What a command returns: nothing, or an error for `main` to print.
pub type Outcome = Result<(), Box<dyn Error>>;

/// Runs `command`, printing to `out`.
pub fn run(command: Command, out: &mut Stdout) -> Outcome {
    match command {
        Command::Train(args) => train::run(args, out),
        Command::Sweep(args) => sweep::run(args, out),
        Command::Eval(args) => eval::run(args, out),
        Command::Predict(args) => predict::run(args, out),
        Command::Bench(args) => bench::run(args, out),
        Command::Info(args) => info::run(args, out),
        Command::Tune(args) => tune::run(args, out),
    }
}

/// Saves a trained `model` to `path` with its data directory, the run's
/// settings (`settings`, then the optimizer's) and its test accuracy.
fn save_model(
    path: &Path,
    (model, standardization): (&Model, Option<&Standardization>),
    (dir, data): (&Path, &Dataset),
    mut settings: Vec<(&str, String)>,
    test_accuracy: Option<f64>,
) -> Outcome {
    let folded;
    let model = match standardization {
        Some(standardization) => {
            settings.push(("standardized", "folded into weight and bias".to_string()));
            folded = standardization.fold(model);
            &folded
        }
        None => model,
    };
    let mut info = ModelInfo {
        class_names: data.class_names.clone(),
        image_shape: data.train.images.shape(),
        ..ModelInfo::default()
    };
    info.test_accuracy = test_accuracy;
    info.training = [("data", dir.display().to_string())]
        .into_iter()
        .chain(settings)
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(model_file::save(path, model, &info)?)
}

/// `--standardize`: every split of `data` standardized by the mean and spread
/// of its first `trained_on` training images (the held-out ones excluded).
fn standardized(
    on: bool,
    (dir, data): (&Path, &mut Dataset),
    trained_on: usize,
) -> Result<Option<Standardization>, DataError> {
    on.then(|| data.standardize(dir, 0..trained_on)).transpose()
}

/// Writes a figure to the picture `path` named by `flag`.
fn save_picture(canvas: &Canvas, (flag, path): (&str, &Path)) -> Outcome {
    canvas
        .save(path)
        .map_err(|e| format!("{flag} {}: {e}", path.display()).into())
}

/// The outputs of a training command (a model for `--save` or `--save-best`,
/// a picture for `--plot`, a checkpoint), checked before any work against
/// the data files of `dir` and the files it `reads` (a model to start from, a
/// checkpoint to resume).
fn training_outputs<const N: usize>(
    outputs: [Output<'_>; N],
    dir: &Path,
    reads: &[(&str, &Path)],
) -> Result<[Option<PathBuf>; N], Box<dyn Error>> {
    let data_files = data::files_of(dir);
    let inputs: Vec<_> = data_files
        .iter()
        .map(|p| ("data file", p.as_path()))
        .chain(reads.iter().copied())
        .collect();
    prepare_outputs(outputs, &inputs)
}

/// After an epoch: stop when the reader has gone and there is no file to
/// write (`softreg train | head -1`), else go on.
fn go_on(out: &Stdout, files_to_write: bool) -> ControlFlow<()> {
    if out.closed() && !files_to_write {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}
