//! The full-batch L-BFGS fit: its objective and gradient against an f64
//! computation written out here (itself checked by finite differences), its
//! optimum against that computation's own optimum, with and without the
//! Gram preconditioner, its bits for any thread count and for strengths
//! fitted together or apart, and a path of strengths landing on each one's
//! optimum in fewer passes.

use crate::common;

use common::{softreg, softreg_stdout, stderr};
use softreg::app::bench_shape::random_dataset;
use softreg::compute::Compute;
use softreg::data::{Dataset, Images, Split};
use softreg::fit::lbfgs::{Lbfgs, LbfgsProgress, LbfgsSettings, LbfgsStop};
use softreg::fit::precondition::Preconditioning;
use softreg::fit::{FitConfig, Penalty, Start, fit, objective_at};
use softreg::kernel::Kernel;
use softreg::model::Model;
use softreg::random::SeededRng;

const FEATURES: usize = 20;
const CLASSES: usize = 4;
const SAMPLES: usize = 700;

/// The objective in f64, row by row, with the gradient as one flat vector
/// (row-major weights, then the bias): the reference everything is held to.
fn reference(data: &Dataset, lambda: f64, x: &[f64]) -> (f64, Vec<f64>) {
    let (w, b) = x.split_at(FEATURES * CLASSES);
    let images = &data.train.images;
    let n = data.train.len();
    let mut f = 0.0;
    let mut g = vec![0.0; x.len()];
    for i in 0..n {
        let row: Vec<f64> = images.row_f32(i).iter().map(|&v| f64::from(v)).collect();
        let z: Vec<f64> = (0..CLASSES)
            .map(|k| {
                b[k] + (0..FEATURES)
                    .map(|j| w[k * FEATURES + j] * row[j])
                    .sum::<f64>()
            })
            .collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        let label = data.train.labels[i] as usize;
        f += lse - z[label];
        for k in 0..CLASSES {
            let d = (z[k] - lse).exp() - f64::from(u8::from(k == label));
            for j in 0..FEATURES {
                g[k * FEATURES + j] += d * row[j];
            }
            g[FEATURES * CLASSES + k] += d;
        }
    }
    let mut norm = 0.0;
    for (i, v) in g.iter_mut().enumerate() {
        *v /= n as f64;
        if i < FEATURES * CLASSES {
            *v += lambda * x[i];
            norm += x[i] * x[i];
        }
    }
    (f / n as f64 + 0.5 * lambda * norm, g)
}

fn flat(model: &Model) -> Vec<f64> {
    model
        .weights
        .iter()
        .chain(&model.bias)
        .map(|&v| f64::from(v))
        .collect()
}

fn config(kernel: Kernel, penalties: Vec<Penalty>, threads: usize) -> FitConfig {
    FitConfig {
        compute: Compute {
            kernel,
            threads: Some(threads),
            ..Compute::default()
        },
        validation: 0,
        penalties,
        solver: LbfgsSettings {
            gtol: 1e-6,
            max_iter: 500,
            ..LbfgsSettings::default()
        },
        test_every: 0,
        preconditioning: Preconditioning::None,
        start: Start::Zero,
    }
}

/// Rows whose features share one strong common part and span two orders of
/// magnitude in scale, labelled by a planted linear model of their own
/// parts: ill-conditioned, as pixels are.
fn correlated_dataset() -> Dataset {
    let mut rng = SeededRng::new(9);
    let planted: Vec<f64> = (0..CLASSES * FEATURES)
        .map(|_| rng.normal(0.0, 1.0))
        .collect();
    let mut values = Vec::with_capacity(SAMPLES * FEATURES);
    let mut labels = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let common = rng.normal(0.0, 1.0);
        let own: Vec<f64> = (0..FEATURES).map(|_| rng.normal(0.0, 1.0)).collect();
        for (j, z) in own.iter().enumerate() {
            let scale = 100f64.powf(-(j as f64) / (FEATURES - 1) as f64);
            values.push((scale * (common + 0.2 * z)) as f32);
        }
        let score = |k: usize| {
            (0..FEATURES)
                .map(|j| planted[k * FEATURES + j] * own[j])
                .sum::<f64>()
        };
        let label = (0..CLASSES)
            .max_by(|&a, &b| score(a).total_cmp(&score(b)))
            .unwrap();
        labels.push(label as u32);
    }
    Dataset {
        train: Split {
            images: Images::from_f32(1, FEATURES, &values),
            labels,
        },
        test: None,
        classes: CLASSES,
        class_names: (0..CLASSES).map(|c| c.to_string()).collect(),
    }
}

