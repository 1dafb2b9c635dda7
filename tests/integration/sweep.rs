//! `sweep`: many models trained in one pass, each exactly as `train` would
//! train it alone.

use crate::common;

use softreg::compute::{Compute, MAX_MODELS};
use softreg::data::{Dataset, PixelFormat};
use softreg::train::{
    Grid, Optimizer, Param, RunConfig, Schedule, Setting, SweepConfig, TrainConfig, TrainError,
    sweep, train,
};

fn fashion_mnist() -> Dataset {
    Dataset::load_as(&common::fashion_mnist_dir(), Some(10), PixelFormat::U8).unwrap()
}

fn sgd(momentum: f32, nesterov: bool, weight_decay: f32) -> Optimizer {
    Optimizer::Sgd {
        momentum,
        nesterov,
        weight_decay,
    }
}

/// Every model whose seed is the data seed gets `train`'s weights and
/// figures bit for bit, whatever trains beside it, including a model that
/// diverges in the first epoch and one of another seed.
#[test]
fn a_model_seeded_like_the_data_trains_bit_for_bit_as_train_does() {
    let data = fashion_mnist();
    let adam = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
    };
    let setting = |optimizer, learning_rate, seed| Setting {
        optimizer,
        learning_rate,
        seed,
        schedule: Schedule::Constant,
    };
    let settings = vec![
        setting(sgd(0.0, false, 0.0), 0.1, 3),
        setting(sgd(0.0, false, 0.0), 0.1, 3),
        setting(sgd(0.0, false, 0.0), f32::MAX, 3),
        setting(sgd(0.9, true, 1e-4), 0.05, 3),
        setting(adam, 0.01, 3),
        setting(sgd(0.0, false, 0.0), 0.1, 4),
    ];
    let config = SweepConfig {
        settings: settings.clone(),
        data_seed: 3,
        run: RunConfig {
            epochs: 2,
            batch_size: 200,
            validation: 5_000,
            ..RunConfig::default()
        },
        compute: Compute {
            threads: Some(3),
            oversubscribe: true,
            ..Compute::default()
        },
    };
    let mut epochs_seen = Vec::new();
    let swept = sweep(&data, &config, |e, _| epochs_seen.push(e), |_| {}).unwrap();
    assert_eq!(epochs_seen, [1, 2]);
    assert_eq!(swept.models.len(), settings.len());
    // Five models train 2 epochs, one diverges within its first.
    let diverging = swept.model_samples - 55_000 * 2 * 5;
    assert!(
        (200..55_000).contains(&diverging),
        "{}",
        swept.model_samples
    );
    let diverged = &swept.models[2];
    assert_eq!(diverged.diverged.as_ref().map(|d| d.epoch), Some(1));
    assert!(diverged.test.is_none() && diverged.val_acc().is_none());
    assert_eq!(swept.models[0].model, swept.models[1].model);
    assert_ne!(swept.models[0].model, swept.models[5].model);
    for (i, swept) in swept.models.iter().enumerate().filter(|(i, _)| *i != 2) {
        let s = swept.setting;
        assert_eq!(s, settings[i]);
        let alone = TrainConfig {
            run: RunConfig {
                epochs: 2,
                batch_size: 200,
                validation: 5_000,
                ..RunConfig::default()
            },
            setting: s,
            compute: Compute {
                threads: Some(1),
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        if s.seed != config.data_seed {
            continue;
        }
        let trained = train(&data, &alone, |_| {}).unwrap();
        assert_eq!(swept.model, trained.model, "model {i}: {s:?}");
        assert!(swept.diverged.is_none());
        for (got, want) in swept.epochs.iter().zip(&trained.epochs) {
            assert_eq!(got.loss, want.loss, "model {i}");
            assert_eq!(got.train_acc, want.train_acc, "model {i}");
            assert_eq!(got.validation, want.validation, "model {i}");
        }
        let last = trained.epochs.last().unwrap();
        let test = swept.test.unwrap();
        assert_eq!(
            (test.loss, test.accuracy),
            (last.test.unwrap().loss, last.test.unwrap().accuracy)
        );
    }
    let best = swept.best().unwrap();
    let top = swept
        .models
        .iter()
        .filter_map(|m| m.val_acc())
        .fold(0.0, f64::max);
    assert_eq!(best.val_acc(), Some(top));
}

#[test]
fn a_sweep_does_not_depend_on_the_thread_count() {
    let data = fashion_mnist();
    let grid = Grid {
        learning_rates: vec![0.05, 0.5],
        params: vec![("momentum", vec![Param::Number(0.0), Param::Number(0.9)])],
        seeds: vec![7, 8],
        ..Grid::default()
    };
    let run = |threads| {
        let config = SweepConfig {
            settings: grid.settings(),
            run: RunConfig {
                epochs: 1,
                validation: 1_000,
                ..SweepConfig::default().run
            },
            compute: Compute {
                threads: Some(threads),
                oversubscribe: true,
                ..Compute::default()
            },
            ..SweepConfig::default()
        };
        sweep(&data, &config, |_, _| {}, |_| {}).unwrap()
    };
    let (one, four) = (run(1), run(4));
    for (a, b) in one.models.iter().zip(&four.models) {
        assert_eq!(a.model, b.model);
        assert_eq!(a.epochs, b.epochs);
    }
}

#[test]
fn the_grid_is_every_combination_and_adam_takes_no_momentum() {
    let grid = Grid {
        optimizers: vec!["sgd:nesterov".parse().unwrap(), "adam".parse().unwrap()],
        learning_rates: vec![0.01, 0.03, 0.1, 0.3, 1.0],
        params: vec![
            ("momentum", vec![Param::Number(0.0), Param::Number(0.9)]),
            (
                "weight_decay",
                vec![Param::Number(0.0), Param::Number(1e-4)],
            ),
        ],
        schedules: vec![Schedule::Constant],
        seeds: (0..4).collect(),
    };
    let settings = grid.settings();
    assert_eq!(settings.len(), 5 * 2 * 2 * 4 + 5 * 2 * 4);
    let sgd_models: Vec<_> = settings
        .iter()
        .filter(|s| matches!(s.optimizer, Optimizer::Sgd { .. }))
        .collect();
    assert_eq!(sgd_models.len(), 80);
    assert_eq!(settings[0].seed, 0);
    assert_eq!(settings[3].seed, 3);
    assert_eq!(settings[4].optimizer, sgd(0.0, false, 1e-4));
    assert_eq!(settings[8].optimizer, sgd(0.9, true, 0.0));
    for (i, a) in settings.iter().enumerate() {
        assert!(settings[i + 1..].iter().all(|b| a != b), "{a:?} twice");
    }
}

#[test]
fn impossible_sweeps_are_refused() {
    let data = fashion_mnist();
    let refused =
        |config: SweepConfig| sweep(&data, &config, |_, _| {}, |_| {}).expect_err("refused");
    let err = refused(SweepConfig {
        settings: vec![],
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::NoModels), "{err}");
    let err = refused(SweepConfig {
        run: RunConfig {
            validation: 0,
            ..SweepConfig::default().run
        },
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::NoValidation), "{err}");
    let err = refused(SweepConfig {
        run: RunConfig {
            epochs: 0,
            ..SweepConfig::default().run
        },
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::NothingToRank), "{err}");
    let one = SweepConfig::default().settings[0];
    let err = refused(SweepConfig {
        settings: vec![one; MAX_MODELS + 1],
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::TooManyModels(1025)), "{err}");
    let err = refused(SweepConfig {
        settings: vec![Setting {
            learning_rate: -1.0,
            ..one
        }],
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::LearningRate(_)), "{err}");
    let err = refused(SweepConfig {
        run: RunConfig {
            validation: 60_000,
            ..SweepConfig::default().run
        },
        ..SweepConfig::default()
    });
    assert!(matches!(err, TrainError::Validation { .. }), "{err}");
}

/// A sweep whose gradient sums would not fit in memory is refused before any
/// allocation, with the figure and what to change.
#[test]
fn a_sweep_too_large_for_memory_is_refused() {
    let data = fashion_mnist();
    let one = SweepConfig::default().settings[0];
    let config = SweepConfig {
        settings: vec![one; MAX_MODELS],
        run: RunConfig {
            batch_size: 50_000,
            ..SweepConfig::default().run
        },
        ..SweepConfig::default()
    };
    // 7,850 parameters; four working copies, one for the best epoch's
    // weights (the sweep validates), and 782 chunks of 64 rows in a minibatch
    // of 50,000.
    let per_model = 7_850 * 4 * (4 + 1 + 782);
    assert_eq!(config.memory_needed(&data), 1024 * per_model as u64);
    let available = softreg::input::available_memory();
    if available.is_some_and(|a| a < config.memory_needed(&data)) {
        let err = config.check(&data).expect_err("too large");
        assert!(
            matches!(
                err,
                TrainError::OutOfMemory {
                    models: 1024,
                    batch_size: 50_000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("25.3 GB"), "{err}");
    }
}

/// `sweep --kernel gemm` on weights past half the L2 (768 features x 1,000
/// classes, 3 MB: minibatches in chunks of [`GEMM_ROWS`] rows) trains each
/// model as `train` with the GEMM baseline does, bit for bit, on any thread
/// count.
#[test]
fn a_sweep_with_the_gemm_kernel_trains_each_model_as_train_does() {
    use softreg::app::bench_shape::random_dataset;
    use softreg::kernel::Kernel;
    use softreg::kernel::blocking::GEMM_ROWS;
    let (features, classes) = (768, 1000);
    assert_eq!(Kernel::Gemm.chunk_rows(features, classes), GEMM_ROWS);
    let data = random_dataset(features, classes, 700);
    let run = RunConfig {
        epochs: 1,
        batch_size: 300,
        validation: 100,
        ..RunConfig::default()
    };
    // Both seeded like the data (seed 0), so each trains as it would alone.
    let settings = vec![
        Setting {
            optimizer: sgd(0.0, false, 0.0),
            learning_rate: 0.05,
            seed: 0,
            schedule: Schedule::Constant,
        },
        Setting {
            optimizer: sgd(0.9, false, 0.0),
            learning_rate: 0.01,
            seed: 0,
            schedule: Schedule::Constant,
        },
    ];
    let swept = |threads| {
        let config = SweepConfig {
            settings: settings.clone(),
            run: RunConfig { ..run.clone() },
            compute: Compute {
                threads: Some(threads),
                oversubscribe: true,
                kernel: Kernel::Gemm,
                ..Compute::default()
            },
            ..SweepConfig::default()
        };
        sweep(&data, &config, |_, _| {}, |_| {}).unwrap()
    };
    let (one, three) = (swept(1), swept(3));
    assert_ne!(one.models[0].model, one.models[1].model);
    for (i, &setting) in settings.iter().enumerate() {
        assert_eq!(one.models[i].model, three.models[i].model, "model {i}");
        let alone = TrainConfig {
            run: RunConfig { ..run.clone() },
            setting,
            init: None,
            compute: Compute {
                threads: Some(2),
                oversubscribe: true,
                kernel: Kernel::Gemm,
                ..Compute::default()
            },
        };
        let trained = train(&data, &alone, |_| {}).unwrap();
        assert_eq!(one.models[i].model, trained.model, "model {i}");
        let swept_epoch = &one.models[i].epochs[0];
        assert_eq!(swept_epoch.loss, trained.epochs[0].loss, "model {i}");
    }
}

/// A sweep ranks and keeps each model by its best epoch (the highest
/// validation accuracy, the earliest of equals): its weights are, to the bit,
/// those of a sweep that stops at that epoch. With patience, each model stops
/// on its own that many epochs after its best while the others go on.
#[test]
fn each_model_is_ranked_and_kept_by_its_best_epoch() {
    let data = fashion_mnist();
    let grid = Grid {
        learning_rates: vec![0.3, 3.0],
        params: vec![("momentum", vec![Param::Number(0.0), Param::Number(0.9)])],
        ..Grid::default()
    };
    let epochs = 4;
    let run = |epochs, patience| {
        let config = SweepConfig {
            settings: grid.settings(),
            run: RunConfig {
                epochs,
                validation: 5_000,
                patience,
                ..SweepConfig::default().run
            },
            ..SweepConfig::default()
        };
        sweep(&data, &config, |_, _| {}, |_| {}).unwrap()
    };
    let full = run(epochs, None);
    let mut chosen = Vec::new();
    for model in &full.models {
        assert_eq!(model.epochs.len(), epochs);
        let accuracies: Vec<f64> = model
            .epochs
            .iter()
            .map(|e| e.validation.unwrap().accuracy)
            .collect();
        let top = accuracies.iter().copied().fold(f64::MIN, f64::max);
        let best = accuracies.iter().position(|&a| a == top).unwrap() + 1;
        assert_eq!(model.chosen_epoch(), Some(best), "{accuracies:?}");
        assert_eq!(model.val_acc(), Some(top));
        chosen.push(best);
    }
    assert!(
        chosen.iter().any(|&e| e < epochs),
        "some model's best epoch is not its last: {chosen:?}"
    );
    let top = full
        .models
        .iter()
        .filter_map(|m| m.val_acc())
        .fold(f64::MIN, f64::max);
    assert_eq!(full.best().unwrap().val_acc(), Some(top));
    for stop in 1..epochs {
        let short = run(stop, None);
        for (i, model) in full.models.iter().enumerate() {
            if chosen[i] == stop {
                assert_eq!(model.chosen_model(), &short.models[i].model, "model {i}");
            }
        }
    }

    let patience = 1;
    let stopped = run(epochs, Some(patience));
    for (i, model) in stopped.models.iter().enumerate() {
        // The first epoch `patience` epochs past the best so far.
        let (mut best, mut trained) = (0, epochs);
        for (e, epoch) in full.models[i].epochs.iter().enumerate() {
            let accuracy = |e: usize| full.models[i].epochs[e].validation.unwrap().accuracy;
            if e == 0 || epoch.validation.unwrap().accuracy > accuracy(best) {
                best = e;
            }
            if e - best >= patience {
                trained = e + 1;
                break;
            }
        }
        assert_eq!(
            model.epochs[..],
            full.models[i].epochs[..trained],
            "model {i}"
        );
        assert_eq!(model.stopped_early, trained < epochs, "model {i}");
        assert_eq!(model.chosen_epoch(), Some(best + 1), "model {i}");
        let same = stopped.models[i].chosen_model() == full.models[i].chosen_model();
        assert_eq!(same, best + 1 == chosen[i], "model {i}");
    }
    assert!(stopped.models.iter().any(|m| m.stopped_early));
}
