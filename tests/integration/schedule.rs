//! Learning-rate schedules: each replayed against PyTorch's code written out
//! here in f64 (its chainable `get_lr`), and against the closed-form curve it
//! follows; then used by training, by the command line and by a sweep.

use crate::common;

use std::f64::consts::PI;

use common::{softreg, stderr};
use softreg::app::bench_shape::random_dataset;
use softreg::compute::Compute;
use softreg::train::{RunConfig, Schedule, Setting, TrainConfig, train};

/// PyTorch's rates for `last_epoch` 0..epochs, as `torch.optim.lr_scheduler`
/// computes them (Python floats), from `base`.
fn pytorch(schedule: Schedule, base: f64, epochs: usize) -> Vec<f64> {
    let mut rates = Vec::new();
    let mut lr = base;
    for k in 0..epochs {
        lr = match schedule {
            Schedule::Constant => lr,
            // StepLR.get_lr
            Schedule::Step { step_size, gamma } => {
                if k == 0 || k % step_size != 0 {
                    lr
                } else {
                    lr * gamma
                }
            }
            // CosineAnnealingLR.get_lr
            Schedule::Cosine { t_max, eta_min } => {
                let t = t_max as f64;
                if k == 0 {
                    lr
                } else if (k as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
                    lr + (base - eta_min) * (1.0 - (PI / t).cos()) / 2.0
                } else {
                    (1.0 + (PI * k as f64 / t).cos()) / (1.0 + (PI * (k as f64 - 1.0) / t).cos())
                        * (lr - eta_min)
                        + eta_min
                }
            }
            // LinearLR.get_lr
            Schedule::Linear { start, end, iters } => {
                if k == 0 {
                    lr * start
                } else if k > iters {
                    lr
                } else {
                    lr * (1.0
                        + (end - start) / (iters as f64 * start + (k as f64 - 1.0) * (end - start)))
                }
            }
        };
        rates.push(lr);
    }
    rates
}

/// The closed-form curve each schedule follows, at `last_epoch` `k`.
fn closed_form(schedule: Schedule, base: f64, k: usize) -> f64 {
    match schedule {
        Schedule::Constant => base,
        Schedule::Step { step_size, gamma } => base * gamma.powi((k / step_size) as i32),
        Schedule::Cosine { t_max, eta_min } => {
            eta_min + (base - eta_min) * (1.0 + (PI * k as f64 / t_max as f64).cos()) / 2.0
        }
        Schedule::Linear { start, end, iters } => {
            base * (start + (end - start) * k.min(iters) as f64 / iters as f64)
        }
    }
}

#[test]
fn every_schedule_gives_pytorchs_rates_on_its_curve() {
    let schedules = [
        "constant",
        "step:3,0.1",
        "step:1,0.5",
        "cosine:10",
        "cosine:7,0.001",
        "linear:0.25,1,5",
        "linear:1,0.5,3",
    ];
    let base = 0.1f32;
    for text in schedules {
        let schedule: Schedule = text.parse().unwrap();
        assert_eq!(schedule.to_string().parse::<Schedule>().unwrap(), schedule);
        let rates = pytorch(schedule, f64::from(base), 40);
        for (k, &want) in rates.iter().enumerate() {
            let epoch = k + 1;
            let got = schedule.rate(base, epoch);
            assert_eq!(got, want as f32, "{text} epoch {epoch}");
            let curve = closed_form(schedule, f64::from(base), k);
            assert!(
                (want - curve).abs() <= 1e-12 * f64::from(base),
                "{text} epoch {epoch}"
            );
        }
    }
    // The constant schedule is the base rate itself, not a round trip.
    assert_eq!(Schedule::Constant.rate(0.3, 7).to_bits(), 0.3f32.to_bits());
    for bad in [
        "step:0,0.1",
        "step:2",
        "cosine:0",
        "linear:0,1,5",
        "linear:0.5,1,0",
        "warmup:5",
        "step:2,-1",
    ] {
        assert!(bad.parse::<Schedule>().is_err(), "{bad}");
    }
}

#[test]
fn training_uses_the_scheduled_rate_each_epoch() {
    let data = random_dataset(12, 3, 600);
    let run = |epochs: usize, schedule: &str| {
        let config = TrainConfig {
            run: RunConfig {
                epochs,
                ..RunConfig::default()
            },
            setting: Setting {
                schedule: schedule.parse().unwrap(),
                ..Setting::default()
            },
            compute: Compute {
                threads: Some(2),
                ..Compute::default()
            },
            ..TrainConfig::default()
        };
        train(&data, &config, |_| std::ops::ControlFlow::Continue(())).unwrap()
    };
    // A rate of 0 from epoch 2 on: three epochs leave the model of one.
    let frozen = run(3, "step:1,0");
    assert_eq!(frozen.model, run(1, "constant").model);
    assert_eq!(frozen.epochs[1].learning_rate, 0.0);
    // Halving from epoch 2 differs from the constant rate from there on.
    let halved = run(2, "step:1,0.5");
    assert_eq!(halved.epochs[1].learning_rate, 0.05);
    assert_ne!(halved.model, run(2, "constant").model);
}

#[test]
fn the_commands_take_schedules_and_say_so() {
    let data = common::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let output = softreg(&[
        "train",
        "--epochs",
        "2",
        "--schedule",
        "linear:0.5,1,2",
        "--json",
        "--data",
        data,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["lr"].as_f64().unwrap() as f32, 0.05);
    assert_eq!(lines[2]["lr"].as_f64().unwrap() as f32, 0.075);

    let output = softreg(&["train", "--schedule", "step:0,0.1", "--data", data]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("StepLR"), "{}", stderr(&output));

    let output = softreg(&[
        "sweep",
        "--epochs",
        "1",
        "--validation",
        "1000",
        "--schedule",
        "constant;cosine:3",
        "--data",
        data,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.contains("cosine:3,0"), "{text}");
}
