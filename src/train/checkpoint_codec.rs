//! A checkpoint's bytes: a safetensors file of every model's weights, best
//! weights, optimizer buffers and history, the data order and the epoch
//! times, whose metadata names the run and carries a SHA-256 of the whole
//! content, so that a damaged or truncated file is refused rather than
//! resumed from.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};

use super::config::Setting;
use super::error::{CHECKPOINT_FORMAT, CheckpointErrorKind};
use super::history::{BestEpoch, ModelEpoch, ModelRun};
use super::state::{ModelState, RunState, malformed};
use crate::eval::Evaluation;
use crate::model::Model;
use crate::model_file::f32_bytes;

/// What a checkpoint says of the run that wrote it: `key=value` pairs.
pub(super) type Identity = Vec<(String, String)>;

/// Columns of the `history` tensor, one row per epoch.
const HISTORY_COLUMNS: usize = 9;

/// The tensors of one checkpoint, by name: dtype, shape and little-endian bytes.
type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

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

/// The bytes of a checkpoint of `state` of the run `identity`.
pub(super) fn encode(
    identity: &[(String, String)],
    state: &RunState,
) -> Result<Vec<u8>, CheckpointErrorKind> {
    let mut tensors: Tensors = Vec::new();
    let mut metadata: HashMap<String, String> = identity
        .iter()
        .map(|(k, v)| (format!("run.{k}"), v.clone()))
        .collect();
    metadata.insert("format".into(), CHECKPOINT_FORMAT.into());
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

/// Bytes as lowercase hexadecimal.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity and state a checkpoint's bytes hold, once they are shown
/// to be a whole softreg checkpoint.
pub(super) fn decode(bytes: &[u8]) -> Result<(Identity, RunState), CheckpointErrorKind> {
    let format = |e: safetensors::SafeTensorError| CheckpointErrorKind::Format(e.to_string());
    let parsed = SafeTensors::deserialize(bytes).map_err(format)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(format)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some(CHECKPOINT_FORMAT) {
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
    .state()
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

    fn state(&self) -> Result<(Identity, RunState), CheckpointErrorKind> {
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
        let state = RunState {
            epochs,
            models,
            order,
            order_words: self.entry("order_words")?,
            epoch_times: times.iter().map(|t| (t[0], t[1] as usize)).collect(),
        };
        Ok((identity, state))
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
            swept: ModelRun {
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
