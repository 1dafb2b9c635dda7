//! Model files in safetensors format, in the layout of PyTorch's
//! `nn.Linear(784, 10)`: `weight` f32 `[classes, features]` and `bias` f32
//! `[classes]`, with metadata saying what the model is.
//!
//! ```no_run
//! use softreg::model_file::{self, ModelInfo};
//! use softreg::{model::Model, random::SeededRng};
//! let model = Model::init(784, 10, &mut SeededRng::new(0));
//! let info = ModelInfo::fashion_mnist((28, 28));
//! model_file::save("model.safetensors".as_ref(), &model, &info)?;
//! let (loaded, _) = model_file::load("model.safetensors".as_ref())?;
//! assert_eq!(loaded, model);
//! # Ok::<(), model_file::ModelFileError>(())
//! ```
//!
//! In Python: `nn.Linear(784, 10).load_state_dict(safetensors.torch.load_file(path))`
//! or `safetensors.numpy.load_file(path)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use thiserror::Error;

use crate::model::Model;
pub use crate::model_info::ModelInfo;
use crate::output::write_atomically;

/// A model file that could not be written or read, and why.
#[derive(Debug, Error)]
#[error("{}: {kind}", path.display())]
pub struct ModelFileError {
    /// The file at fault.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: ModelFileErrorKind,
}

/// What is wrong with a model file.
#[derive(Debug, Error)]
pub enum ModelFileErrorKind {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid safetensors file (truncated, corrupt, or another format).
    #[error("not a valid safetensors model file: {0}")]
    Format(String),
    /// A tensor softreg needs is absent.
    #[error("has no tensor named {0:?} (a softreg model holds \"weight\" and \"bias\")")]
    MissingTensor(&'static str),
    /// A tensor has the wrong element type.
    #[error("tensor {name:?} is {found}, expected F32")]
    WrongDtype { name: &'static str, found: String },
    /// A tensor has the wrong shape.
    #[error("tensor {name:?} has shape {found:?}, expected {expected}")]
    WrongShape {
        name: &'static str,
        found: Vec<usize>,
        expected: String,
    },
    /// The metadata is missing or malformed.
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("has {0} classes; softreg handles at most {MAX_CLASSES}")]
    TooManyClasses(usize),
    #[error(
        "tensor {name:?} holds {value} at {index:?}: a model with non-finite values cannot \
         classify (it diverged in training, or the file is damaged); train it again, with a lower --lr"
    )]
    NotFinite {
        name: &'static str,
        index: Vec<usize>,
        value: f32,
    },
    #[error(
        "class {class}'s weights are so large (their magnitudes sum to {sum:e}) that its logit \
         can overflow f32; train it again, with a lower --lr"
    )]
    LogitsOverflow { class: usize, sum: f64 },
}

/// Refuses a tensor with a NaN or infinite value, naming its index (`[row,
/// column]` for rows of `columns` values, `[i]` for a vector).
fn check_finite(
    name: &'static str,
    values: &[f32],
    columns: usize,
) -> Result<(), ModelFileErrorKind> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(ModelFileErrorKind::NotFinite {
            name,
            index: if columns > 1 {
                vec![i / columns, i % columns]
            } else {
                vec![i]
            },
            value: values[i],
        }),
    }
}

/// Refuses weights whose logits can overflow f32 for pixels in `[0, 1]`: the
/// largest logit magnitude is at most the sum of a class's absolute weights and
/// its bias, which must stay well below `f32::MAX`.
fn check_logits_fit(
    weights: &[f32],
    bias: &[f32],
    features: usize,
) -> Result<(), ModelFileErrorKind> {
    for (class, (row, &b)) in weights.chunks_exact(features).zip(bias).enumerate() {
        let sum = row.iter().map(|&w| f64::from(w).abs()).sum::<f64>() + f64::from(b).abs();
        if sum > f64::from(f32::MAX) / 16.0 {
            return Err(ModelFileErrorKind::LogitsOverflow { class, sum });
        }
    }
    Ok(())
}

fn error(path: &Path, kind: impl Into<ModelFileErrorKind>) -> ModelFileError {
    ModelFileError {
        path: path.to_path_buf(),
        kind: kind.into(),
    }
}

/// Writes `model` and `info` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over `path`.
pub fn save(path: &Path, model: &Model, info: &ModelInfo) -> Result<(), ModelFileError> {
    let bytes = to_bytes(model, info).map_err(|kind| error(path, kind))?;
    write_atomically(path, &bytes).map_err(|e| error(path, e))
}

/// Little-endian bytes of f32 values, as safetensors holds them (model files
/// and checkpoints alike).
pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The safetensors bytes of `model` with `info` as metadata.
pub fn to_bytes(model: &Model, info: &ModelInfo) -> Result<Vec<u8>, ModelFileErrorKind> {
    let weight = f32_bytes(&model.weights);
    let bias = f32_bytes(&model.bias);
    let format = |e: safetensors::SafeTensorError| ModelFileErrorKind::Format(e.to_string());
    let tensors = [
        (
            "weight",
            TensorView::new(Dtype::F32, vec![model.classes, model.features], &weight)
                .map_err(format)?,
        ),
        (
            "bias",
            TensorView::new(Dtype::F32, vec![model.classes], &bias).map_err(format)?,
        ),
    ];
    let mut metadata = HashMap::new();
    metadata.insert(
        "class_names".to_string(),
        serde_json::to_string(&info.class_names).expect("strings serialise"),
    );
    metadata.insert(
        "image_shape".to_string(),
        format!("{}x{}", info.image_shape.0, info.image_shape.1),
    );
    let training: serde_json::Map<String, serde_json::Value> = info
        .training
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    metadata.insert(
        "training".to_string(),
        serde_json::Value::Object(training).to_string(),
    );
    if let Some(acc) = info.test_accuracy {
        metadata.insert("test_accuracy".to_string(), acc.to_string());
    }
    metadata.insert("format".to_string(), "pt".to_string());
    serialize(tensors, metadata).map_err(format)
}

