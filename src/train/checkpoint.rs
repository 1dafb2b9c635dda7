//! Checkpoints: everything a `train` run needs to continue after an epoch as
//! if it had never stopped: the weights and optimizer buffers, the data order
//! and the position of its random stream, the epoch history and the best
//! epoch, and what the run was (its settings and a fingerprint of its data),
//! so that a checkpoint of another run is refused by name.
//!
//! A checkpoint is a safetensors file, written atomically after every epoch
//! ([`crate::output::write_atomically`]), whose metadata carries a SHA-256 of
//! its whole content: a damaged or truncated file is refused rather than
//! resumed from.
//!
//! The run goes on bit for bit because nothing it computes depends on more
//! than this state: the learning rate of epoch `e` is the schedule's `e`-th
//! step from the base rate, Adam's step count is the epochs' minibatches, and
//! the data order of the next epoch is a shuffle of the last one by the
//! stream where it stood. Threads and the kernel's plan never change the bits,
//! so a run may be resumed with others; it may also be given more epochs.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::checkpoint_codec::{self as codec, Identity, hex};
use super::config::{Setting, TrainConfig};
use super::error::{CheckpointError, CheckpointErrorKind};
use super::state::RunState;
use crate::data::{Dataset, Split};

/// The largest checkpoint read: a model file's limit plus the data order and
/// the history of the most epochs a run may have.
pub const MAX_CHECKPOINT_BYTES: u64 = 1_000_000_000;

/// A checkpoint read back: the run it belongs to and its state.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    identity: Identity,
    state: RunState,
}

/// A checkpoint shown to be one a run continues ([`Checkpoint::resume`]).
#[derive(Debug, Clone)]
pub struct Resume<'a> {
    pub(super) path: &'a Path,
    pub(super) checkpoint: &'a Checkpoint,
    /// The fingerprint of the data it was checked against.
    pub(super) data_sha256: String,
}

/// What must match for a checkpoint to continue a run: every setting that
/// shapes its results but the epochs, the kernel and instruction set (not the
/// plan or threads, which never change the bits), and `data_sha256`, the
/// [`fingerprint`] of the data as the run sees it.
pub(super) fn identity(config: &TrainConfig, data_sha256: String) -> Vec<(String, String)> {
    let mut identity: Vec<(String, String)> = config
        .settings()
        .into_iter()
        .filter(|(key, _)| !["epochs", "kernel"].contains(key))
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    identity.push((
        "kernel".to_string(),
        config.compute.kernel.name().to_string(),
    ));
    identity.push(("isa".to_string(), config.compute.isa().name().to_string()));
    identity.push(("data_sha256".to_string(), data_sha256));
    identity
}

/// A SHA-256 of every value the run reads: the classes, each split's image
/// shape, scale, pixel values (as f32, whichever way they are held) and
/// labels.
pub(super) fn fingerprint(data: &Dataset) -> String {
    let mut hasher = Sha256::new();
    hasher.update((data.classes as u64).to_le_bytes());
    let mut split = |split: &Split| {
        let images = &split.images;
        let (height, width) = images.shape();
        for n in [images.len(), height, width] {
            hasher.update((n as u64).to_le_bytes());
        }
        hasher.update(images.scale().to_le_bytes());
        match (images.u8_pixels(), images.f32_pixels()) {
            (Some(bytes), _) => {
                for chunk in bytes.chunks(1 << 16) {
                    let values: Vec<u8> = chunk
                        .iter()
                        .flat_map(|&p| f32::from(p).to_le_bytes())
                        .collect();
                    hasher.update(&values);
                }
            }
            (None, Some(values)) => hasher.update(bytemuck::cast_slice(values)),
            (None, None) => {}
        }
        for &label in &split.labels {
            hasher.update(label.to_le_bytes());
        }
    };
    split(&data.train);
    if let Some(test) = &data.test {
        split(test);
    }
    hex(&hasher.finalize())
}

