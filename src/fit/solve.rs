//! A fit's loop: passes over the training rows, each evaluating every model
//! solving at its own trial point, until every model has stopped; then each
//! model is scored on the held-out rows.

use std::sync::Arc;
use std::time::Instant;

use super::config::{FitConfig, Start};
use super::full_batch::{self, PassBuffers, PassSums};
use super::lbfgs::{Lbfgs, LbfgsProgress, Preconditioner};
use super::path::{Member, STARTED, solving};
use super::precondition::{Gram, GramPreconditioner};
use super::{Fit, FitIteration, Fitted};
use crate::data::Dataset;
use crate::eval::evaluate_models;
use crate::kernel::Engine;
use crate::model::Model;

/// [`super::fit`]'s loop with `engine`, on the current rayon pool: each
/// pass evaluates every model solving ([`solving`]) at its trial point.
pub(super) fn fit_with<E: Engine>(
    engine: &E,
    data: &Dataset,
    config: &FitConfig,
    mut on_iteration: impl FnMut(&FitIteration),
) -> Fit {
    let start = Instant::now();
    let train = &data.train;
    let (features, classes) = (train.images.features(), data.classes);
    let n = config.trained_on(data);
    let rows: Vec<usize> = (0..n).collect();
    let zeros = Model::zeros(features, classes);
    let gram = config
        .uses_gram(data)
        .then(|| Gram::sample(&train.images, n));
    let positions: Arc<[usize]> = match gram {
        Some(_) => class_major_positions(engine, features, classes).into(),
        None => Arc::new([]),
    };
    let lambdas: Vec<f64> = config.penalties.iter().map(|p| p.lambda(n)).collect();
    let mut path: Vec<usize> = (0..lambdas.len()).collect();
    path.sort_by(|&a, &b| lambdas[b].total_cmp(&lambdas[a]).then(a.cmp(&b)));
    let mut members: Vec<Member<E::Weights>> = lambdas
        .iter()
        .enumerate()
        .map(|(m, &lambda)| {
            let preconditioner = gram.as_ref().and_then(|gram| {
                let m = GramPreconditioner::new(gram, classes, lambda, positions.clone())?;
                Some(Arc::new(m) as Arc<dyn Preconditioner>)
            });
            let from_zero = config.start == Start::Zero || m == path[0];
            let solver = from_zero.then(|| {
                let x0 = vec![0.0; (features + 1) * classes];
                Lbfgs::preconditioned(x0, config.solver, preconditioner.clone())
            });
            Member {
                solver,
                preconditioner,
                lambda,
                weights: engine.weights(&zeros),
            }
        })
        .collect();
    let threads = rayon::current_num_threads();
    let mut buffers = PassBuffers::new((features, classes), config.models_per_pass(), n, threads);
    let mut last: Vec<Option<FitIteration>> = vec![None; members.len()];
    let mut passes = 0;
    loop {
        let solving = solving(&mut members, config, &path);
        if solving.is_empty() {
            break;
        }
        for &m in &solving {
            let Member {
                solver, weights, ..
            } = &mut members[m];
            set_weights::<E>(weights, solver.as_ref().expect(STARTED).point());
        }
        let weights: Vec<&E::Weights> = solving.iter().map(|&m| &members[m].weights).collect();
        let sums = full_batch::pass(engine, (train, classes), &rows, &weights, &mut buffers);
        passes += 1;
        for (&m, sums) in solving.iter().zip(sums) {
            let Member {
                solver,
                weights,
                lambda,
                ..
            } = &mut members[m];
            let solver = solver.as_mut().expect(STARTED);
            let (f, gradient) = objective::<E>(weights, &sums, *lambda, n);
            if solver.tell(f, &gradient) == LbfgsProgress::Searching {
                continue;
            }
            let stop = solver.stopped();
            let iteration = solver.iterations();
            let scored = stop.is_some()
                || (config.test_every > 0 && iteration > 0 && iteration % config.test_every == 0);
            let test = data.test.as_ref().filter(|_| scored).map(|split| {
                set_weights::<E>(weights, solver.x());
                evaluate_models(engine, &[&*weights], split, 0..split.len())[0]
            });
            let report = FitIteration {
                model: m,
                iteration,
                objective: solver.objective(),
                gradient_max: solver.gradient_max(),
                step: solver.last_step(),
                evaluations: solver.evaluations(),
                test,
                seconds: start.elapsed().as_secs_f64(),
                stop,
            };
            // A stop without a new step (the line search found none) is not
            // an iteration: it only updates the last one's score and stop.
            let repeated = last[m].as_ref().is_some_and(|l| l.iteration == iteration);
            if !repeated {
                on_iteration(&report);
            }
            last[m] = Some(report);
        }
    }
    let held_out = n..train.len();
    // On a path each model after the first started from its predecessor's.
    let mut from = vec![None; members.len()];
    if config.start == Start::Path {
        for pair in path.windows(2) {
            from[pair[1]] = Some(pair[0]);
        }
    }
    let models = members
        .into_iter()
        .zip(last)
        .zip(&config.penalties)
        .zip(from)
        .map(|(((mut member, last), &penalty), from)| {
            set_weights::<E>(&mut member.weights, member.solver.expect(STARTED).x());
            let validation = (!held_out.is_empty())
                .then(|| evaluate_models(engine, &[&member.weights], train, held_out.clone())[0]);
            Fitted {
                penalty,
                lambda: member.lambda,
                model: engine.model(&member.weights),
                last: last.expect("every model reports its stop"),
                from,
                validation,
            }
        })
        .collect();
    Fit {
        models,
        passes,
        rows: n,
        gram_rows: gram.map(|g| g.rows()),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// For each weight in `E`'s layout, its index in the class-major matrix
/// ([`Model::weights`]): read back from two models whose weights are their
/// own indices' low and high digits (each exact in f32).
fn class_major_positions<E: Engine>(engine: &E, features: usize, classes: usize) -> Vec<usize> {
    const DIGIT: usize = 1 << 12;
    let digits = |digit: fn(usize) -> usize| {
        let model = Model {
            weights: (0..features * classes).map(|i| digit(i) as f32).collect(),
            ..Model::zeros(features, classes)
        };
        let mut weights = engine.weights(&model);
        E::params(&mut weights).0.to_vec()
    };
    let (low, high) = (digits(|i| i % DIGIT), digits(|i| i / DIGIT));
    low.iter()
        .zip(&high)
        .map(|(&low, &high)| high as usize * DIGIT + low as usize)
        .collect()
}

/// Writes `x` (the weights in the engine's layout, then the bias) into
/// `weights`, rounded to f32.
pub(super) fn set_weights<E: Engine>(weights: &mut E::Weights, x: &[f64]) {
    let (w, b) = E::params(weights);
    let (xw, xb) = x.split_at(w.len());
    for (w, x) in w.iter_mut().chain(b.iter_mut()).zip(xw.iter().chain(xb)) {
        *w = *x as f32;
    }
}

/// The objective and its gradient at the f32 `weights` the pass used: the
/// mean loss and gradient of `n` rows from `sums`, plus (λ/2)‖W‖² and λW.
pub(super) fn objective<E: Engine>(
    weights: &mut E::Weights,
    sums: &PassSums,
    lambda: f64,
    n: usize,
) -> (f64, Vec<f64>) {
    let (w, _) = E::params(weights);
    let scale = 1.0 / n as f64;
    let mut gradient: Vec<f64> = sums.gradient.iter().map(|g| g * scale).collect();
    let mut norm = 0.0;
    for (g, &w) in gradient.iter_mut().zip(w.iter()) {
        let w = f64::from(w);
        norm += w * w;
        *g += lambda * w;
    }
    (sums.loss_sum * scale + 0.5 * lambda * norm, gradient)
}
