//! What the user can do about an error, in the command line's words (the flag
//! to change), and the exit status it earns: 2 for flags, 1 for the rest.

use std::error::Error;

use softreg::data::{DataError, DataErrorKind};
use softreg::eval::ScoringError;
use softreg::train::TrainError;

use super::convert::UsageError;

/// The exit status of a failed command: 2 when a flag, or a combination of
/// flags, is at fault (as clap's own refusals), 1 otherwise.
pub fn exit_code(error: &(dyn Error + 'static)) -> u8 {
    let flag_error = error.is::<UsageError>()
        || error.downcast_ref::<TrainError>().is_some_and(|e| {
            matches!(
                e,
                TrainError::BatchSize
                    | TrainError::LearningRate(_)
                    | TrainError::Threads
                    | TrainError::Optimizer(_)
                    | TrainError::NoModels
                    | TrainError::TooManyModels(_)
                    | TrainError::NothingToRank
                    | TrainError::NoValidation
                    | TrainError::Epochs(_)
                    | TrainError::Validation { .. }
            )
        });
    if flag_error { 2 } else { 1 }
}

/// The flag to change for `error`, if the command line knows one.
pub fn hint(error: &(dyn Error + 'static)) -> Option<&'static str> {
    if let Some(e) = error.downcast_ref::<TrainError>() {
        return match e {
            TrainError::BatchSize => Some("pass --batch-size 1 or more"),
            TrainError::LearningRate(_) => Some("pass a positive --lr"),
            TrainError::Threads => Some("pass --threads 1 or more"),
            TrainError::Epochs(_) => Some("lower --epochs"),
            TrainError::NoModels | TrainError::TooManyModels(_) => Some(
                "list between 1 and 1,024 combinations of --lr, --momentum, --weight-decay, \
                 --optimizer and --seeds",
            ),
            TrainError::NothingToRank => Some("pass --epochs 1 or more"),
            TrainError::NoValidation => Some("pass --validation 1 or more"),
            TrainError::Validation { .. } => Some("lower --validation"),
            TrainError::OutOfMemory { .. } => Some("list fewer values or lower --batch-size"),
            TrainError::Diverged(_) => Some("--lr sets the learning rate; nothing is written"),
            TrainError::Optimizer(_) | TrainError::EmptyTrainingSet | TrainError::ThreadPool(_) => {
                None
            }
        };
    }
    let data_error =
        error
            .downcast_ref::<DataError>()
            .or_else(|| match error.downcast_ref::<ScoringError>() {
                Some(ScoringError::Data(e)) => Some(e),
                _ => None,
            });
    match (data_error, error.downcast_ref::<ScoringError>()) {
        (Some(e), _) if matches!(e.kind, DataErrorKind::Missing) => {
            Some("pass --data DIR naming a directory with the four idx files")
        }
        (_, Some(ScoringError::ClassMismatch { .. })) => {
            Some("pass the --data directory the model was trained on")
        }
        _ => None,
    }
}
