//! Classifying the user's own pictures: any PNG or JPEG, made to look like a
//! Fashion-MNIST image (grey, the model's size, light item on a dark ground).

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};

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

/// Reads `path`, lays any transparency onto a ground that contrasts with the
/// opaque pixels (white under a dark item, black under a light one),
/// converts it to grey, scales it to fit `(height, width)` keeping its aspect
/// ratio (the rest padded with the picture's own border grey), and inverts it
/// when its border is light on average, as Fashion-MNIST items are light on
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
    let grey = onto_ground(&picture.to_luma_alpha8());
    let small = fitted(&grey, (width as u32, height as u32));
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

/// `picture` with its transparency laid onto white if its opaque pixels are
/// dark on average, else onto black, so that the item keeps its contrast.
fn onto_ground(picture: &image::GrayAlphaImage) -> GrayImage {
    let (mut weight, mut sum) = (0.0f64, 0.0f64);
    for p in picture.pixels() {
        let alpha = f64::from(p.0[1]) / 255.0;
        weight += alpha;
        sum += alpha * f64::from(p.0[0]);
    }
    let ground = if weight > 0.0 && sum / weight < 127.5 {
        255.0
    } else {
        0.0
    };
    GrayImage::from_fn(picture.width(), picture.height(), |x, y| {
        let [grey, alpha] = picture.get_pixel(x, y).0;
        let alpha = f64::from(alpha) / 255.0;
        Luma([(alpha * f64::from(grey) + (1.0 - alpha) * ground).round() as u8])
    })
}

/// `picture` scaled to fit `(width, height)` with its aspect ratio kept,
/// centred, the margins filled with the mean grey of its border.
fn fitted(picture: &GrayImage, (width, height): (u32, u32)) -> GrayImage {
    let (w, h) = picture.dimensions();
    let scale = (f64::from(width) / f64::from(w)).min(f64::from(height) / f64::from(h));
    let new_w = ((f64::from(w) * scale).round() as u32).clamp(1, width);
    let new_h = ((f64::from(h) * scale).round() as u32).clamp(1, height);
    let small = imageops::resize(picture, new_w, new_h, FilterType::Triangle);
    let border: Vec<f64> = picture
        .enumerate_pixels()
        .filter(|&(x, y, _)| x == 0 || y == 0 || x + 1 == w || y + 1 == h)
        .map(|(_, _, p)| f64::from(p.0[0]))
        .collect();
    let fill = (border.iter().sum::<f64>() / border.len().max(1) as f64).round() as u8;
    let mut canvas = GrayImage::from_pixel(width, height, Luma([fill]));
    let (left, top) = ((width - new_w) / 2, (height - new_h) / 2);
    imageops::replace(&mut canvas, &small, i64::from(left), i64::from(top));
    canvas
}

/// Every class's probability for one input, most probable first, from the
/// fused kernel (as `eval` scores the test set).
pub fn ranked_probabilities(model: &Model, pixels: &[f32]) -> Vec<(usize, f64)> {
    let image = Images::from_f32(1, pixels.len(), pixels);
    ranked(probabilities(model, &image, 0..1).swap_remove(0))
}

/// Classes with their probabilities, most probable first (ties by class).
pub fn ranked(probabilities: Vec<f64>) -> Vec<(usize, f64)> {
    let mut ranked: Vec<(usize, f64)> = probabilities.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod tests {
    use image::{GrayAlphaImage, GrayImage, LumaA};

    use super::prepare;

    /// A wide picture keeps its aspect ratio: scaled to the model's width,
    /// padded above and below with its own ground, which ends dark.
    #[test]
    fn a_wide_picture_is_padded_not_stretched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.png");
        // A dark bar across the middle of a white picture twice as wide as tall.
        GrayImage::from_fn(56, 28, |_, y| {
            image::Luma([if (12..16).contains(&y) { 0 } else { 255 }])
        })
        .save(&path)
        .unwrap();
        let prepared = prepare(&path, (28, 28)).unwrap();
        assert!(prepared.inverted, "a white ground is inverted");
        let row = |y: usize| &prepared.pixels[y * 28..(y + 1) * 28];
        // The padding is the border's mean grey (the bar touches the border),
        // nearly black once inverted, and the same everywhere.
        assert!(
            row(0).iter().all(|&p| p < 0.1 && p == row(0)[0]),
            "{:?}",
            row(0)
        );
        assert_eq!(row(27), row(0));
        assert!(
            row(13).iter().all(|&p| p > 0.5),
            "the bar, light once inverted: {:?}",
            row(13)
        );
    }

    /// A dark item on a transparent ground is laid onto white, so it ends
    /// light on black like a Fashion-MNIST item; a light one onto black.
    #[test]
    fn transparency_is_laid_onto_a_contrasting_ground() {
        let dir = tempfile::tempdir().unwrap();
        for (item, inverted) in [(0u8, true), (255u8, false)] {
            let path = dir.path().join(format!("item{item}.png"));
            GrayAlphaImage::from_fn(28, 28, |x, y| {
                let inside = (8..20).contains(&x) && (8..20).contains(&y);
                LumaA([
                    if inside { item } else { 128 },
                    if inside { 255 } else { 0 },
                ])
            })
            .save(&path)
            .unwrap();
            let prepared = prepare(&path, (28, 28)).unwrap();
            assert_eq!(prepared.inverted, inverted, "item {item}");
            assert_eq!(
                prepared.pixels[0], 0.0,
                "item {item}: the ground ends black"
            );
            assert!(
                prepared.pixels[14 * 28 + 14] > 0.9,
                "item {item}: the item ends light"
            );
        }
    }
}