/// [`safetensors::serialize`] with the header's entries in name order, so
/// that the same tensors and metadata are always the same bytes (the crate
/// writes the metadata in a `HashMap`'s order, which changes from run to
/// run).
pub(crate) fn serialize<'a, S: AsRef<str> + Ord + std::fmt::Display>(
    tensors: impl IntoIterator<Item = (S, TensorView<'a>)>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let mut bytes = safetensors::serialize(tensors, Some(metadata))?;
    // The header: its length as a u64, then JSON padded with spaces to it.
    let length = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = &bytes[8..8 + length];
    let parsed: serde_json::Value =
        serde_json::from_slice(header).expect("safetensors writes JSON");
    // serde_json's maps are ordered by key; the JSON is as long as before.
    let mut sorted = serde_json::to_vec(&parsed).expect("a JSON value serializes");
    assert!(sorted.len() <= length, "sorting keeps the header's length");
    sorted.resize(length, b' ');
    bytes[8..8 + length].copy_from_slice(&sorted);
    Ok(bytes)
}

/// The largest model file [`load`] reads: 256 MB (a Fashion-MNIST model is
/// 32 KB; this holds 256 classes of 250,000 features).
pub const MAX_MODEL_BYTES: u64 = 256_000_000;

/// The most classes a model may have: as many as a data set may have.
pub const MAX_CLASSES: usize = crate::data::MAX_CLASSES;

/// The longest class name a model may carry, in characters.
pub const MAX_CLASS_NAME_CHARS: usize = crate::data::MAX_CLASS_NAME_CHARS;

/// Reads a model file written by [`save`] (or any safetensors file with F32
/// `weight [classes, features]` and `bias [classes]`). Only a regular file of
/// at most [`MAX_MODEL_BYTES`] is read; every weight must be finite.
pub fn load(path: &Path) -> Result<(Model, ModelInfo), ModelFileError> {
    let bytes = crate::input::read_capped(path, MAX_MODEL_BYTES).map_err(|e| error(path, e))?;
    from_bytes(&bytes).map_err(|kind| error(path, kind))
}

/// Parses and checks the safetensors bytes of a model.
pub fn from_bytes(bytes: &[u8]) -> Result<(Model, ModelInfo), ModelFileErrorKind> {
    let format = |e: safetensors::SafeTensorError| ModelFileErrorKind::Format(e.to_string());
    let tensors = SafeTensors::deserialize(bytes).map_err(format)?;
    let weight = f32_tensor(&tensors, "weight")?;
    let bias = f32_tensor(&tensors, "bias")?;
    let classes = match *bias.0.as_slice() {
        [classes] if classes > 0 => classes,
        _ => {
            return Err(ModelFileErrorKind::WrongShape {
                name: "bias",
                found: bias.0,
                expected: "[classes] with at least one class".to_string(),
            });
        }
    };
    if classes > MAX_CLASSES {
        return Err(ModelFileErrorKind::TooManyClasses(classes));
    }
    let features = match *weight.0.as_slice() {
        [c, features] if c == classes && features > 0 => features,
        [features, c] if c == classes && features > 0 => {
            return Err(ModelFileErrorKind::WrongShape {
                name: "weight",
                found: weight.0,
                expected: format!(
                    "[classes, features] = [{classes}, {features}] as in PyTorch's nn.Linear \
                     (this one looks transposed)"
                ),
            });
        }
        _ => {
            return Err(ModelFileErrorKind::WrongShape {
                name: "weight",
                found: weight.0,
                expected: format!("[{classes}, features] to match bias [{classes}]"),
            });
        }
    };
    check_finite("weight", &weight.1, features)?;
    check_finite("bias", &bias.1, 1)?;
    check_logits_fit(&weight.1, &bias.1, features)?;
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(format)?;
    let info = crate::model_info::parse(metadata.metadata().as_ref(), classes, features)
        .map_err(ModelFileErrorKind::Metadata)?;
    let model = Model {
        features,
        classes,
        weights: weight.1,
        bias: bias.1,
    };
    Ok((model, info))
}

/// The shape and values of an F32 tensor.
fn f32_tensor(
    tensors: &SafeTensors<'_>,
    name: &'static str,
) -> Result<(Vec<usize>, Vec<f32>), ModelFileErrorKind> {
    let view = tensors
        .tensor(name)
        .map_err(|_| ModelFileErrorKind::MissingTensor(name))?;
    if view.dtype() != Dtype::F32 {
        return Err(ModelFileErrorKind::WrongDtype {
            name,
            found: format!("{:?}", view.dtype()),
        });
    }
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((view.shape().to_vec(), values))
}
