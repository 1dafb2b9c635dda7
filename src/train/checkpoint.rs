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
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::sweep::{BestEpoch, ModelEpoch, SweptModel};
use super::{Setting, TrainConfig};
use crate::data::{Dataset, Split};
use crate::eval::Evaluation;
use crate::model::Model;

/// The `format` metadata entry of every checkpoint this version writes.
const FORMAT: &str = "softreg checkpoint 1";

/// The largest checkpoint read: a model file's limit plus the data order and
/// the history of the most epochs a run may have.
pub const MAX_CHECKPOINT_BYTES: u64 = 1_000_000_000;

/// Columns of the `history` tensor, one row per epoch.
const HISTORY_COLUMNS: usize = 9;

/// A run's state after an epoch: what [`super::run`] continues from.
#[derive(Debug, Clone)]
pub struct RunState {
    /// Epochs completed.
    pub epochs: usize,
    /// Each model's weights, history and best epoch, with the optimizer
    /// buffers of those still training.
    pub models: Vec<ModelState>,
    /// The last epoch's data order.
    pub order: Vec<usize>,
    /// Where the data order's random stream stands ([`crate::random::SeededRng::word_pos`]).
    pub order_words: u128,
    /// Each epoch's training time and model-samples.
    pub epoch_times: Vec<(f64, usize)>,
}

/// One model of a [`RunState`].
#[derive(Debug, Clone)]
pub struct ModelState {
    /// Its weights, history and best epoch.
    pub swept: SweptModel,
    /// Whether it trains on (it has not stopped early).
    pub training: bool,
    /// Its optimizer's two buffers, row-major, when the optimizer has them
    /// and it trains on.
    pub moments: Option<[Model; 2]>,
}

/// A checkpoint read back: the run it belongs to and its state.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    identity: Vec<(String, String)>,
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
    #[error("not a softreg checkpoint (no \"format\": {FORMAT:?} in its metadata)")]
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

fn malformed(what: impl Into<String>) -> CheckpointErrorKind {
    CheckpointErrorKind::Malformed(what.into())
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
    identity.push(("kernel".to_string(), config.kernel.name().to_string()));
    identity.push(("isa".to_string(), config.run.isa().name().to_string()));
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let bytes = to_bytes(identity, state).map_err(error)?;
    crate::output::write_atomically(path, &bytes).map_err(|e| error(e.into()))
}

/// The tensors of one checkpoint, by name: dtype, shape and little-endian bytes.
type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn push_model(tensors: &mut Tensors, name: &str, model: &Model) {
    let shape = vec![model.classes, model.features];
    let weight = f32_bytes(&model.weights);
    tensors.push((format!("{name}.weight"), Dtype::F32, shape, weight));
    let bias = f32_bytes(&model.bias);
    tensors.push((
        format!("{name}.bias"),
        Dtype::F32,
        vec![model.classes],
        bias,
    ));
}

/// One history row: loss, train accuracy, rate, then presence, loss and
/// accuracy of the validation and of the test evaluation.
fn history_row(epoch: &ModelEpoch) -> [f64; HISTORY_COLUMNS] {
    let evaluation = |e: Option<Evaluation>| match e {
        Some(e) => [1.0, e.loss, e.accuracy],
        None => [0.0; 3],
    };
    let [vp, vl, va] = evaluation(epoch.validation);
    let [tp, tl, ta] = evaluation(epoch.test);
    let rate = f64::from(epoch.learning_rate);
    [epoch.loss, epoch.train_acc, rate, vp, vl, va, tp, tl, ta]
}

fn to_bytes(
    identity: &[(String, String)],
    state: &RunState,
) -> Result<Vec<u8>, CheckpointErrorKind> {
    let mut tensors: Tensors = Vec::new();
    let mut metadata: HashMap<String, String> = identity
        .iter()
        .map(|(k, v)| (format!("run.{k}"), v.clone()))
        .collect();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("epochs".into(), state.epochs.to_string());
    metadata.insert("models".into(), state.models.len().to_string());
    metadata.insert("order_words".into(), state.order_words.to_string());
    for (i, m) in state.models.iter().enumerate() {
        let name = |what: &str| format!("model{i}.{what}");
        push_model(&mut tensors, &name("now"), &m.swept.model);
        if let Some(best) = &m.swept.best {
            push_model(&mut tensors, &name("best"), &best.model);
            metadata.insert(name("best_epoch"), best.epoch.to_string());
        }
        if let Some([first, second]) = &m.moments {
            push_model(&mut tensors, &name("moment1"), first);
            push_model(&mut tensors, &name("moment2"), second);
        }
        metadata.insert(name("training"), m.training.to_string());
        metadata.insert(name("stopped_early"), m.swept.stopped_early.to_string());
        let rows: Vec<f64> = m.swept.epochs.iter().flat_map(history_row).collect();
        let shape = vec![m.swept.epochs.len(), HISTORY_COLUMNS];
        tensors.push((name("history"), Dtype::F64, shape, f64_bytes(&rows)));
    }
    let order: Vec<u8> = state
        .order
        .iter()
        .flat_map(|&i| (i as u64).to_le_bytes())
        .collect();
    tensors.push(("order".into(), Dtype::U64, vec![state.order.len()], order));
    let times: Vec<f64> = state
        .epoch_times
        .iter()
        .flat_map(|&(seconds, samples)| [seconds, samples as f64])
        .collect();
    let shape = vec![state.epoch_times.len(), 2];
    tensors.push(("epoch_times".into(), Dtype::F64, shape, f64_bytes(&times)));
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    metadata.insert("sha256".into(), checksum(&metadata, &tensors));
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| CheckpointErrorKind::Format(e.to_string()))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<Vec<_>, CheckpointErrorKind>>()?;
    crate::model_file::serialize(views, metadata)
        .map_err(|e| CheckpointErrorKind::Format(e.to_string()))
}

