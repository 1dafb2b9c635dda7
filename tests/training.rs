//! Training end to end: on the bundled Fashion-MNIST and on small made-up data.

mod common;

use softreg::data::Dataset;
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::reference;
use softreg::train::{TrainConfig, TrainError, train};

#[test]
fn tutorial_settings_reach_the_tutorial_accuracy() {
    let data = Dataset::load(&common::fashion_mnist_dir(), 10).unwrap();
    let mut seen = Vec::new();
    let trained = train(&data, &TrainConfig::default(), |e| seen.push(e.epoch)).unwrap();
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    let first = &trained.epochs[0];
    let last = &trained.epochs[4];
    assert!(
        (0.81..=0.85).contains(&last.test_acc),
        "test accuracy {} after 5 epochs",
        last.test_acc
    );
    assert!(
        last.loss < first.loss,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    assert!(
        (0.6..1.0).contains(&first.loss),
        "epoch-1 loss {}",
        first.loss
    );
    assert!(trained.model.is_finite());
}

#[test]
fn one_full_batch_epoch_is_one_sgd_step_on_the_mean_gradient() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), 10).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        learning_rate: 0.5,
        seed: 9,
        threads: Some(1),
    };
    let trained = train(&data, &config, |_| {}).unwrap();

    let initial = Model::init(6, 10, &mut SeededRng::new(9));
    let rows: Vec<usize> = (0..data.train.len()).collect();
    let step = reference::step(&initial, &data.train.images, &data.train.labels, &rows);
    assert_eq!(trained.epochs[0].train_acc, step.correct as f64 / 5.0);
    assert!((trained.epochs[0].loss - step.loss).abs() < 1e-12);
    for (i, (&w, &g)) in initial.weights.iter().zip(&step.grad_weights).enumerate() {
        let expected = w - 0.5 * g as f32;
        assert!(
            (trained.model.weights[i] - expected).abs() < 1e-7,
            "weight {i}"
        );
    }
    for (c, (&b, &g)) in initial.bias.iter().zip(&step.grad_bias).enumerate() {
        assert!(
            (trained.model.bias[c] - (b - 0.5 * g as f32)).abs() < 1e-7,
            "bias {c}"
        );
    }
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), 10).unwrap();
    let config = |seed| TrainConfig {
        epochs: 3,
        batch_size: 2,
        seed,
        ..TrainConfig::default()
    };
    let a = train(&data, &config(1), |_| {}).unwrap().model;
    assert_eq!(a, train(&data, &config(1), |_| {}).unwrap().model);
    assert_ne!(a, train(&data, &config(2), |_| {}).unwrap().model);
}

#[test]
fn invalid_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), 10).unwrap();
    let run = |config: TrainConfig| train(&data, &config, |_| {}).unwrap_err();
    let base = TrainConfig::default();
    assert!(matches!(
        run(TrainConfig {
            batch_size: 0,
            ..base.clone()
        }),
        TrainError::BatchSize
    ));
    assert!(matches!(
        run(TrainConfig {
            learning_rate: -1.0,
            ..base.clone()
        }),
        TrainError::LearningRate(_)
    ));
    assert!(matches!(
        run(TrainConfig {
            learning_rate: f32::NAN,
            ..base.clone()
        }),
        TrainError::LearningRate(_)
    ));
    assert!(matches!(
        run(TrainConfig {
            threads: Some(0),
            ..base
        }),
        TrainError::Threads
    ));
}
