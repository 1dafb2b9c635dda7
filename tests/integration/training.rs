//! Training end to end: on the bundled Fashion-MNIST and on small made-up data.

use crate::common;

use std::ops::ControlFlow;

use softreg::compute::{Compute, ComputeError};
use softreg::data::{Dataset, Images, PixelFormat};
use softreg::kernel::{Isa, Kernel};
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::reference;
use softreg::train::{
    Cause, Divergence, RunConfig, Schedule, Setting, TrainConfig, TrainError, train,
};

fn fashion_mnist(format: PixelFormat) -> Dataset {
    Dataset::load_as(&common::fashion_mnist_dir(), Some(10), format).unwrap()
}

#[test]
fn tutorial_settings_reach_the_tutorial_accuracy_and_every_kernel_agrees_with_the_reference() {
    let data = fashion_mnist(PixelFormat::F32);
    let run = |kernel, epochs| {
        let config = TrainConfig {
            run: RunConfig {
                epochs,
                ..RunConfig::default()
            },
            compute: Compute {
                kernel,
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        let mut seen = Vec::new();
        let trained = train(&data, &config, |e| seen.push(e.epoch)).unwrap();
        assert_eq!(seen, (1..=epochs).collect::<Vec<_>>());
        trained
    };
    // The reference is the slow f64 oracle: one epoch of it is enough to
    // compare against, from the same initialisation and shuffle.
    let reference = run(Kernel::Reference, 1);
    for kernel in [Kernel::Fused, Kernel::Gemm] {
        let trained = run(kernel, 5);
        let (first, last) = (&trained.epochs[0], &trained.epochs[4]);
        assert!(
            (0.81..=0.85).contains(&last.test.unwrap().accuracy),
            "{kernel:?}: test accuracy {} after 5 epochs",
            last.test.unwrap().accuracy
        );
        assert!(
            last.loss < first.loss,
            "{kernel:?}: loss {} -> {}",
            first.loss,
            last.loss
        );
        assert!(
            (0.6..1.0).contains(&first.loss),
            "{kernel:?}: epoch-1 loss {}",
            first.loss
        );
        assert!(trained.model.is_finite());
        let oracle = &reference.epochs[0];
        assert!(
            (first.test.unwrap().accuracy - oracle.test.unwrap().accuracy).abs() <= 0.005,
            "{kernel:?}: epoch-1 test acc {} vs reference {}",
            first.test.unwrap().accuracy,
            oracle.test.unwrap().accuracy
        );
        assert!(
            (first.loss - oracle.loss).abs() <= 1e-3,
            "{kernel:?}: epoch-1 loss {} vs reference {}",
            first.loss,
            oracle.loss
        );
    }
}

#[test]
fn weights_do_not_depend_on_the_thread_count_or_the_pixel_format() {
    let f32_data = fashion_mnist(PixelFormat::F32);
    let u8_data = fashion_mnist(PixelFormat::U8);
    let run = |data: &Dataset, threads| {
        // Every pool thread joins the team, even beyond the core count.
        let config = TrainConfig {
            run: RunConfig {
                epochs: 2,
                ..RunConfig::default()
            },
            setting: Setting {
                seed: 3,
                ..Setting::default()
            },
            compute: Compute {
                threads: Some(threads),
                oversubscribe: true,
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        train(data, &config, |_| {}).unwrap()
    };
    let one = run(&f32_data, 1);
    let bits = |m: &Model| -> Vec<u32> {
        m.weights
            .iter()
            .chain(&m.bias)
            .map(|w| w.to_bits())
            .collect()
    };
    for threads in [2, 8] {
        let other = run(&f32_data, threads);
        assert_eq!(bits(&one.model), bits(&other.model), "{threads} threads");
        assert_eq!(one.epochs[1].loss.to_bits(), other.epochs[1].loss.to_bits());
    }
    let from_bytes = run(&u8_data, 2);
    assert_eq!(bits(&one.model), bits(&from_bytes.model), "u8 pixels");
}

#[test]
fn each_instruction_set_gives_its_own_bits_the_same_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let run = |isa: Isa, threads| {
        let config = TrainConfig {
            run: RunConfig {
                epochs: 3,
                batch_size: 4,
                ..RunConfig::default()
            },
            compute: Compute {
                threads: Some(threads),
                isa: Some(isa),
                oversubscribe: true,
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        train(&data, &config, |_| {}).unwrap().model
    };
    let models: Vec<Model> = Isa::available()
        .into_iter()
        .map(|isa| run(isa, 1))
        .collect();
    for (isa, model) in Isa::available().into_iter().zip(&models) {
        assert_eq!(&run(isa, 2), model, "{}: 2 threads", isa.name());
        // Another instruction set adds in another order: close, not equal bits.
        for (w, s) in model.weights.iter().zip(&models.last().unwrap().weights) {
            assert!((w - s).abs() <= 1e-6, "{}: {w} vs scalar {s}", isa.name());
        }
    }
}

#[test]
fn one_full_batch_epoch_is_one_sgd_step_on_the_mean_gradient() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    for (kernel, tolerance) in [(Kernel::Reference, 1e-7), (Kernel::Fused, 1e-6)] {
        let config = TrainConfig {
            init: None,
            run: RunConfig {
                epochs: 1,
                batch_size: 64,
                ..RunConfig::default()
            },
            setting: Setting {
                learning_rate: 0.5,
                seed: 9,
                ..Setting::default()
            },
            compute: Compute {
                kernel,
                threads: Some(1),
                ..Compute::default()
            },
        };
        let trained = train(&data, &config, |_| {}).unwrap();

        let initial = Model::init(6, 10, &mut SeededRng::new(9));
        let rows: Vec<usize> = (0..data.train.len()).collect();
        let step = reference::step(&initial, &data.train.images, &data.train.labels, &rows);
        assert_eq!(trained.epochs[0].train_acc, step.correct as f64 / 5.0);
        assert!(
            (trained.epochs[0].loss - step.loss).abs() < 1e-6,
            "{kernel:?}"
        );
        for (i, (&w, &g)) in initial.weights.iter().zip(&step.grad_weights).enumerate() {
            let expected = w - 0.5 * g as f32;
            assert!(
                (trained.model.weights[i] - expected).abs() < tolerance,
                "{kernel:?}: weight {i}"
            );
        }
        for (c, (&b, &g)) in initial.bias.iter().zip(&step.grad_bias).enumerate() {
            let expected = b - 0.5 * g as f32;
            assert!(
                (trained.model.bias[c] - expected).abs() < tolerance,
                "{kernel:?}: bias {c}"
            );
        }
    }
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let config = |seed| TrainConfig {
        run: RunConfig {
            epochs: 3,
            batch_size: 2,
            ..RunConfig::default()
        },
        setting: Setting {
            seed,
            ..Setting::default()
        },
        ..TrainConfig::default()
    };
    let a = train(&data, &config(1), |_| {}).unwrap().model;
    assert_eq!(a, train(&data, &config(1), |_| {}).unwrap().model);
    assert_ne!(a, train(&data, &config(2), |_| {}).unwrap().model);
}

#[test]
fn an_epoch_callback_can_stop_the_run_keeping_what_it_trained() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let config = |epochs| TrainConfig {
        run: RunConfig {
            epochs,
            batch_size: 2,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let stopped = train(&data, &config(10), |e| {
        if e.epoch == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(stopped.epochs.len(), 2);
    assert_eq!(
        stopped.model,
        train(&data, &config(2), |_| {}).unwrap().model
    );
}

#[test]
fn a_learning_rate_that_overflows_the_weights_stops_with_an_error() {
    let data = fashion_mnist(PixelFormat::U8);
    for kernel in [Kernel::Fused, Kernel::Reference] {
        let config = TrainConfig {
            init: None,
            run: RunConfig {
                epochs: 1,
                ..RunConfig::default()
            },
            setting: Setting {
                learning_rate: f32::MAX,
                ..Setting::default()
            },
            compute: Compute {
                kernel,
                ..Compute::default()
            },
        };
        let Err(err) = train(&data, &config, |_| {}) else {
            panic!("{kernel:?}: training with lr {} succeeded", f32::MAX);
        };
        assert!(
            matches!(err, TrainError::Diverged(Divergence { epoch: 1, .. })),
            "{kernel:?}: {err:?}"
        );
        assert!(err.to_string().contains("lower the learning rate"), "{err}");
    }
}

#[test]
fn a_nan_pixel_stops_training_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let mut data = Dataset::load(dir.path(), Some(10)).unwrap();
    let mut pixels = data.train.images.f32_pixels().unwrap().to_vec();
    pixels[7] = f32::NAN;
    data.train.images = Images::from_f32(2, 3, &pixels);
    for kernel in [Kernel::Fused, Kernel::Reference] {
        let config = TrainConfig {
            compute: Compute {
                kernel,
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        let err = train(&data, &config, |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::Diverged(Divergence {
                    epoch: 1,
                    cause: Cause::NonFiniteLoss { step: 1, .. },
                })
            ),
            "{kernel:?}: {err:?}"
        );
    }
}

#[test]
fn invalid_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let run = |config: TrainConfig| train(&data, &config, |_| {}).unwrap_err();
    let base = TrainConfig::default();
    assert!(matches!(
        run(TrainConfig {
            run: RunConfig {
                batch_size: 0,
                ..base.clone().run
            },
            ..base.clone()
        }),
        TrainError::BatchSize
    ));
    assert!(matches!(
        run(TrainConfig {
            setting: Setting {
                learning_rate: -1.0,
                ..base.clone().setting
            },
            ..base.clone()
        }),
        TrainError::LearningRate(_)
    ));
    assert!(matches!(
        run(TrainConfig {
            setting: Setting {
                learning_rate: f32::NAN,
                ..base.clone().setting
            },
            ..base.clone()
        }),
        TrainError::LearningRate(_)
    ));
    assert!(matches!(
        run(TrainConfig {
            compute: Compute {
                threads: Some(0),
                ..base.compute
            },
            ..base.clone()
        }),
        TrainError::Compute(ComputeError::Threads)
    ));
    for (validation, patience) in [(0, 3), (100, 0)] {
        let err = run(TrainConfig {
            run: RunConfig {
                validation,
                patience: Some(patience),
                ..base.clone().run
            },
            ..base.clone()
        });
        assert!(
            matches!(
                (validation, &err),
                (0, TrainError::PatienceWithoutValidation) | (100, TrainError::Patience)
            ),
            "{err}"
        );
    }
}

/// The optimizers against their update formulas written out in f64 (the
/// formulas of PyTorch's `torch.optim.SGD`, `torch.optim.Adam` and
/// `torch.optim.RMSprop`), over three
/// full-batch steps from the same initial weights, with the fused kernel, the
/// GEMM baseline and the reference.
#[test]
fn optimizers_follow_pytorchs_formulas() {
    use softreg::train::Optimizer;
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let sgd = |momentum, nesterov, weight_decay| Optimizer::Sgd {
        momentum,
        nesterov,
        weight_decay,
    };
    let adam = |weight_decay| Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay,
    };
    let rmsprop = |spec: &str| spec.parse::<Optimizer>().unwrap();
    let optimizers = [
        sgd(0.0, false, 0.01),
        sgd(0.9, false, 0.0),
        sgd(0.9, true, 0.01),
        adam(0.0),
        adam(0.01),
        rmsprop("rmsprop"),
        rmsprop("rmsprop:alpha=0.9,momentum=0.5,weight_decay=0.01"),
    ];
    let lr = 0.3;
    for optimizer in optimizers {
        // The formulas, in f64, on the reference's f64 gradients.
        let mut model = Model::init(6, 10, &mut SeededRng::new(4));
        let mut w: Vec<f64> = model
            .weights
            .iter()
            .chain(&model.bias)
            .map(|&v| f64::from(v))
            .collect();
        let (mut first, mut second) = (vec![0.0f64; w.len()], vec![0.0f64; w.len()]);
        let rows: Vec<usize> = (0..data.train.len()).collect();
        for t in 1..=3 {
            let step = reference::step(&model, &data.train.images, &data.train.labels, &rows);
            let grads = step.grad_weights.iter().chain(&step.grad_bias);
            for (i, &g) in grads.enumerate() {
                match optimizer {
                    Optimizer::Sgd {
                        momentum,
                        nesterov,
                        weight_decay,
                    } => {
                        let mut d = g + f64::from(weight_decay) * w[i];
                        if momentum != 0.0 {
                            let m = f64::from(momentum);
                            first[i] = if t == 1 { d } else { m * first[i] + d };
                            d = if nesterov { d + m * first[i] } else { first[i] };
                        }
                        w[i] -= f64::from(lr) * d;
                    }
                    Optimizer::Adam {
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                    } => {
                        let (b1, b2) = (f64::from(beta1), f64::from(beta2));
                        let d = g + f64::from(weight_decay) * w[i];
                        first[i] = b1 * first[i] + (1.0 - b1) * d;
                        second[i] = b2 * second[i] + (1.0 - b2) * d * d;
                        let m_hat = first[i] / (1.0 - b1.powi(t));
                        let v_hat = second[i] / (1.0 - b2.powi(t));
                        w[i] -= f64::from(lr) * m_hat / (v_hat.sqrt() + f64::from(eps));
                    }
                    Optimizer::Rmsprop {
                        alpha,
                        eps,
                        weight_decay,
                        momentum,
                    } => {
                        let a = f64::from(alpha);
                        let d = g + f64::from(weight_decay) * w[i];
                        second[i] = a * second[i] + (1.0 - a) * d * d;
                        let step = d / (second[i].sqrt() + f64::from(eps));
                        first[i] = f64::from(momentum) * first[i] + step;
                        w[i] -= f64::from(lr) * if momentum > 0.0 { first[i] } else { step };
                    }
                }
            }
            let (weights, bias) = w.split_at(60);
            model.weights = weights.iter().map(|&v| v as f32).collect();
            model.bias = bias.iter().map(|&v| v as f32).collect();
        }
        for kernel in [Kernel::Fused, Kernel::Gemm, Kernel::Reference] {
            let config = TrainConfig {
                init: None,
                run: RunConfig {
                    epochs: 3,
                    batch_size: 64,
                    ..RunConfig::default()
                },
                setting: Setting {
                    learning_rate: lr,
                    optimizer,
                    seed: 4,
                    schedule: Schedule::Constant,
                },
                compute: Compute {
                    kernel,
                    threads: Some(1),
                    ..Compute::default()
                },
            };
            let trained = train(&data, &config, |_| {}).unwrap();
            let got = trained.model.weights.iter().chain(&trained.model.bias);
            for (i, (&got, &want)) in got.zip(&w).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() <= 2e-5 * want.abs().max(1.0),
                    "{optimizer:?} {kernel:?}: value {i} is {got}, the formula gives {want}"
                );
            }
        }
    }
}

/// Optimizers with state keep the weights bit-identical for any thread count.
#[test]
fn optimizer_state_does_not_depend_on_the_thread_count() {
    use softreg::train::Optimizer;
    let data = fashion_mnist(PixelFormat::U8);
    for optimizer in [
        Optimizer::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        },
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
        },
        "rmsprop:momentum=0.9".parse().unwrap(),
    ] {
        let run = |threads| {
            let config = TrainConfig {
                run: RunConfig {
                    epochs: 2,
                    ..RunConfig::default()
                },
                setting: Setting {
                    learning_rate: 0.01,
                    optimizer,
                    ..Setting::default()
                },
                compute: Compute {
                    threads: Some(threads),
                    oversubscribe: true,
                    ..Compute::default()
                },
                ..TrainConfig::default()
            };
            let model = train(&data, &config, |_| {}).unwrap().model;
            model
                .weights
                .iter()
                .chain(&model.bias)
                .map(|w| w.to_bits())
                .collect::<Vec<u32>>()
        };
        let one = run(1);
        for threads in [2, 8] {
            assert_eq!(one, run(threads), "{optimizer:?}, {threads} threads");
        }
    }
}

/// `validation: N` holds out the last N training images: training sees exactly
/// the others (the same weights, to the bit, as training on a set made of only
/// those), and each epoch scores the held-out ones.
#[test]
fn a_validation_split_is_held_out_and_scored() {
    use softreg::data::Split;
    let data = fashion_mnist(PixelFormat::U8);
    let (n, held_out) = (2_000, 500);
    let take = |range: std::ops::Range<usize>| Split {
        images: Images::from_u8(
            28,
            28,
            &data.train.images.u8_pixels().unwrap()[range.start * 784..range.end * 784],
        ),
        labels: data.train.labels[range].to_vec(),
    };
    let small = Dataset {
        train: take(0..n),
        test: data.test.clone(),
        classes: 10,
        class_names: data.class_names.clone(),
    };
    let only_trained = Dataset {
        train: take(0..n - held_out),
        ..small.clone()
    };
    let config = TrainConfig {
        run: RunConfig {
            epochs: 2,
            batch_size: 64,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let with_validation = train(
        &small,
        &TrainConfig {
            run: RunConfig {
                validation: held_out,
                ..config.clone().run
            },
            ..config.clone()
        },
        |_| {},
    )
    .unwrap();
    let without = train(&only_trained, &config, |_| {}).unwrap();
    assert_eq!(
        with_validation.model, without.model,
        "the held-out images are never trained on"
    );
    let held = take(n - held_out..n);
    for (epoch, report) in with_validation.epochs.iter().enumerate() {
        assert_eq!(report.samples, n - held_out);
        let v = report.validation.expect("scored every epoch");
        assert!((0.0..=1.0).contains(&v.accuracy) && v.loss.is_finite());
        if epoch == 1 {
            let expected = softreg::eval::evaluate(
                Kernel::Fused,
                &with_validation.model,
                &held,
                0..held.len(),
            );
            assert_eq!(v, expected);
        }
    }
    assert!(without.epochs.iter().all(|e| e.validation.is_none()));
    let all = TrainConfig {
        run: RunConfig {
            validation: n,
            ..config.run
        },
        ..config
    };
    assert!(matches!(
        train(&small, &all, |_| {}),
        Err(TrainError::Validation {
            held_out: 2_000,
            images: 2_000
        })
    ));
}

/// With `patience`, a run stops that many epochs after its best validation
/// accuracy (the highest, the earliest of equals), and keeps the best epoch's
/// weights: to the bit those of a run that trains only that far.
#[test]
fn patience_stops_the_run_and_the_best_epochs_weights_are_kept() {
    let data = fashion_mnist(PixelFormat::U8);
    let config = |epochs, patience| TrainConfig {
        run: RunConfig {
            epochs,
            validation: 10_000,
            patience,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let patience = 1;
    let stopped = train(&data, &config(30, Some(patience)), |_| {}).unwrap();
    let accuracies: Vec<f64> = stopped
        .epochs
        .iter()
        .map(|e| e.validation.expect("scored every epoch").accuracy)
        .collect();
    let best = stopped.best.as_ref().expect("a best epoch");
    let top = accuracies.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(
        best.epoch,
        accuracies.iter().position(|&a| a == top).unwrap() + 1,
        "{accuracies:?}"
    );
    assert!(stopped.stopped_early, "{accuracies:?}");
    assert_eq!(accuracies.len(), best.epoch + patience, "{accuracies:?}");
    assert_eq!(stopped.chosen().0, &best.model);
    assert_eq!(stopped.chosen().1.unwrap().epoch, best.epoch);

    let shorter = train(&data, &config(best.epoch, None), |_| {}).unwrap();
    assert_eq!(best.model, shorter.model, "the best epoch's weights");
    assert!(!shorter.stopped_early);
    for (a, b) in shorter.epochs.iter().zip(&stopped.epochs) {
        assert_eq!(
            (a.loss, a.validation, a.test),
            (b.loss, b.validation, b.test)
        );
    }
    let unstopped = train(&data, &config(stopped.epochs.len() + 1, None), |_| {}).unwrap();
    assert_eq!(unstopped.epochs.len(), stopped.epochs.len() + 1);
    assert_ne!(
        unstopped.model, stopped.model,
        "without patience it goes on"
    );
}
