//! What `train --optimizer lbfgs` prints: its header, a line (or a JSON
//! object) per iteration, and the summary with why the solver stopped.

use std::path::Path;

use serde_json::json;

use super::report::{format_duration, threads};
use crate::data::Dataset;
use crate::fit::lbfgs::LbfgsStop;
use crate::fit::{Fit, FitConfig, FitIteration, Start};

/// The run's header: data, the penalty with its λ, the solver's settings
/// (with its preconditioner), threads and kernel.
pub fn header(dir: &Path, data: &Dataset, config: &FitConfig) -> String {
    let n = config.trained_on(data);
    let validation = if config.validation > 0 {
        format!(" + {} validation", config.validation)
    } else {
        String::new()
    };
    let penalties: Vec<String> = config
        .penalties
        .iter()
        .map(|p| format!("{} (λ {:.4e})", p.describe(), p.lambda(n)))
        .collect();
    let chunk_rows = crate::fit::PASS_CHUNK_ROWS;
    let preconditioner = if config.uses_gram(data) {
        "Gram-preconditioned"
    } else {
        "not preconditioned"
    };
    let start = match (config.penalties.len(), config.start) {
        (1, _) => "",
        (_, Start::Path) => {
            ", along the path: strongest first, each next from near the previous optimum"
        }
        (_, Start::Zero) => ", every strength from zero in lockstep",
    };
    format!(
        "{}: {n} train{validation} images, {} features, {} classes; full-batch L-BFGS, {}, tol {:e}, \
         at most {} iterations, history {}, {preconditioner}{start}; {}, {} kernel",
        dir.display(),
        data.train.images.features(),
        data.classes,
        penalties.join(", "),
        config.solver.gtol,
        config.solver.max_iter,
        config.solver.history,
        threads(config.compute.threads, (n, chunk_rows)),
        config.compute.describe(),
    )
}

/// `iter 12, objective 0.4123456789, max|grad| 3.21e-3, step 1.2e-1, 14
/// evaluations, test acc 0.8412  (0.21 s)`.
pub fn iteration_line(report: &FitIteration) -> String {
    let test = report
        .test
        .map(|t| format!(", test acc {:.4}", t.accuracy))
        .unwrap_or_default();
    format!(
        "iter {}, objective {:.10}, max|grad| {:.3e}, step {:.3e}, {} evaluations{test}  ({})",
        report.iteration,
        report.objective,
        report.gradient_max,
        report.step,
        report.evaluations,
        format_duration(report.seconds),
    )
}

/// An iteration as one JSON object.
pub fn iteration_json(report: &FitIteration) -> serde_json::Value {
    json!({
        "type": "iteration",
        "model": report.model,
        "iteration": report.iteration,
        "objective": report.objective,
        "gradient_max": report.gradient_max,
        "step": report.step,
        "evaluations": report.evaluations,
        "test_loss": report.test.map(|t| t.loss),
        "test_acc": report.test.map(|t| t.accuracy),
        "seconds": report.seconds,
        "stop": report.stop.map(stop_name),
    })
}

/// Why the solver stopped, in a word.
pub fn stop_name(stop: LbfgsStop) -> &'static str {
    match stop {
        LbfgsStop::Converged => "converged",
        LbfgsStop::ObjectiveStalled => "objective_stalled",
        LbfgsStop::MaxIterations => "max_iterations",
        LbfgsStop::LineSearchFailed => "line_search_failed",
        LbfgsStop::NotFinite => "not_finite",
    }
}