/// The SHA-256 of every metadata entry but the checksum and every tensor,
/// each in name order, each length-prefixed.
fn checksum(metadata: &HashMap<String, String>, tensors: &Tensors) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    let mut entries: Vec<_> = metadata.iter().filter(|(k, _)| *k != "sha256").collect();
    entries.sort();
    for (key, value) in entries {
        field(key.as_bytes());
        field(value.as_bytes());
    }
    for (name, dtype, shape, bytes) in tensors {
        field(name.as_bytes());
        field(format!("{dtype:?}{shape:?}").as_bytes());
        field(bytes);
    }
    hex(&hasher.finalize())
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
        let format = |e: safetensors::SafeTensorError| CheckpointErrorKind::Format(e.to_string());
        let parsed = SafeTensors::deserialize(bytes).map_err(format)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(format)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        if metadata.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(CheckpointErrorKind::NotACheckpoint);
        }
        let mut tensors: Tensors = parsed
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let shape = view.shape().to_vec();
                (name, view.dtype(), shape, view.data().to_vec())
            })
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        if metadata.get("sha256") != Some(&checksum(&metadata, &tensors)) {
            return Err(CheckpointErrorKind::Damaged);
        }
        Reader {
            metadata: &metadata,
            tensors: &tensors,
        }
        .checkpoint()
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

impl RunState {
    /// Refuses a state whose shapes do not fit a run of `settings` on
    /// `trained_on` samples (a checksummed file can still be forged).
    fn check(&self, settings: &[Setting], trained_on: usize) -> Result<(), CheckpointErrorKind> {
        if self.models.len() != settings.len() {
            return Err(malformed(format!(
                "{} models for a run of {}",
                self.models.len(),
                settings.len()
            )));
        }
        let mut seen = vec![false; trained_on];
        if self.order.len() != trained_on
            || !self
                .order
                .iter()
                .all(|&i| i < trained_on && !std::mem::replace(&mut seen[i], true))
        {
            return Err(malformed(format!(
                "the data order is not an order of the {trained_on} samples trained on"
            )));
        }
        let shape = |m: &Model| (m.features, m.classes);
        let expected = shape(&self.models[0].swept.model);
        for (m, setting) in self.models.iter().zip(settings) {
            let shapes_agree = shape(&m.swept.model) == expected
                && m.swept.best.iter().all(|b| shape(&b.model) == expected)
                && m.moments.iter().flatten().all(|b| shape(b) == expected);
            if !shapes_agree {
                return Err(malformed("its weights differ in shape"));
            }
            let needs_moments = m.training && !setting.optimizer.is_plain_sgd();
            if needs_moments != m.moments.is_some() {
                return Err(malformed("its optimizer buffers do not fit the optimizer"));
            }
        }
        Ok(())
    }
}

/// Reads a checkpoint's entries, naming the first that is missing or wrong.
struct Reader<'a> {
    metadata: &'a HashMap<String, String>,
    tensors: &'a Tensors,
}

