//! Classifying the user's own pictures: any PNG or JPEG, made to look like a
//! Fashion-MNIST image (grey, the model's size, light item on a dark ground).

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};

use crate::data::{Images, pixel_to_f32};
use crate::eval::probabilities;
use crate::model::Model;

/// A picture converted to the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Row-major pixels in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Whether the picture was inverted (its border was light).
    pub inverted: bool,
}

/// The largest picture file read: 50 MB.
pub const MAX_PICTURE_BYTES: u64 = 50_000_000;

/// The longest side of a picture, in pixels.
pub const MAX_PICTURE_SIDE: u32 = 10_000;

/// The most memory decoding one picture may take: 256 MB.
pub const MAX_PICTURE_MEMORY: u64 = 256_000_000;

/// Reads `path`, converts it to grey, resizes it to `(height, width)` and inverts
/// it when its border is light on average, as Fashion-MNIST items are light on
/// black. Pictures beyond [`MAX_PICTURE_BYTES`], [`MAX_PICTURE_SIDE`] or
/// [`MAX_PICTURE_MEMORY`] are refused before they are decoded.
pub fn prepare(path: &Path, shape: (usize, usize)) -> Result<Prepared, String> {
    let fail = |what: String| format!("{}: {what}", path.display());
    let bytes = crate::input::read_capped(path, MAX_PICTURE_BYTES)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_PICTURE_MEMORY);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => fail(format!(
            "too large to classify: pictures may be at most {MAX_PICTURE_SIDE} pixels on a side \
             and take at most {} decoded ({e})",
            crate::input::human_bytes(MAX_PICTURE_MEMORY)
        )),
        e => fail(format!("cannot read as PNG or JPEG: {e}")),
    })?;
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
    // Scaled exactly as training pixels are.
    let pixels = small
        .pixels()
        .map(|p| pixel_to_f32(if inverted { 255 - p.0[0] } else { p.0[0] }))
        .collect();
    Ok(Prepared { pixels, inverted })
}

/// Every class's probability for one input, most probable first, from the
/// fused kernel (as `eval` scores the test set).
pub fn ranked_probabilities(model: &Model, pixels: &[f32]) -> Vec<(usize, f64)> {
    let image = Images::from_f32(1, pixels.len(), pixels);
    let probabilities = probabilities(model, &image, 0..1).swap_remove(0);
    let mut ranked: Vec<(usize, f64)> = probabilities.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}
