//! The tutorial's figure: test images titled with their true and predicted
//! labels, as a PNG grid or in the terminal with Unicode half blocks.

use std::fmt::Write as _;

use crate::app::figures::canvas::{BLACK, Canvas, Colour, GLYPH, WHITE};
use crate::data::Split;
use crate::kernel::{self, Isa, Weights};
use crate::model::Model;

/// The colour of a correct prediction's label.
pub const CORRECT: Colour = [0, 140, 0];
/// The colour of a wrong prediction's label.
pub const WRONG: Colour = [210, 0, 0];

/// Gap around each cell of the grid, in pixels.
const PAD: u32 = 8;
/// Height of one line of label text.
const LINE: u32 = GLYPH + 4;

/// The predicted class of each of the first `count` images of `split`.
pub fn predict_first(model: &Model, split: &Split, count: usize) -> Vec<usize> {
    let count = count.min(split.len());
    let mut predicted = vec![0; count];
    kernel::loss_correct_and_predictions(
        &Weights::new(Isa::best(), model),
        &split.images,
        &split.labels,
        0..count,
        &mut predicted,
    );
    predicted
}

/// Where the cells of the grid are.
#[derive(Debug, Clone, Copy)]
pub struct GridLayout {
    /// Cells per row.
    pub columns: usize,
    /// Screen pixels per image pixel.
    pub scale: u32,
    /// Width and height of one cell, padding included.
    pub cell: (u32, u32),
    /// Image `(height, width)` in image pixels.
    pub shape: (usize, usize),
}

impl GridLayout {
    /// A near-square grid for `count` images of `shape`, labels up to
    /// `label_chars` characters long.
    pub fn new(count: usize, shape: (usize, usize), label_chars: usize) -> Self {
        let columns = (1..=count.max(1)).find(|c| c * c >= count).unwrap_or(1);
        let scale = (112 / shape.0.max(shape.1) as u32).max(1);
        let width = (shape.1 as u32 * scale).max(label_chars as u32 * GLYPH) + 2 * PAD;
        let height = shape.0 as u32 * scale + 2 * LINE + 2 * PAD;
        Self {
            columns,
            scale,
            cell: (width, height),
            shape,
        }
    }

    /// The top-left corner of cell `k`.
    pub fn origin(&self, k: usize) -> (u32, u32) {
        let (col, row) = ((k % self.columns) as u32, (k / self.columns) as u32);
        (col * self.cell.0, row * self.cell.1)
    }

    /// The rectangle `(x, y, width, height)` of cell `k`'s second label line, the
    /// predicted class drawn in [`CORRECT`] or [`WRONG`].
    pub fn predicted_label(&self, k: usize) -> (u32, u32, u32, u32) {
        let (x, y) = self.origin(k);
        let top = y + PAD + self.shape.0 as u32 * self.scale + LINE;
        (x + PAD, top, self.cell.0 - 2 * PAD, LINE)
    }
}

/// The figure for the first `predicted.len()` images of `split`: each image
/// with its true class beneath in black and its predicted class in green when
/// right, red when wrong.
pub fn figure(split: &Split, predicted: &[usize], class_names: &[String]) -> (Canvas, GridLayout) {
    let longest = class_names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1);
    let layout = GridLayout::new(predicted.len(), split.images.shape(), longest);
    let rows = predicted.len().div_ceil(layout.columns).max(1) as u32;
    let mut canvas = Canvas::new(
        layout.columns as u32 * layout.cell.0,
        rows * layout.cell.1,
        WHITE,
    );
    for (k, &guess) in predicted.iter().enumerate() {
        let (x, y) = layout.origin(k);
        let truth = split.labels[k] as usize;
        let (x, y) = (i64::from(x + PAD), i64::from(y + PAD));
        canvas.grey(x, y, &split.images.row_f32(k), layout.shape, layout.scale);
        let text_y = y + (layout.shape.0 as u32 * layout.scale) as i64 + 2;
        canvas.text(x, text_y, &class_names[truth], BLACK, 1);
        let colour = if guess == truth { CORRECT } else { WRONG };
        canvas.text(x, text_y + i64::from(LINE), &class_names[guess], colour, 1);
    }
    (canvas, layout)
}

/// Grey levels from dark to light, for a terminal without colour.
const RAMP: &[u8] = b" .:-=+*#%@";

/// The same figure for a terminal, labels beneath each image. With `colour`,
/// each image in Unicode half blocks (two pixels per character, 24-bit
/// colour) and the predicted label green when right, red when wrong; without,
/// each pixel pair as a character of a grey ramp and a wrong prediction marked
/// `x` (for a pipe, a file or `NO_COLOR`).
pub fn terminal(
    split: &Split,
    predicted: &[usize],
    class_names: &[String],
    colour: bool,
) -> String {
    let (height, width) = split.images.shape();
    let columns = GridLayout::new(predicted.len(), (height, width), 1).columns;
    let cell = width.max(12) + 2;
    let mut out = String::new();
    let indices: Vec<usize> = (0..predicted.len()).collect();
    for row in indices.chunks(columns) {
        let images: Vec<_> = row.iter().map(|&k| split.images.row_f32(k)).collect();
        for line in 0..height.div_ceil(2) {
            for image in &images {
                for c in 0..width {
                    let level = |r: usize| {
                        let v = if r < height {
                            image[r * width + c]
                        } else {
                            0.0
                        };
                        (v.clamp(0.0, 1.0) * 255.0).round() as u8
                    };
                    let (top, bottom) = (level(2 * line), level(2 * line + 1));
                    if colour {
                        let _ = write!(
                            out,
                            "\x1b[38;2;{top};{top};{top}m\x1b[48;2;{bottom};{bottom};{bottom}m\u{2580}"
                        );
                    } else {
                        let mean = (usize::from(top) + usize::from(bottom)) / 2;
                        out.push(char::from(RAMP[mean * RAMP.len() / 256]));
                    }
                }
                if colour {
                    out.push_str("\x1b[0m");
                }
                let _ = write!(out, "{:1$}", "", cell - width);
            }
            out.push('\n');
        }
        for &k in row {
            let name = crate::app::report::printable(&class_names[split.labels[k] as usize]);
            let _ = write!(out, "{name:<cell$}");
        }
        out.push('\n');
        for &k in row {
            let right = predicted[k] == (split.labels[k] as usize);
            let name = crate::app::report::printable(&class_names[predicted[k]]);
            if colour {
                let [r, g, b] = if right { CORRECT } else { WRONG };
                let _ = write!(out, "\x1b[38;2;{r};{g};{b}m{name:<cell$}\x1b[0m");
            } else {
                let name = if right { name } else { format!("x {name}") };
                let _ = write!(out, "{name:<cell$}");
            }
        }
        out.push_str("\n\n");
    }
    out
}