/// The summary of a one-model fit: why it stopped, after what, and the final
/// scores.
pub fn summary_line(fit: &Fit, tol: f64) -> String {
    let fitted = &fit.models[0];
    let last = &fitted.last;
    let why = match last.stop {
        Some(LbfgsStop::Converged) => format!(
            "converged: max|grad| {:.3e} <= tol {tol:e}",
            last.gradient_max
        ),
        Some(LbfgsStop::ObjectiveStalled) => format!(
            "stopped: the objective stopped decreasing (max|grad| {:.3e}, tol {tol:e})",
            last.gradient_max
        ),
        Some(LbfgsStop::MaxIterations) => format!(
            "not converged: max|grad| {:.3e} > tol {tol:e} after --max-iter iterations",
            last.gradient_max
        ),
        Some(LbfgsStop::LineSearchFailed) => format!(
            "stopped: no step lowers the objective at f32 precision (max|grad| {:.3e}, tol {tol:e})",
            last.gradient_max
        ),
        Some(LbfgsStop::NotFinite) | None => "stopped: the objective is not finite".to_string(),
    };
    let validation = fitted
        .validation
        .map(|v| format!(", val acc {:.4}", v.accuracy))
        .unwrap_or_default();
    let test = last
        .test
        .map_or("n/a".to_string(), |t| format!("{:.4}", t.accuracy));
    format!(
        "{why}; {} iterations, {} evaluations in {} passes over {} rows, {}; objective {:.10}{validation}, final test acc {test}",
        last.iteration,
        last.evaluations,
        fit.passes,
        fit.rows,
        format_duration(fit.seconds),
        last.objective,
    )
}

/// The summary as one JSON object.
pub fn summary_json(fit: &Fit) -> serde_json::Value {
    let models: Vec<serde_json::Value> = fit
        .models
        .iter()
        .map(|m| {
            json!({
                "penalty": m.penalty.describe(),
                "lambda": m.lambda,
                "from": m.from.map(|f| fit.models[f].penalty.describe()),
                "iterations": m.last.iteration,
                "evaluations": m.last.evaluations,
                "objective": m.last.objective,
                "gradient_max": m.last.gradient_max,
                "stop": m.last.stop.map(stop_name),
                "val_acc": m.validation.map(|v| v.accuracy),
                "test_loss": m.last.test.map(|t| t.loss),
                "test_acc": m.last.test.map(|t| t.accuracy),
            })
        })
        .collect();
    json!({
        "type": "summary",
        "passes": fit.passes,
        "rows": fit.rows,
        "gram_rows": fit.gram_rows,
        "seconds": fit.seconds,
        "models": models,
    })
}

/// A sweep's line for a model that stopped: `C 0.1 (λ 1.6667e-4):
/// converged after 120 iterations, objective 0.3913178, val acc 0.8512`.
pub fn stopped_line(fit_config: &FitConfig, report: &FitIteration, n: usize) -> String {
    let penalty = fit_config.penalties[report.model];
    format!(
        "{} (λ {:.4e}): {} after {} iterations, {} evaluations, objective {:.10}, max|grad| {:.3e}  ({})",
        penalty.describe(),
        penalty.lambda(n),
        report.stop.map_or("running", stop_name),
        report.iteration,
        report.evaluations,
        report.objective,
        report.gradient_max,
        format_duration(report.seconds),
    )
}

/// The sweep's table, best validation accuracy first, and what it took.
pub fn sweep_table(fit: &Fit) -> String {
    let mut order: Vec<usize> = (0..fit.models.len()).collect();
    let val = |i: usize| {
        fit.models[i]
            .validation
            .map_or(f64::NEG_INFINITY, |v| v.accuracy)
    };
    order.sort_by(|&a, &b| val(b).total_cmp(&val(a)).then(a.cmp(&b)));
    let mut table = format!(
        "{:<14} {:>11} {:>6} {:>14} {:>10} {:<20} {:>8} {:>8}\n",
        "penalty", "λ", "iters", "objective", "max|grad|", "stop", "val acc", "test acc"
    );
    for i in order {
        let m = &fit.models[i];
        let score = |e: Option<crate::eval::Evaluation>| {
            e.map_or("n/a".to_string(), |e| format!("{:.4}", e.accuracy))
        };
        table.push_str(&format!(
            "{:<14} {:>11.4e} {:>6} {:>14.10} {:>10.3e} {:<20} {:>8} {:>8}\n",
            m.penalty.describe(),
            m.lambda,
            m.last.iteration,
            m.last.objective,
            m.last.gradient_max,
            m.last.stop.map_or("running", stop_name),
            score(m.validation),
            score(m.last.test),
        ));
    }
    table.push_str(&format!(
        "{} fits in {} passes over {} rows, {}\n",
        fit.models.len(),
        fit.passes,
        fit.rows,
        format_duration(fit.seconds)
    ));
    table
}
