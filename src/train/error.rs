//! Why training could not run or had to stop, and why a checkpoint could not
//! be written or resumed from.

use std::path::PathBuf;

use thiserror::Error;

use super::MAX_EPOCHS;
use super::divergence::Divergence;
use super::optimizer::OptimizerError;
use crate::compute::{ComputeError, MAX_MODELS};
use crate::input::human_bytes;

/// The `format` metadata entry of every checkpoint this version writes.
pub(super) const CHECKPOINT_FORMAT: &str = "softreg checkpoint 1";

/// Why training could not run or had to stop.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A minibatch needs at least one sample.
    #[error("batch size must be at least 1")]
    BatchSize,
    /// The learning rate is zero, negative or not finite.
    #[error("learning rate must be a positive finite number, got {0}")]
    LearningRate(f32),
    /// Optimizer settings PyTorch would refuse.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
    /// A sweep with no model.
    #[error("a sweep needs at least one model")]
    NoModels,
    /// More models than one sweep trains.
    #[error("{0} models are more than the {MAX_MODELS} one sweep trains")]
    TooManyModels(usize),
    /// A sweep of no epochs, so no model to rank.
    #[error("a sweep ranks models after training them: it needs at least one epoch")]
    NothingToRank,
    /// A sweep with no validation image to rank its models by.
    #[error("a sweep ranks models by validation accuracy: it needs at least one validation image")]
    NoValidation,
    /// A run whose weights and gradient sums would not fit in memory.
    #[error(
        "{} with batches of {batch_size} need{} {} of memory for weights and gradients, more \
         than the {} available",
        if *.models == 1 { "one model".to_string() } else { format!("{} models", .models) },
        if *.models == 1 { "s" } else { "" },
        human_bytes(*.needed),
        human_bytes(*.available)
    )]
    OutOfMemory {
        models: usize,
        batch_size: usize,
        needed: u64,
        available: u64,
    },
    /// A patience of no epochs.
    #[error("patience must be at least 1 epoch")]
    Patience,
    /// Early stopping with nothing to judge improvement by.
    #[error("stopping early needs validation images to judge each epoch by")]
    PatienceWithoutValidation,
    /// More epochs than any run could finish.
    #[error("epochs must be at most {MAX_EPOCHS}, got {0}")]
    Epochs(usize),
    /// There is nothing to train on.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// The validation split would take every training image.
    #[error(
        "holding out {held_out} images for validation leaves none to train on: the training set has {images}"
    )]
    Validation { held_out: usize, images: usize },
    /// The run's threads could not be had.
    #[error(transparent)]
    Compute(#[from] ComputeError),
    /// A model to start from whose shape is not the data's.
    #[error(
        "the model to start from takes {} features into {} classes; the data has {} features \
         and {} classes",
        .model.0, .model.1, .data.0, .data.1
    )]
    InitShape {
        model: (usize, usize),
        data: (usize, usize),
    },
    /// A checkpoint could not be written, or is not one to resume this run from.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss or a weight stopped being finite, or the loss ran away.
    #[error("{0}")]
    Diverged(Divergence),
}

/// A checkpoint that could not be written, read or resumed from, and why.
#[derive(Debug, Error)]
#[error("{}: {kind}", path.display())]
pub struct CheckpointError {
    /// The checkpoint file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: CheckpointErrorKind,
}

/// What is wrong with a checkpoint.
#[derive(Debug, Error)]
pub enum CheckpointErrorKind {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a safetensors file.
    #[error("not a checkpoint: {0}")]
    Format(String),
    /// A safetensors file that is not a softreg checkpoint (a model file, say).
    #[error("not a softreg checkpoint (no \"format\": {CHECKPOINT_FORMAT:?} in its metadata)")]
    NotACheckpoint,
    /// The content does not match the checksum it was written with.
    #[error("damaged: its content does not match the SHA-256 it was written with")]
    Damaged,
    /// The content is not a state a run can continue from.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The checkpoint belongs to a run with other settings or data.
    #[error("was written by another run: {key} is {theirs} there and {ours} here")]
    OtherRun {
        key: String,
        theirs: String,
        ours: String,
    },
    /// The run asks for fewer epochs than the checkpoint has trained.
    #[error("has trained {done} epochs already, more than the {epochs} asked for")]
    EpochsDone { done: usize, epochs: usize },
}