fn random_model(seed: u64) -> Model {
    Model::init(FEATURES, CLASSES, &mut SeededRng::new(seed))
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    let data = random_dataset(FEATURES, CLASSES, SAMPLES);
    let x: Vec<f64> = flat(&random_model(3)).iter().map(|v| v * 30.0).collect();
    let (_, g) = reference(&data, 0.01, &x);
    for i in [0, 17, 45, FEATURES * CLASSES - 1, FEATURES * CLASSES + 2] {
        let h = 1e-6;
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (reference(&data, 0.01, &up).0 - reference(&data, 0.01, &down).0) / (2.0 * h);
        assert!(
            (numeric - g[i]).abs() < 1e-7,
            "component {i}: {numeric} vs {}",
            g[i]
        );
    }
}

/// Every kernel's objective within 1e-6 relative of the f64 one, and its
/// gradient within 1e-5 of the largest component (f32 arithmetic).
#[test]
fn every_kernel_computes_the_objective_and_gradient_of_the_reference() {
    let data = random_dataset(FEATURES, CLASSES, SAMPLES);
    let mut model = random_model(5);
    model.weights.iter_mut().for_each(|w| *w *= 30.0);
    for kernel in [Kernel::Fused, Kernel::Gemm, Kernel::Reference] {
        for penalty in [Penalty::C(0.5), Penalty::L2(0.0)] {
            let config = config(kernel, vec![penalty], 2);
            let (f, gradient) = objective_at(&data, &config, penalty, &model).unwrap();
            let (f_ref, g_ref) = reference(&data, penalty.lambda(SAMPLES), &flat(&model));
            assert!(
                (f - f_ref).abs() <= 1e-6 * f_ref,
                "{kernel:?}: {f} vs {f_ref}"
            );
            let scale = g_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (got, want) in flat(&gradient).iter().zip(&g_ref) {
                assert!(
                    (got - want).abs() <= 1e-5 * scale,
                    "{kernel:?}: {got} vs {want}"
                );
            }
        }
    }
}

/// The f64 reference's own optimum, by the same solver in f64.
fn reference_optimum(data: &Dataset, lambda: f64) -> (f64, Vec<f64>) {
    let settings = LbfgsSettings {
        gtol: 1e-12,
        ftol: 0.0,
        max_iter: 10_000,
        ..LbfgsSettings::default()
    };
    let mut solver = Lbfgs::new(vec![0.0; (FEATURES + 1) * CLASSES], settings);
    loop {
        let (f, g) = reference(data, lambda, solver.point());
        if let LbfgsProgress::Stopped(_) = solver.tell(f, &g) {
            return (solver.objective(), solver.x().to_vec());
        }
    }
}

#[test]
fn the_fit_lands_on_the_optimum_of_the_f64_objective() {
    let data = random_dataset(FEATURES, CLASSES, SAMPLES);
    for penalty in [Penalty::C(0.1), Penalty::C(10.0)] {
        let lambda = penalty.lambda(SAMPLES);
        let (f_opt, x_opt) = reference_optimum(&data, lambda);
        for (kernel, preconditioning) in [
            (Kernel::Fused, Preconditioning::None),
            (Kernel::Fused, Preconditioning::Gram),
            (Kernel::Gemm, Preconditioning::Gram),
        ] {
            let mut config = config(kernel, vec![penalty], 2);
            config.solver.gtol = 1e-8;
            config.preconditioning = preconditioning;
            let fitted = fit(&data, &config, |_| {}).unwrap();
            let model = &fitted.models[0];
            assert!(matches!(
                model.last.stop,
                Some(
                    LbfgsStop::Converged
                        | LbfgsStop::LineSearchFailed
                        | LbfgsStop::ObjectiveStalled
                )
            ));
            let (f, _) = reference(&data, lambda, &flat(&model.model));
            assert!(f >= f_opt - 1e-12, "below the optimum: {f} < {f_opt}");
            assert!(
                f - f_opt <= 1e-7 * f_opt,
                "{kernel:?} {penalty:?}: {f} vs {f_opt}"
            );
            let x = flat(&model.model);
            let far = x
                .iter()
                .zip(&x_opt)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                far < 1e-3,
                "{kernel:?} {penalty:?}: weights {far} from the optimum's"
            );
        }
    }
}

