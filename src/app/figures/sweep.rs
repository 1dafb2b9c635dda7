//! A sweep as a PNG: on the left, validation accuracy per epoch of the best
//! configurations (mean over seeds); on the right, the best mean validation
//! accuracy of every learning rate × weight decay pair, as a heat map.

use super::canvas::{BLACK, Canvas, Colour, GLYPH, WHITE};
use super::curves::{MARGIN, PANEL, Series, panel};
use crate::app::report::number;
use crate::app::sweep_report::{Configuration, describe, ranked};
use crate::train::RunOutcome;

/// The colours of the best configurations' lines, best first.
pub const LINES: [Colour; 5] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
];

/// Rows of legend above the curves panel, and so room left for it.
const LEGEND_ROWS: u32 = LINES.len() as u32;

/// The sweep's figure: the curves of its best configurations and the
/// learning rate × weight decay map.
pub fn draw(swept: &RunOutcome) -> Canvas {
    let top = MARGIN.1 + LEGEND_ROWS * (GLYPH + 3);
    let width = 2 * (PANEL.0 + MARGIN.0) + 2 * MARGIN.0;
    let height = top + PANEL.1 + MARGIN.1 + GLYPH;
    let mut canvas = Canvas::new(width, height, WHITE);
    let configurations = ranked(swept);
    let best: Vec<&Configuration> = configurations
        .iter()
        .filter(|c| c.val_acc().is_some())
        .take(LINES.len())
        .collect();
    let names: Vec<String> = best.iter().map(|c| describe(&c.setting)).collect();
    let series: Vec<Series> = best
        .iter()
        .zip(&names)
        .zip(LINES)
        .map(|((c, name), colour)| Series {
            name,
            colour,
            values: mean_val_acc_per_epoch(c),
        })
        .collect();
    panel(&mut canvas, (MARGIN.0, top), "val acc, top 5", &series);
    heat_map(
        &mut canvas,
        (2 * MARGIN.0 + PANEL.0 + MARGIN.0, top),
        &configurations,
    );
    canvas
}

/// The mean validation accuracy per epoch over a configuration's seeds that
/// did not diverge.
fn mean_val_acc_per_epoch(c: &Configuration) -> Vec<f64> {
    let finished: Vec<_> = c.models.iter().filter(|m| m.diverged.is_none()).collect();
    let epochs = finished.iter().map(|m| m.epochs.len()).min().unwrap_or(0);
    (0..epochs)
        .map(|e| {
            let sum: f64 = finished
                .iter()
                .filter_map(|m| m.epochs[e].validation)
                .map(|v| v.accuracy)
                .sum();
            sum / finished.len() as f64
        })
        .collect()
}

/// One cell per (learning rate, weight decay): the best mean validation
/// accuracy of the configurations with them, shaded from white (the lowest
/// cell) to blue (the highest), `-` where every model diverged.
fn heat_map(canvas: &mut Canvas, (left, top): (u32, u32), configurations: &[Configuration]) {
    let mut lrs: Vec<f32> = configurations
        .iter()
        .map(|c| c.setting.learning_rate)
        .collect();
    let mut wds: Vec<f32> = configurations
        .iter()
        .map(|c| c.setting.optimizer.weight_decay())
        .collect();
    for values in [&mut lrs, &mut wds] {
        values.sort_by(f32::total_cmp);
        values.dedup();
    }
    let cell = |lr: f32, wd: f32| {
        configurations
            .iter()
            .filter(|c| c.setting.learning_rate == lr && c.setting.optimizer.weight_decay() == wd)
            .filter_map(|c| c.val_acc().map(|(mean, _)| mean))
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.max(v)))
            })
    };
    let values: Vec<Vec<Option<f64>>> = wds
        .iter()
        .map(|&wd| lrs.iter().map(|&lr| cell(lr, wd)).collect())
        .collect();
    let (lo, hi) = values
        .iter()
        .flatten()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (x0, y0) = (i64::from(left), i64::from(top));
    // Cells at least a pixel (the map may then run past its panel, clipped
    // by the canvas); a two-pixel gap and a label only where they fit.
    let (cw, ch) = (
        (PANEL.0 / lrs.len() as u32).max(1),
        (PANEL.1 / wds.len() as u32).max(1),
    );
    let fits = |label: &str| Canvas::text_width(label, 1) + 2 <= cw && GLYPH + 2 <= ch;
    for (row, wd_values) in values.iter().enumerate() {
        // The largest weight decay at the top.
        let y = y0 + (wds.len() - 1 - row) as i64 * i64::from(ch);
        for (col, value) in wd_values.iter().enumerate() {
            let x = x0 + col as i64 * i64::from(cw);
            let (colour, label) = match value {
                Some(v) => {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
                    (shade(t), format!("{v:.3}"))
                }
                None => ([230, 230, 230], "-".to_string()),
            };
            canvas.fill_rect(
                x,
                y,
                cw.saturating_sub(2).max(1),
                ch.saturating_sub(2).max(1),
                colour,
            );
            if !fits(&label) {
                continue;
            }
            let ink = if value.is_some_and(|v| hi > lo && (v - lo) / (hi - lo) > 0.6) {
                WHITE
            } else {
                BLACK
            };
            let tx = x + i64::from(cw / 2) - i64::from(Canvas::text_width(&label, 1) / 2);
            canvas.text(tx, y + i64::from(ch / 2) - 4, &label, ink, 1);
        }
        let label = number(wds[row]);
        let lx = x0 - 6 - i64::from(Canvas::text_width(&label, 1));
        canvas.text(lx, y + i64::from(ch / 2) - 4, &label, BLACK, 1);
    }
    let bottom = y0 + i64::from(ch) * wds.len() as i64;
    // Every learning rate's label when they fit side by side, else every
    // `step`-th.
    let widest = lrs
        .iter()
        .map(|&lr| Canvas::text_width(&number(lr), 1))
        .max();
    let step = (widest.unwrap_or(0) + 4).div_ceil(cw).max(1) as usize;
    for (col, lr) in lrs.iter().enumerate().step_by(step) {
        let label = number(*lr);
        let x = x0 + col as i64 * i64::from(cw) + i64::from(cw / 2);
        canvas.text(
            x - i64::from(Canvas::text_width(&label, 1) / 2),
            bottom + 6,
            &label,
            BLACK,
            1,
        );
    }
    let axis = "learning rate (rows: weight decay)";
    let ax = x0 + i64::from(PANEL.0 / 2) - i64::from(Canvas::text_width(axis, 1) / 2);
    canvas.text(ax, bottom + 10 + i64::from(GLYPH), axis, BLACK, 1);
    let title = "val acc by lr, wd";
    let tx = x0 + i64::from(PANEL.0 / 2) - i64::from(Canvas::text_width(title, 2) / 2);
    canvas.text(tx, y0 - 2 * i64::from(GLYPH) - 8, title, BLACK, 2);
}

/// The heat map's colour of a cell `t` of the way from the lowest cell (0) to
/// the highest (1): white to a strong blue.
pub fn shade(t: f64) -> Colour {
    let t = t.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
    [mix(240.0, 8.0), mix(244.0, 69.0), mix(250.0, 148.0)]
}
