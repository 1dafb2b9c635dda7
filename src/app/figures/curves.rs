//! Training curves as a PNG: loss on the left, train, test (and validation)
//! accuracy on the right, per epoch, with axes, ticks and a legend.

use crate::app::figures::canvas::{BLACK, Canvas, Colour, GLYPH, GREY, WHITE};
use crate::train::EpochReport;

/// Train loss colour.
pub const LOSS: Colour = [31, 119, 180];
/// Train accuracy colour.
pub const TRAIN_ACC: Colour = [255, 127, 14];
/// Test accuracy colour.
pub const TEST_ACC: Colour = [44, 160, 44];
/// Validation accuracy colour.
pub const VAL_ACC: Colour = [148, 103, 189];

/// A panel's size in pixels, without its margins.
pub const PANEL: (u32, u32) = (420, 320);
/// Space around a panel for ticks, labels and the title.
pub const MARGIN: (u32, u32) = (56, 40);

/// One line of a panel.
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// Its colour.
    pub colour: Colour,
    /// One value per epoch.
    pub values: Vec<f64>,
}

/// The curves of `epochs`: a loss panel and an accuracy panel side by side.
pub fn draw(epochs: &[EpochReport]) -> Canvas {
    let width = 2 * (PANEL.0 + MARGIN.0) + MARGIN.0;
    let height = PANEL.1 + 2 * MARGIN.1 + GLYPH;
    let mut canvas = Canvas::new(width, height, WHITE);
    let loss = Series {
        name: "train loss",
        colour: LOSS,
        values: epochs.iter().map(|e| e.loss).collect(),
    };
    let train_acc = Series {
        name: "train acc",
        colour: TRAIN_ACC,
        values: epochs.iter().map(|e| e.train_acc).collect(),
    };
    let mut accuracies = vec![train_acc];
    // Test and validation curves, each only when every epoch was scored.
    let scored = [
        (
            "test acc",
            TEST_ACC,
            epochs.iter().map(|e| e.test).collect::<Option<Vec<_>>>(),
        ),
        (
            "val acc",
            VAL_ACC,
            epochs.iter().map(|e| e.validation).collect(),
        ),
    ];
    for (name, colour, scores) in scored {
        if let Some(scores) = scores.filter(|s| !s.is_empty()) {
            let values = scores.iter().map(|s| s.accuracy).collect();
            accuracies.push(Series {
                name,
                colour,
                values,
            });
        }
    }
    panel(&mut canvas, (MARGIN.0, MARGIN.1), "loss", &[loss]);
    let right = 2 * MARGIN.0 + PANEL.0;
    panel(&mut canvas, (right, MARGIN.1), "accuracy", &accuracies);
    canvas
}

/// A y range covering `values`, from and to multiples of a round tick step
/// (1, 2 or 5 times a power of ten, about five ticks): `(low, high, step)`.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0, 0.2);
    }
    // At least a span of 0.001: equal values (a sweep's models that all
    // reach the same accuracy) get ticks of four decimals, whose labels fit
    // the margin, not seven.
    let rough = (hi - lo).max(1e-3) / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * power);
    let low = (lo / step).floor() * step;
    let high = ((hi / step).ceil() * step).max(low + step);
    (low, high, step)
}

/// A [`PANEL`]-sized plot of `series` per epoch with its top left corner at
/// `(left, top)`: grid, ticks, axis label, `title` above, and a legend above
/// on the right (one row per series: leave room for it in `top`).
pub fn panel(canvas: &mut Canvas, (left, top): (u32, u32), title: &str, series: &[Series<'_>]) {
    let (x0, y0) = (i64::from(left), i64::from(top));
    let (w, h) = (i64::from(PANEL.0), i64::from(PANEL.1));
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let (lo, hi, step) = y_range(series.iter().flat_map(|s| s.values.iter().copied()));
    let x_at = |i: usize| {
        x0 + if n > 1 {
            i as i64 * w / (n as i64 - 1)
        } else {
            w / 2
        }
    };
    let y_at = |v: f64| y0 + h - ((v - lo) / (hi - lo) * h as f64).round() as i64;

    // Grid, ticks and tick labels.
    let ticks = ((hi - lo) / step).round() as u32;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    for t in 0..=ticks {
        let v = lo + step * f64::from(t);
        let y = y_at(v);
        canvas.line((x0, y), (x0 + w, y), GREY, 1);
        let label = format!("{v:.decimals$}");
        let lx = x0 - 6 - i64::from(Canvas::text_width(&label, 1));
        canvas.text(lx, y - i64::from(GLYPH / 2), &label, BLACK, 1);
    }
    let every = n.div_ceil(10).max(1);
    for i in (0..n).step_by(every) {
        let x = x_at(i);
        canvas.line((x, y0 + h), (x, y0 + h + 4), BLACK, 1);
        let label = (i + 1).to_string();
        let lx = x - i64::from(Canvas::text_width(&label, 1) / 2);
        canvas.text(lx, y0 + h + 8, &label, BLACK, 1);
    }
    canvas.line((x0, y0), (x0, y0 + h), BLACK, 1);
    canvas.line((x0, y0 + h), (x0 + w, y0 + h), BLACK, 1);
    let axis = "epoch";
    let ax = x0 + w / 2 - i64::from(Canvas::text_width(axis, 1) / 2);
    canvas.text(ax, y0 + h + 8 + i64::from(GLYPH) + 4, axis, BLACK, 1);
    // Beside a legend of up to three rows; above a longer one.
    let above_legend = if series.len() > 3 {
        series.len() as i64 * i64::from(GLYPH + 3)
    } else {
        0
    };
    let tx = x0 + w / 2 - i64::from(Canvas::text_width(title, 2) / 2);
    let ty = y0 - 2 * i64::from(GLYPH) - 8 - above_legend;
    canvas.text(tx, ty, title, BLACK, 2);

    // The lines, with a dot at every epoch.
    for s in series {
        let points: Vec<(i64, i64)> = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| (x_at(i), y_at(v)))
            .collect();
        for pair in points.windows(2) {
            canvas.line(pair[0], pair[1], s.colour, 2);
        }
        for &(x, y) in &points {
            canvas.fill_rect(x - 3, y - 3, 7, 7, s.colour);
        }
    }

    // Legend, above the panel on the right, clear of the lines.
    let longest = series
        .iter()
        .map(|s| Canvas::text_width(s.name, 1))
        .max()
        .unwrap_or(0);
    let lx = x0 + w - i64::from(longest) - 28;
    for (k, s) in series.iter().enumerate() {
        let ly = y0 - (series.len() - k) as i64 * i64::from(GLYPH + 3) - 2;
        canvas.fill_rect(lx, ly, 14, GLYPH, s.colour);
        canvas.text(lx + 20, ly, s.name, BLACK, 1);
    }
}
