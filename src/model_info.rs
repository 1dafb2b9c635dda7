//! What a model file says about its model besides the weights: class names,
//! image shape, training settings and test accuracy ([`ModelInfo`]), and
//! reading them back from a file's metadata.

use std::collections::HashMap;

use crate::data::MAX_CLASS_NAME_CHARS;

/// What a model file says about its model besides the weights.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInfo {
    /// One name per class, by label.
    pub class_names: Vec<String>,
    /// `(height, width)` of the images the model takes.
    pub image_shape: (usize, usize),
    /// The training settings, as `key=value` pairs.
    pub training: Vec<(String, String)>,
    /// The test accuracy measured after training, if known.
    pub test_accuracy: Option<f64>,
}

impl ModelInfo {
    /// Fashion-MNIST's class names for images of `image_shape`.
    pub fn fashion_mnist(image_shape: (usize, usize)) -> Self {
        Self {
            class_names: crate::data::fashion_mnist::CLASS_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            image_shape,
            ..Self::default()
        }
    }

    /// The value of training setting `key`, if the file records it.
    pub fn training_setting(&self, key: &str) -> Option<&str> {
        self.training
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The [`ModelInfo`] in a file's metadata; absent entries get neutral defaults
/// (class names "0", "1", ...; a square image shape when the feature count is
/// a square), malformed ones are errors.
pub(crate) fn parse(
    metadata: Option<&HashMap<String, String>>,
    classes: usize,
    features: usize,
) -> Result<ModelInfo, String> {
    let empty = HashMap::new();
    let metadata = metadata.unwrap_or(&empty);
    let bad = |what: &str| what.to_string();
    let class_names = match metadata.get("class_names") {
        Some(json) => {
            let names: Vec<String> = serde_json::from_str(json)
                .map_err(|e| bad(&format!("class_names is not a JSON list of strings: {e}")))?;
            if names.len() != classes {
                return Err(bad(&format!(
                    "class_names has {} names for {classes} classes",
                    names.len()
                )));
            }
            if let Some((c, name)) = names
                .iter()
                .enumerate()
                .find(|(_, n)| n.chars().count() > MAX_CLASS_NAME_CHARS)
            {
                return Err(bad(&format!(
                    "class_names[{c}] is {} characters long; at most {MAX_CLASS_NAME_CHARS} are allowed",
                    name.chars().count()
                )));
            }
            names
        }
        None => (0..classes).map(|c| c.to_string()).collect(),
    };
    let image_shape = match metadata.get("image_shape") {
        Some(text) => {
            let parsed = text
                .split_once('x')
                .and_then(|(h, w)| Some((h.parse::<usize>().ok()?, w.parse::<usize>().ok()?)));
            match parsed {
                Some((h, w)) if h.checked_mul(w) == Some(features) => (h, w),
                _ => {
                    return Err(bad(&format!(
                        "image_shape {text:?} is not HEIGHTxWIDTH with HEIGHT*WIDTH = {features}"
                    )));
                }
            }
        }
        None => {
            let side = (features as f64).sqrt().round() as usize;
            if side * side == features {
                (side, side)
            } else {
                (1, features)
            }
        }
    };
    let training = match metadata.get("training") {
        Some(json) => {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
                .map_err(|e| bad(&format!("training is not a JSON object: {e}")))?;
            map.into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect()
        }
        None => Vec::new(),
    };
    let test_accuracy = match metadata.get("test_accuracy") {
        Some(text) => Some(
            text.parse()
                .map_err(|_| bad(&format!("test_accuracy {text:?} is not a number")))?,
        ),
        None => None,
    };
    Ok(ModelInfo {
        class_names,
        image_shape,
        training,
        test_accuracy,
    })
}