impl Reader<'_> {
    fn entry<T: std::str::FromStr>(&self, key: &str) -> Result<T, CheckpointErrorKind> {
        let text = self
            .metadata
            .get(key)
            .ok_or_else(|| malformed(format!("no {key:?} entry")))?;
        text.parse()
            .map_err(|_| malformed(format!("{key:?} is {text:?}, not a number or flag")))
    }

    /// The tensor `name` of `dtype` and `shape` (`None` where any size goes,
    /// returned).
    fn tensor(
        &self,
        name: &str,
        dtype: Dtype,
        shape: &[Option<usize>],
    ) -> Result<(&[u8], Vec<usize>), CheckpointErrorKind> {
        let (_, found, dims, bytes) = self
            .tensors
            .iter()
            .find(|t| t.0 == name)
            .ok_or_else(|| malformed(format!("no tensor {name:?}")))?;
        let fits = dims.len() == shape.len()
            && dims
                .iter()
                .zip(shape)
                .all(|(d, s)| s.is_none_or(|s| s == *d));
        if *found != dtype || !fits {
            return Err(malformed(format!(
                "tensor {name:?} is {found:?} {dims:?}, not {dtype:?} of {shape:?}"
            )));
        }
        Ok((bytes, dims.clone()))
    }

    fn model(&self, name: &str) -> Result<Model, CheckpointErrorKind> {
        let weight_name = format!("{name}.weight");
        let (weight, dims) = self.tensor(&weight_name, Dtype::F32, &[None, None])?;
        let (classes, features) = (dims[0], dims[1]);
        let (bias, _) = self.tensor(&format!("{name}.bias"), Dtype::F32, &[Some(classes)])?;
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        if classes == 0 || features == 0 {
            return Err(malformed(format!("tensor {weight_name:?} is empty")));
        }
        Ok(Model {
            features,
            classes,
            weights: floats(weight),
            bias: floats(bias),
        })
    }

    fn f64_rows(&self, name: &str, columns: usize) -> Result<Vec<Vec<f64>>, CheckpointErrorKind> {
        let (bytes, _) = self.tensor(name, Dtype::F64, &[None, Some(columns)])?;
        let values: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(values.chunks_exact(columns).map(<[f64]>::to_vec).collect())
    }

    fn checkpoint(&self) -> Result<Checkpoint, CheckpointErrorKind> {
        let identity: Vec<(String, String)> = self
            .metadata
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("run.")?.to_string(), v.clone())))
            .collect();
        let epochs: usize = self.entry("epochs")?;
        let count: usize = self.entry("models")?;
        let times = self.f64_rows("epoch_times", 2)?;
        if times.len() != epochs {
            return Err(malformed(format!(
                "{} epoch times for {epochs} epochs",
                times.len()
            )));
        }
        let mut models = Vec::new();
        for i in 0..count.min(self.tensors.len()) {
            models.push(self.model_state(i, epochs)?);
        }
        if models.len() != count {
            return Err(malformed(format!("no tensors for {count} models")));
        }
        let (order, _) = self.tensor("order", Dtype::U64, &[None])?;
        let order = order
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .map(|i| usize::try_from(i).unwrap_or(usize::MAX))
            .collect();
        Ok(Checkpoint {
            identity,
            state: RunState {
                epochs,
                models,
                order,
                order_words: self.entry("order_words")?,
                epoch_times: times.iter().map(|t| (t[0], t[1] as usize)).collect(),
            },
        })
    }

    fn model_state(&self, i: usize, epochs: usize) -> Result<ModelState, CheckpointErrorKind> {
        let name = |what: &str| format!("model{i}.{what}");
        let history = self.f64_rows(&name("history"), HISTORY_COLUMNS)?;
        if history.len() > epochs {
            return Err(malformed(format!(
                "model {i} has a history of {} epochs in a run of {epochs}",
                history.len()
            )));
        }
        let evaluation = |present: f64, loss, accuracy| {
            (present != 0.0).then_some(Evaluation { loss, accuracy })
        };
        let history = history
            .iter()
            .map(|r| ModelEpoch {
                loss: r[0],
                train_acc: r[1],
                learning_rate: r[2] as f32,
                validation: evaluation(r[3], r[4], r[5]),
                test: evaluation(r[6], r[7], r[8]),
            })
            .collect::<Vec<_>>();
        let best = match self.metadata.contains_key(&name("best_epoch")) {
            false => None,
            true => {
                let epoch: usize = self.entry(&name("best_epoch"))?;
                if !(1..=history.len()).contains(&epoch) {
                    return Err(malformed(format!(
                        "model {i}'s best epoch {epoch} is not one it trained"
                    )));
                }
                let model = self.model(&name("best"))?;
                Some(BestEpoch { epoch, model })
            }
        };
        let training: bool = self.entry(&name("training"))?;
        let has_moments = self.tensors.iter().any(|t| t.0 == name("moment1.weight"));
        let moments = match has_moments {
            true => Some([self.model(&name("moment1"))?, self.model(&name("moment2"))?]),
            false => None,
        };
        Ok(ModelState {
            swept: SweptModel {
                // The run's own, once the identity shows they are the same.
                setting: Setting::default(),
                model: self.model(&name("now"))?,
                epochs: history,
                test: None,
                diverged: None,
                best,
                stopped_early: self.entry(&name("stopped_early"))?,
            },
            training,
            moments,
        })
    }
}
