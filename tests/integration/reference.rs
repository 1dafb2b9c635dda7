//! The naive reference against hand-computed values and finite differences.

use softreg::data::Images;
use softreg::data::Label;
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::reference;

/// Two samples of two features, three classes, with values worked out by hand:
/// logits [1, 2.5, 2] (label 2) and [0.5, -0.5, -1.5] (label 0).
fn two_sample_case() -> (Model, Images, Vec<Label>) {
    let model = Model {
        features: 2,
        classes: 3,
        weights: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        bias: vec![0.0, 0.5, -1.0],
    };
    let images = Images::from_f32(1, 2, &[1.0, 2.0, 0.5, -1.0]);
    (model, images, vec![2, 0])
}

fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} differs from {expected} by more than {tolerance}"
    );
}

#[test]
fn hand_computed_logits_loss_and_gradient() {
    let (model, images, labels) = two_sample_case();
    assert_eq!(
        reference::logits(&model, &images.row_f32(0)),
        vec![1.0, 2.5, 2.0]
    );
    assert_eq!(
        reference::logits(&model, &images.row_f32(1)),
        vec![0.5, -0.5, -1.5]
    );

    let step = reference::step(&model, &images, &labels, &[0, 1]);
    // loss = mean(log(e^1 + e^2.5 + e^2) - 2, log(e^0.5 + e^-0.5 + e^-1.5) - 0.5)
    assert_close(step.loss, 0.7558682848905542, 1e-12);
    assert_eq!(
        step.correct, 1,
        "sample 0 predicts class 1, sample 1 predicts class 0"
    );
    let grad_bias = [
        -0.10640369595772463,
        0.39563892916048865,
        -0.289235233202764,
    ];
    let grad_weights = [
        -0.022713934901430102,
        0.2893311744223179,
        0.33445681139678923,
        0.4241851517387808,
        -0.3117428764953591,
        -0.7135163261610987,
    ];
    for (a, e) in step.grad_bias.iter().zip(grad_bias) {
        assert_close(*a, e, 1e-12);
    }
    for (a, e) in step.grad_weights.iter().zip(grad_weights) {
        assert_close(*a, e, 1e-12);
    }
}

#[test]
fn log_softmax_of_extreme_logits_stays_finite() {
    let lsm = reference::log_softmax(&[1e4, -1e4, 0.0]);
    assert_eq!(lsm, vec![0.0, -2e4, -1e4]);
    let lsm = reference::log_softmax(&[1e300, 1e300]);
    assert_close(lsm[0], -std::f64::consts::LN_2, 1e-15);
    let total: f64 = reference::log_softmax(&[3.0, -7.0, 0.25, 800.0])
        .iter()
        .map(|v| v.exp())
        .sum();
    assert_close(total, 1.0, 1e-15);
}

#[test]
fn argmax_takes_the_first_of_equal_values() {
    assert_eq!(reference::argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    assert_eq!(reference::argmax(&[-5.0]), 0);
}

/// Every weight and bias gradient equals a central finite difference of the mean
/// loss within 1e-6 relative (absolute floor 1e-9). Weights are dyadic and the step
/// is 2^-12, so the perturbed f32 weights are exact.
#[test]
fn gradient_matches_central_finite_differences() {
    let (features, classes, samples) = (5, 4, 6);
    let mut rng = SeededRng::new(11);
    let dyadic = |rng: &mut SeededRng| (rng.normal(0.0, 0.5) * 1024.0).round() as f32 / 1024.0;
    let mut model = Model {
        features,
        classes,
        weights: (0..features * classes).map(|_| dyadic(&mut rng)).collect(),
        bias: (0..classes).map(|_| dyadic(&mut rng)).collect(),
    };
    let pixels: Vec<f32> = (0..features * samples)
        .map(|_| rng.normal(0.0, 1.0) as f32)
        .collect();
    let images = Images::from_f32(1, features, &pixels);
    let labels: Vec<Label> = (0..samples)
        .map(|_| rng.below(classes as u64) as Label)
        .collect();
    let rows: Vec<usize> = (0..samples).collect();
    let step = reference::step(&model, &images, &labels, &rows);

    let h = 2f32.powi(-12);
    let loss_at = |model: &Model| reference::step(model, &images, &labels, &rows).loss;
    let check = |analytic: f64, numeric: f64, what: String| {
        let tolerance = 1e-6 * analytic.abs().max(1e-3);
        assert!(
            (analytic - numeric).abs() <= tolerance,
            "{what}: analytic {analytic}, finite difference {numeric}"
        );
    };
    for i in 0..features * classes {
        let w = model.weights[i];
        model.weights[i] = w + h;
        let up = loss_at(&model);
        model.weights[i] = w - h;
        let down = loss_at(&model);
        model.weights[i] = w;
        check(
            step.grad_weights[i],
            (up - down) / (2.0 * f64::from(h)),
            format!("weight {i}"),
        );
    }
    for c in 0..classes {
        let b = model.bias[c];
        model.bias[c] = b + h;
        let up = loss_at(&model);
        model.bias[c] = b - h;
        let down = loss_at(&model);
        model.bias[c] = b;
        check(
            step.grad_bias[c],
            (up - down) / (2.0 * f64::from(h)),
            format!("bias {c}"),
        );
    }
}

#[test]
fn forward_only_path_agrees_with_the_step() {
    let (model, images, labels) = two_sample_case();
    let (loss_sum, correct) = reference::loss_and_correct(&model, &images, &labels, 0..2);
    let step = reference::step(&model, &images, &labels, &[0, 1]);
    assert_close(loss_sum / 2.0, step.loss, 1e-15);
    assert_eq!(correct, step.correct);
}
