//! What `train --optimizer lbfgs` prints: its header, a line (or a JSON
//! object) per iteration, and the summary with why the solver stopped.

use std::path::Path;

use serde_json::json;

use super::report::{format_duration, threads};
use crate::data::Dataset;
use crate::train::fit::{Fit, FitConfig, FitIteration};
use crate::train::lbfgs::LbfgsStop;

/// The run's header: data, the penalty with its λ, the solver's settings,
/// threads and kernel.
pub fn header(dir: &Path, data: &Dataset, config: &FitConfig) -> String {
    let n = config.run.trained_on(data);
    let validation = if config.run.validation > 0 {
        format!(" + {} validation", config.run.validation)
    } else {
        String::new()
    };
    let penalties: Vec<String> = config
        .penalties
        .iter()
        .map(|p| format!("{} (λ {:.4e})", p.describe(), p.lambda(n)))
        .collect();
    let chunk_rows = crate::train::fit::PASS_CHUNK_ROWS;
    format!(
        "{}: {n} train{validation} images, {} features, {} classes; full-batch L-BFGS, {}, tol {:e}, \
         at most {} iterations, history {}; {}, {} kernel",
        dir.display(),
        data.train.images.features(),
        data.classes,
        penalties.join(", "),
        config.solver.gtol,
        config.solver.max_iter,
        config.solver.history,
        threads(config.run.threads, (n, chunk_rows)),
        config.kernel.describe(config.run.isa(), config.run.plan()),
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
        "summary": true,
        "passes": fit.passes,
        "rows": fit.rows,
        "seconds": fit.seconds,
        "models": models,
    })
}