#[test]
fn the_gram_preconditioner_reaches_the_same_optimum_in_far_fewer_iterations() {
    let data = correlated_dataset();
    let penalty = Penalty::C(10.0);
    let lambda = penalty.lambda(SAMPLES);
    let (f_opt, _) = reference_optimum(&data, lambda);
    let mut iterations = Vec::new();
    for preconditioning in [Preconditioning::None, Preconditioning::Gram] {
        let mut config = config(Kernel::Fused, vec![penalty], 2);
        config.solver.gtol = 1e-7;
        config.solver.max_iter = 5000;
        config.preconditioning = preconditioning;
        let fitted = fit(&data, &config, |_| {}).unwrap();
        assert_eq!(
            fitted.gram_rows,
            (preconditioning == Preconditioning::Gram).then_some(SAMPLES)
        );
        let model = &fitted.models[0];
        let (f, _) = reference(&data, lambda, &flat(&model.model));
        assert!(
            (f - f_opt).abs() <= 1e-7 * f_opt,
            "{preconditioning:?}: {f} vs {f_opt}"
        );
        iterations.push(model.last.iteration);
    }
    assert!(
        3 * iterations[1] < iterations[0],
        "preconditioned {} iterations, plain {}",
        iterations[1],
        iterations[0]
    );
}

#[test]
fn a_fit_is_the_same_bits_for_any_thread_count_and_alone_or_together() {
    for preconditioning in [Preconditioning::None, Preconditioning::Gram] {
        same_bits_for_any_thread_count_and_alone_or_together(preconditioning);
    }
}

fn same_bits_for_any_thread_count_and_alone_or_together(preconditioning: Preconditioning) {
    let data = random_dataset(FEATURES, CLASSES, SAMPLES);
    let penalties = vec![Penalty::C(0.01), Penalty::C(1.0), Penalty::L2(0.003)];
    let config = |penalties: Vec<Penalty>, threads| FitConfig {
        preconditioning,
        ..config(Kernel::Fused, penalties, threads)
    };
    let together = fit(&data, &config(penalties.clone(), 1), |_| {}).unwrap();
    let three = fit(&data, &config(penalties.clone(), 3), |_| {}).unwrap();
    for (i, &penalty) in penalties.iter().enumerate() {
        let alone = fit(&data, &config(vec![penalty], 2), |_| {}).unwrap();
        assert_eq!(
            together.models[i].model, alone.models[0].model,
            "{penalty:?}"
        );
        assert_eq!(
            together.models[i].model, three.models[i].model,
            "{penalty:?}"
        );
        assert_eq!(
            together.models[i].last.iteration,
            alone.models[0].last.iteration
        );
    }
    // One pass per round evaluates every model still solving.
    let most = together
        .models
        .iter()
        .map(|m| m.last.evaluations)
        .max()
        .unwrap();
    assert_eq!(together.passes, most);
}

#[test]
fn a_path_lands_on_every_optimum_in_fewer_passes_the_same_bits_for_any_thread_count() {
    let data = correlated_dataset();
    // Out of order: the path takes the strongest penalty (smallest C) first.
    let strengths = [0.3, 0.01, 3.0, 0.03, 1.0, 0.1];
    let penalties: Vec<Penalty> = strengths.iter().map(|&c| Penalty::C(c)).collect();
    let config = |start, threads| FitConfig {
        solver: LbfgsSettings {
            gtol: 1e-8,
            max_iter: 2000,
            ..LbfgsSettings::default()
        },
        preconditioning: Preconditioning::Gram,
        start,
        ..config(Kernel::Fused, penalties.clone(), threads)
    };
    let path = fit(&data, &config(Start::Path, 2), |_| {}).unwrap();
    let zero = fit(&data, &config(Start::Zero, 2), |_| {}).unwrap();
    let by_strength: Vec<usize> = [1, 3, 5, 0, 4, 2].into();
    for (i, &m) in by_strength.iter().enumerate() {
        let from = i.checked_sub(1).map(|p| by_strength[p]);
        assert_eq!(path.models[m].from, from, "C {}", strengths[m]);
        assert_eq!(zero.models[m].from, None);
        let lambda = penalties[m].lambda(SAMPLES);
        let (f_opt, _) = reference_optimum(&data, lambda);
        let (f, _) = reference(&data, lambda, &flat(&path.models[m].model));
        assert!(
            (f - f_opt).abs() <= 1e-7 * f_opt,
            "C {}: {f} vs {f_opt}",
            strengths[m]
        );
    }
    // The fits one after another would take every model's evaluations.
    let apart: usize = zero.models.iter().map(|m| m.last.evaluations).sum();
    assert_eq!(
        path.passes,
        path.models
            .iter()
            .map(|m| m.last.evaluations)
            .sum::<usize>()
    );
    assert!(
        4 * path.passes < 3 * apart,
        "path {} passes, from zero {apart}",
        path.passes
    );
    let three = fit(&data, &config(Start::Path, 3), |_| {}).unwrap();
    for (a, b) in path.models.iter().zip(&three.models) {
        assert_eq!(a.model, b.model, "{:?}", a.penalty);
    }
}

