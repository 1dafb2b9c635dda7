//! The naive reference: the plainest scalar code, accumulated in f64.
//!
//! It is the oracle every faster path is tested against, so it stays obviously
//! right rather than fast: one sample at a time, one class at a time.
//!
//! For a sample `x` with label `y`, logits `z = W x + b`, probabilities
//! `p = softmax(z)`, loss `-log p[y]`; the gradient of the loss is
//! `dW[c][f] = (p[c] - [c == y]) x[f]` and `db[c] = p[c] - [c == y]`.
//!
//! ```
//! use softreg::reference;
//! let lsm = reference::log_softmax(&[1e4, -1e4, 0.0]);
//! assert!(lsm.iter().all(|v| v.is_finite()));
//! ```

use crate::data::Images;
use crate::data::Label;
use crate::model::Model;

/// `W x + b` for one sample.
pub fn logits(model: &Model, x: &[f32]) -> Vec<f64> {
    (0..model.classes)
        .map(|c| {
            let dot: f64 = model
                .class_weights(c)
                .iter()
                .zip(x)
                .map(|(&w, &x)| f64::from(w) * f64::from(x))
                .sum();
            dot + f64::from(model.bias[c])
        })
        .collect()
}

/// Numerically stable log-softmax: `z - max(z) - log(sum(exp(z - max(z))))`.
pub fn log_softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|&z| (z - max).exp()).sum();
    let log_sum = sum.ln();
    logits.iter().map(|&z| z - max - log_sum).collect()
}

/// The index of the largest value; the first one on ties.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Loss and accuracy over a set of samples, with the gradient of the mean loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Mean cross-entropy loss over the samples.
    pub loss: f64,
    /// How many samples the model classifies correctly (argmax of the logits).
    pub correct: usize,
    /// Gradient of the mean loss with respect to the weights, `classes x features`.
    pub grad_weights: Vec<f64>,
    /// Gradient of the mean loss with respect to the bias.
    pub grad_bias: Vec<f64>,
}

/// The summed loss, correct count and gradient over some samples, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Sums {
    /// Summed cross-entropy loss.
    pub loss_sum: f64,
    /// How many samples the model classifies correctly.
    pub correct: usize,
    /// Summed gradient of the loss with respect to the weights, `classes x
    /// features`.
    pub grad_weights: Vec<f64>,
    /// Summed gradient of the loss with respect to the bias.
    pub grad_bias: Vec<f64>,
}

/// Forward and backward over the samples `rows` of `images`/`labels`, summed.
pub fn sums(model: &Model, images: &Images, labels: &[Label], rows: &[usize]) -> Sums {
    let (classes, features) = (model.classes, model.features);
    let mut sums = Sums {
        loss_sum: 0.0,
        correct: 0,
        grad_weights: vec![0.0; classes * features],
        grad_bias: vec![0.0; classes],
    };
    for &r in rows {
        let x = images.row_f32(r);
        let y = labels[r] as usize;
        let z = logits(model, &x);
        let log_p = log_softmax(&z);
        sums.loss_sum -= log_p[y];
        if argmax(&z) == y {
            sums.correct += 1;
        }
        for (c, &log_p) in log_p.iter().enumerate() {
            let target = if c == y { 1.0 } else { 0.0 };
            let g = log_p.exp() - target;
            sums.grad_bias[c] += g;
            let grad_row = &mut sums.grad_weights[c * features..(c + 1) * features];
            for (gw, &xf) in grad_row.iter_mut().zip(x.iter()) {
                *gw += g * f64::from(xf);
            }
        }
    }
    sums
}

/// Forward and backward over the samples `rows` of `images`/`labels`: the
/// mean loss and gradient.
pub fn step(model: &Model, images: &Images, labels: &[Label], rows: &[usize]) -> Step {
    let Sums {
        loss_sum,
        correct,
        mut grad_weights,
        mut grad_bias,
    } = sums(model, images, labels, rows);
    let n = rows.len() as f64;
    for g in grad_weights.iter_mut().chain(grad_bias.iter_mut()) {
        *g /= n;
    }
    Step {
        loss: loss_sum / n,
        correct,
        grad_weights,
        grad_bias,
    }
}

/// The summed loss and the correct count over the samples `rows`, forward only.
pub fn loss_and_correct(
    model: &Model,
    images: &Images,
    labels: &[Label],
    rows: std::ops::Range<usize>,
) -> (f64, usize) {
    let mut loss_sum = 0.0;
    let mut correct = 0;
    for r in rows {
        let y = labels[r] as usize;
        let z = logits(model, &images.row_f32(r));
        loss_sum -= log_softmax(&z)[y];
        if argmax(&z) == y {
            correct += 1;
        }
    }
    (loss_sum, correct)
}
