//! Pictures without system fonts: an RGB canvas with lines, rectangles, grey
//! images and text in an embedded 8x8 bitmap font (font8x8), saved as PNG or
//! JPEG.
//!
//! ```
//! use softreg::app::figures::canvas::{Canvas, BLACK, WHITE};
//! let mut canvas = Canvas::new(64, 16, WHITE);
//! canvas.text(0, 4, "Bag", BLACK, 1);
//! assert_eq!(canvas.image().width(), 64);
//! ```

use std::io::Cursor;
use std::path::Path;

use font8x8::{BASIC_FONTS, UnicodeFonts};
use image::{ImageFormat, Rgb, RgbImage};

use crate::output::write_atomically;

/// An RGB colour.
pub type Colour = [u8; 3];
/// White.
pub const WHITE: Colour = [255, 255, 255];
/// Black.
pub const BLACK: Colour = [0, 0, 0];
/// Light grey, for grid lines.
pub const GREY: Colour = [200, 200, 200];

/// Pixels per character cell of the font at scale 1.
pub const GLYPH: u32 = 8;

/// A picture being drawn.
pub struct Canvas {
    image: RgbImage,
}

impl Canvas {
    /// A `width x height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Colour) -> Self {
        Self {
            image: RgbImage::from_pixel(width, height, Rgb(background)),
        }
    }

    /// The picture so far.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// Sets one pixel; points outside the canvas are ignored.
    pub fn put(&mut self, x: i64, y: i64, colour: Colour) {
        if x >= 0 && y >= 0 && (x as u32) < self.image.width() && (y as u32) < self.image.height() {
            self.image.put_pixel(x as u32, y as u32, Rgb(colour));
        }
    }

    /// Fills the rectangle with top-left `(x, y)`, clipped to the canvas.
    /// Only the pixels on the canvas are visited, so a rectangle of any size
    /// costs at most the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, width: u32, height: u32, colour: Colour) {
        let (w, h) = (
            i64::from(self.image.width()),
            i64::from(self.image.height()),
        );
        for py in y.max(0)..y.saturating_add(i64::from(height)).min(h) {
            for px in x.max(0)..x.saturating_add(i64::from(width)).min(w) {
                self.image.put_pixel(px as u32, py as u32, Rgb(colour));
            }
        }
    }

    /// A straight line from `(x0, y0)` to `(x1, y1)` (Bresenham), `thickness`
    /// pixels wide.
    pub fn line(&mut self, from: (i64, i64), to: (i64, i64), colour: Colour, thickness: u32) {
        let (mut x, mut y) = from;
        let (dx, dy) = ((to.0 - x).abs(), -(to.1 - y).abs());
        let (sx, sy) = (if x < to.0 { 1 } else { -1 }, if y < to.1 { 1 } else { -1 });
        let mut err = dx + dy;
        let half = i64::from(thickness) / 2;
        loop {
            self.fill_rect(x - half, y - half, thickness, thickness, colour);
            if (x, y) == to {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// `text` with its top-left corner at `(x, y)`, each font pixel drawn as a
    /// `scale x scale` square. Characters outside ASCII are drawn as `?`.
    pub fn text(&mut self, x: i64, y: i64, text: &str, colour: Colour, scale: u32) {
        let step = i64::from(GLYPH * scale);
        for (i, ch) in text.chars().enumerate() {
            let glyph = BASIC_FONTS
                .get(ch)
                .or_else(|| BASIC_FONTS.get('?'))
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let px = x + i as i64 * step + col * i64::from(scale);
                        let py = y + row as i64 * i64::from(scale);
                        self.fill_rect(px, py, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: u32) -> u32 {
        text.chars().count() as u32 * GLYPH * scale
    }

    /// A grey image (values in `[0, 1]`, row-major `height x width`) with its
    /// top-left at `(x, y)`, each pixel a `scale x scale` square.
    pub fn grey(&mut self, x: i64, y: i64, pixels: &[f32], shape: (usize, usize), scale: u32) {
        let (height, width) = shape;
        for r in 0..height {
            for c in 0..width {
                let v = (pixels[r * width + c].clamp(0.0, 1.0) * 255.0).round() as u8;
                let px = x + (c as u32 * scale) as i64;
                let py = y + (r as u32 * scale) as i64;
                self.fill_rect(px, py, scale, scale, [v, v, v]);
            }
        }
    }

    /// Encodes the canvas in the format its name asks for ([`picture_format`])
    /// and writes it atomically to `path`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let format = picture_format(path).map_err(std::io::Error::other)?;
        let mut bytes = Cursor::new(Vec::new());
        self.image
            .write_to(&mut bytes, format)
            .map_err(std::io::Error::other)?;
        write_atomically(path, bytes.get_ref())
    }
}

/// The picture format a file name asks for: PNG for `.png`, JPEG for `.jpg`
/// or `.jpeg` (any case); any other name is refused rather than given bytes
/// its extension does not promise.
///
/// ```
/// use image::ImageFormat;
/// use softreg::app::figures::canvas::picture_format;
/// assert_eq!(picture_format("a.PNG".as_ref()), Ok(ImageFormat::Png));
/// assert_eq!(picture_format("a.jpeg".as_ref()), Ok(ImageFormat::Jpeg));
/// assert!(picture_format("a.gif".as_ref()).is_err());
/// ```
pub fn picture_format(path: &Path) -> Result<ImageFormat, String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "png" => Ok(ImageFormat::Png),
        "jpg" | "jpeg" => Ok(ImageFormat::Jpeg),
        _ => Err(format!(
            "{}: pictures are written as PNG (.png) or JPEG (.jpg, .jpeg); name the file with one of these",
            path.display()
        )),
    }
}