#[test]
fn the_command_fits_reports_and_refuses_what_does_not_apply() {
    let data = common::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let output = softreg(&[
        "train",
        "--optimizer",
        "lbfgs",
        "--C",
        "0.1",
        "--max-iter",
        "3",
        "--data",
        data,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("full-batch L-BFGS, C 0.1 (λ 1.6667e-4)"),
        "{text}"
    );
    assert!(text.contains("iter 0, objective 2.302585"), "{text}");
    assert!(text.contains("history 10, Gram-preconditioned;"), "{text}");
    assert!(text.contains("iter 3, objective"), "{text}");
    assert!(text.contains("not converged"), "{text}");
    assert!(
        stderr(&output).contains("warning: not converged"),
        "{}",
        stderr(&output)
    );

    for (args, says) in [
        (&["--momentum", "0.9"][..], "--momentum"),
        (&["--C", "0"][..], "C 0"),
        (&["--C", "1", "--l2", "0.1"][..], "--l2"),
        (&["--tol", "-1"][..], "tolerance"),
        (&["--plot", "curves.png"][..], "--plot"),
        (&["--precondition", "cholesky"][..], "--precondition"),
    ] {
        let mut all = vec!["train", "--optimizer", "lbfgs", "--data", data];
        all.extend_from_slice(args);
        common::assert_refused(&softreg(&all), &args, says);
    }
    for flag in [&["--C", "1"][..], &["--precondition", "gram"][..]] {
        let mut args = vec!["train", "--data", data];
        args.extend_from_slice(flag);
        let output = softreg(&args);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains(&format!("{} is a flag of L-BFGS", flag[0])),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_sweep_fits_every_strength_and_saves_the_best() {
    let data = common::fashion_mnist_dir();
    let data = data.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.safetensors");
    let sweep = |more: &[&str]| {
        let mut args = vec![
            "sweep",
            "--optimizer",
            "lbfgs",
            "--C",
            "0.01,1",
            "--data",
            data,
        ];
        args.extend_from_slice(more);
        softreg_stdout(&args)
    };
    let text = sweep(&["--max-iter", "4", "--save-best", best.to_str().unwrap()]);
    assert!(
        text.contains("C 0.01 (λ 2.0000e-3): max_iterations after 4 iterations"),
        "{text}"
    );
    assert!(text.contains("2 fits in "), "{text}");
    assert!(text.contains("along the path"), "{text}");
    let (_, info) = softreg::model_file::load(&best).unwrap();
    let setting = |key: &str| {
        info.training
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(setting("optimizer"), Some("lbfgs"));
    // The path starts C 1 from C 0.01's optimum, and C 0.01 from zero.
    let started_from = match setting("penalty") {
        Some("C 1") => Some("C 0.01's optimum"),
        _ => None,
    };
    assert_eq!(setting("started_from"), started_from);
    let text = sweep(&["--max-iter", "2", "--from-zero"]);
    assert!(
        text.contains("every strength from zero in lockstep"),
        "{text}"
    );

    for (args, says) in [
        (&["--optimizer", "lbfgs,sgd"][..], "alone"),
        (&["--optimizer", "lbfgs", "--lr", "0.5"][..], "--lr"),
        (&["--optimizer", "lbfgs", "--C", "1,1"][..], "--C"),
        (&["--C", "1"][..], "--C is a flag of L-BFGS"),
        (&["--from-zero"][..], "--from-zero is a flag of L-BFGS"),
    ] {
        let mut all = vec!["sweep", "--data", data];
        all.extend_from_slice(args);
        common::assert_refused(&softreg(&all), &args, says);
    }
}