/// Writes `state` of the run `identity` to `path`, atomically.
pub(super) fn save(
    path: &Path,
    identity: &[(String, String)],
    state: &RunState,
) -> Result<(), CheckpointError> {
    let error = |kind: CheckpointErrorKind| CheckpointError {
        path: path.to_path_buf(),
        kind,
    };
    let bytes = codec::encode(identity, state).map_err(error)?;
    crate::output::write_atomically(path, &bytes).map_err(|e| error(e.into()))
}

impl Checkpoint {
    /// Reads the checkpoint at `path` (at most [`MAX_CHECKPOINT_BYTES`]),
    /// refusing one that is damaged, truncated or not a checkpoint.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let error = |kind: CheckpointErrorKind| CheckpointError {
            path: path.to_path_buf(),
            kind,
        };
        let bytes =
            crate::input::read_capped(path, MAX_CHECKPOINT_BYTES).map_err(|e| error(e.into()))?;
        Self::from_bytes(&bytes).map_err(error)
    }

    /// Parses and checks the bytes of a checkpoint.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointErrorKind> {
        let (identity, state) = codec::decode(bytes)?;
        Ok(Self { identity, state })
    }

    /// Epochs the checkpointed run has completed.
    pub fn epochs(&self) -> usize {
        self.state.epochs
    }

    /// This checkpoint (read from `path`), once it is shown to be one the
    /// run of `config` on `data` continues; the difference is named if not.
    /// The run must then be given the same `data`.
    pub fn resume<'a>(
        &'a self,
        path: &'a Path,
        data: &Dataset,
        config: &TrainConfig,
    ) -> Result<Resume<'a>, CheckpointError> {
        let resume = Resume {
            path,
            checkpoint: self,
            data_sha256: fingerprint(data),
        };
        resume.state(config, data)?;
        Ok(resume)
    }

    /// The checkpoint's state, once it is shown to belong to the run of
    /// `identity` ([`identity`]) and `settings` (one per model), run to
    /// `epochs` epochs on `trained_on` samples; the difference is named if
    /// not.
    fn state_for(
        &self,
        identity: &[(String, String)],
        settings: &[Setting],
        (epochs, trained_on): (usize, usize),
    ) -> Result<&RunState, CheckpointErrorKind> {
        let theirs: HashMap<&str, &str> = self
            .identity
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ours: HashMap<&str, &str> = identity
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // In the run's order (the optimizer before its parameters, the data
        // last), then any the run does not have.
        let mut extra: Vec<&str> = (theirs.keys().copied())
            .filter(|k| !ours.contains_key(k))
            .collect();
        extra.sort();
        let keys = identity.iter().map(|(k, _)| k.as_str()).chain(extra);
        for key in keys {
            let (a, b) = (theirs.get(key), ours.get(key));
            if a != b {
                let shown = |v: Option<&&str>| v.map_or("not set".to_string(), |v| v.to_string());
                return Err(CheckpointErrorKind::OtherRun {
                    key: key.to_string(),
                    theirs: shown(a),
                    ours: shown(b),
                });
            }
        }
        let state = &self.state;
        if state.epochs > epochs {
            return Err(CheckpointErrorKind::EpochsDone {
                done: state.epochs,
                epochs,
            });
        }
        state.check(settings, trained_on)?;
        Ok(state)
    }
}

impl<'a> Resume<'a> {
    /// The state the run of `config` on `data` continues from, with the
    /// difference named if it is another run's.
    pub(super) fn state(
        &self,
        config: &TrainConfig,
        data: &Dataset,
    ) -> Result<&'a RunState, CheckpointError> {
        let identity = identity(config, self.data_sha256.clone());
        let run = (config.run.epochs, config.run.trained_on(data));
        (self.checkpoint)
            .state_for(&identity, &[config.setting], run)
            .map_err(|kind| CheckpointError {
                path: self.path.to_path_buf(),
                kind,
            })
    }
}
