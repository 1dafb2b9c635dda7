//! What the user can do about an error, in the command line's words (the flag
//! to change), and the exit status it earns: 2 for flags, 1 for the rest.

use std::error::Error;

use softreg::compute::ComputeError;
use softreg::data::{DataError, DataErrorKind};
use softreg::eval::ScoringError;
use softreg::fit::FitError;
use softreg::train::{CheckpointError, CheckpointErrorKind, TrainError};

use super::convert::UsageError;

/// What the command line adds to a failed command's error.
pub struct Advice {
    /// The flag to change, if the command line knows one.
    pub hint: Option<&'static str>,
    /// 2 when a flag, or a combination of flags, is at fault (as clap's own
    /// refusals), 1 otherwise.
    pub exit_code: u8,
}

/// The advice for `error`: each kind of error is judged here once.
pub fn advice(error: &(dyn Error + 'static)) -> Advice {
    let (hint, flag_at_fault) = if error.is::<UsageError>() {
        (None, true)
    } else if let Some(e) = error.downcast_ref::<TrainError>() {
        train_advice(e)
    } else if let Some(e) = error.downcast_ref::<FitError>() {
        fit_advice(e)
    } else if let Some(e) = error.downcast_ref::<CheckpointError>() {
        checkpoint_advice(e)
    } else {
        (data_hint(error), classes_too_few(error))
    };
    Advice {
        hint,
        exit_code: if flag_at_fault { 2 } else { 1 },
    }
}

/// The hint for a training error, and whether a flag is at fault.
fn train_advice(error: &TrainError) -> (Option<&'static str>, bool) {
    match error {
        TrainError::BatchSize => (Some("pass --batch-size 1 or more"), true),
        TrainError::LearningRate(_) => (Some("pass a positive --lr"), true),
        TrainError::Epochs(_) => (Some("lower --epochs"), true),
        TrainError::NoModels | TrainError::TooManyModels(_) => (
            Some(
                "list between 1 and 1,024 combinations of --lr, --momentum, --weight-decay, \
                 --optimizer and --seeds",
            ),
            true,
        ),
        TrainError::NothingToRank => (Some("pass --epochs 1 or more"), true),
        TrainError::NoValidation => (Some("pass --validation 1 or more"), true),
        TrainError::Patience => (Some("pass --patience 1 or more"), true),
        TrainError::PatienceWithoutValidation => (
            Some("hold some out with --validation N, or leave out --patience"),
            true,
        ),
        TrainError::Validation { .. } => (Some("lower --validation"), true),
        TrainError::Optimizer(_) => (None, true),
        TrainError::OutOfMemory { models: 1, .. } => (
            Some(
                "lower --batch-size (each chunk of a minibatch holds a gradient copy), or train \
                 on fewer features or classes",
            ),
            false,
        ),
        TrainError::OutOfMemory { .. } => (Some("list fewer values or lower --batch-size"), false),
        TrainError::Diverged(_) => (
            Some("--lr sets the learning rate; nothing is written"),
            false,
        ),
        TrainError::InitShape { .. } => (
            Some("pass an --init model trained on data of this shape"),
            true,
        ),
        TrainError::Checkpoint(e) => checkpoint_advice(e),
        TrainError::Compute(e) => compute_advice(e),
        TrainError::EmptyTrainingSet => (None, false),
    }
}

/// The hint for a fit's error, and whether a flag is at fault.
fn fit_advice(error: &FitError) -> (Option<&'static str>, bool) {
    match error {
        FitError::NoModels | FitError::TooManyModels(_) => (
            Some("list between 1 and 1,024 values of --C and --l2"),
            true,
        ),
        FitError::Penalty(_) => (Some("pass --C above 0, or --l2 of 0 or more"), true),
        FitError::Tolerance(_) => (Some("pass --tol of 0 or more"), true),
        FitError::Validation { .. } => (Some("lower --validation"), true),
        FitError::NotFiniteAtStart => (Some("try --standardize"), false),
        FitError::OutOfMemory { .. } => (Some("fit fewer --C values or fewer features"), false),
        FitError::Compute(e) => compute_advice(e),
        FitError::EmptyTrainingSet => (None, false),
    }
}

/// The hint for threads that could not be had, and whether a flag is at fault.
fn compute_advice(error: &ComputeError) -> (Option<&'static str>, bool) {
    match error {
        ComputeError::Threads => (Some("pass --threads 1 or more"), true),
        ComputeError::ThreadPool(_) => (None, false),
    }
}

/// The hint for a checkpoint that cannot be resumed from, and whether a flag
/// is at fault.
fn checkpoint_advice(error: &CheckpointError) -> (Option<&'static str>, bool) {
    match error.kind {
        CheckpointErrorKind::OtherRun { .. } => (
            Some(
                "pass the flags and --data of the run that wrote it, or leave out --resume to \
                 start afresh",
            ),
            true,
        ),
        CheckpointErrorKind::EpochsDone { .. } => (Some("raise --epochs"), true),
        _ => (None, false),
    }
}

/// Whether `error` is a label at or above the class count: with the count
/// taken from the labels that cannot happen, so `--classes` is at fault.
fn classes_too_few(error: &(dyn Error + 'static)) -> bool {
    let data = error.downcast_ref::<DataError>();
    data.is_some_and(
        |e| matches!(e.kind, DataErrorKind::LabelOutOfRange { label, .. } if label >= 0),
    )
}

/// The hint for a data or scoring error: which `--data` to pass.
fn data_hint(error: &(dyn Error + 'static)) -> Option<&'static str> {
    let scoring = error.downcast_ref::<ScoringError>();
    let data = error.downcast_ref::<DataError>().or(match scoring {
        Some(ScoringError::Data(e)) => Some(e),
        _ => None,
    });
    match (data, scoring) {
        (Some(e), _) if matches!(e.kind, DataErrorKind::Missing) => Some(
            "pass --data DIR naming a directory with the four idx files, or train_x.npy and train_y.npy",
        ),
        (Some(e), _) if matches!(e.kind, DataErrorKind::LabelOutOfRange { label, .. } if label >= 0) => {
            Some("--classes N sets the class count (by default the largest label + 1)")
        }
        (Some(e), _) if matches!(e.kind, DataErrorKind::ClassNames { .. }) => {
            Some("write one class name per line in classes.txt, by label, or remove the file")
        }
        (_, Some(ScoringError::ClassMismatch { .. })) => {
            Some("pass the --data directory the model was trained on")
        }
        _ => None,
    }
}
