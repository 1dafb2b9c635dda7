//! What every `--json` record shares: typed values (numbers as JSON
//! numbers, rates as the decimal given) and the header record a run starts
//! with. Each record has a `type`: `header`, `epoch`, `iteration`, `model`,
//! `summary`, `metrics`, `prediction`, `info`, `bench` or `tune`.

use std::path::Path;

use crate::data::Dataset;

/// An f32 setting as the decimal it was written as (`0.1`, not
/// `0.10000000149011612`).
pub fn decimal(value: f32) -> serde_json::Value {
    value
        .to_string()
        .parse::<f64>()
        .map_or(serde_json::Value::Null, Into::into)
}

/// A setting's text as typed JSON: a whole number, a number, a boolean, or
/// the text itself.
pub fn typed(text: &str) -> serde_json::Value {
    if let Ok(n) = text.parse::<u64>() {
        return n.into();
    }
    match text {
        "true" => true.into(),
        "false" => false.into(),
        _ => match text.parse::<f64>() {
            Ok(x) if x.is_finite() => x.into(),
            _ => text.into(),
        },
    }
}

/// Settings (`key=value` pairs) as a JSON object of typed values.
pub fn settings(settings: &[(&str, String)]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), typed(v)))
        .collect();
    map.into()
}

/// The first JSON record of a run: `type` "header", the data directory, the
/// rows trained on, held out and tested, the sample shape, the classes and
/// the `run`'s settings.
pub fn header(
    dir: &Path,
    data: &Dataset,
    trained_on: usize,
    run: &[(&str, String)],
) -> serde_json::Value {
    let (height, width) = data.train.images.shape();
    serde_json::json!({
        "type": "header",
        "data": dir.display().to_string(),
        "train": trained_on,
        "validation": data.train.len() - trained_on,
        "test": data.test.as_ref().map(|t| t.len()),
        "shape": [height, width],
        "classes": data.classes,
        "settings": settings(run),
    })
}
