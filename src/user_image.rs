//! Classifying the user's own pictures: any PNG or JPEG, made to look like a
//! Fashion-MNIST image (grey, the model's size, light item on a dark ground).

use std::path::Path;

use image::imageops::{self, FilterType};

use crate::model::Model;
use crate::reference;

/// A picture converted to the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Row-major pixels in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Whether the picture was inverted (its border was light).
    pub inverted: bool,
}

/// Reads `path`, converts it to grey, resizes it to `(height, width)` and inverts
/// it when its border is light on average, as Fashion-MNIST items are light on
/// black.
pub fn prepare(path: &Path, shape: (usize, usize)) -> Result<Prepared, String> {
    let picture = image::open(path)
        .map_err(|e| format!("{}: cannot read as PNG or JPEG: {e}", path.display()))?;
    let (height, width) = shape;
    let grey = picture.to_luma8();
    let small = imageops::resize(&grey, width as u32, height as u32, FilterType::Triangle);
    let mut border = Vec::new();
    for (x, y, p) in small.enumerate_pixels() {
        if x == 0 || y == 0 || x + 1 == width as u32 || y + 1 == height as u32 {
            border.push(f32::from(p.0[0]));
        }
    }
    let inverted = border.iter().sum::<f32>() / border.len().max(1) as f32 > 127.5;
    let pixels = small
        .pixels()
        .map(|p| {
            let v = f32::from(p.0[0]) / 255.0;
            if inverted { 1.0 - v } else { v }
        })
        .collect();
    Ok(Prepared { pixels, inverted })
}

/// Every class's probability for one input, most probable first.
pub fn ranked_probabilities(model: &Model, pixels: &[f32]) -> Vec<(usize, f64)> {
    let log_p = reference::log_softmax(&reference::logits(model, pixels));
    let mut ranked: Vec<(usize, f64)> = log_p.iter().map(|l| l.exp()).enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}
