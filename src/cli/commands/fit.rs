//! `softreg train --optimizer lbfgs`: a full-batch fit to the optimum.

use softreg::app::{fit_report, json};
use std::error::Error;
use std::path::Path;

use softreg::data::standardize::Standardization;
use softreg::data::{Dataset, PixelFormat};
use softreg::fit::FitConfig;
use softreg::fit::lbfgs::LbfgsStop;
use softreg::fit::{Fitted, fit};

use super::{Outcome, save_model, standardized, training_outputs};
use crate::cli::args::{KernelChoice, SweepArgs, TrainArgs};
use crate::cli::convert;
use crate::cli::stdout::{Output, Stdout};

pub fn run(args: TrainArgs, out: &mut Stdout) -> Outcome {
    let mut config = convert::fit_config(&args)?;
    let dir = &args.data.data;
    let [save] = training_outputs([Output::file("--save", args.save.as_deref())], dir, &[])?;
    let source = (
        dir.as_path(),
        args.classes.classes,
        convert::pixels(args.pixels),
    );
    let (data, standardization) = load(
        &mut config,
        source,
        &args.compute.kernel,
        args.standardize.standardize,
    )?;
    let json = args.json.json;
    out.println(header(json, (dir, &data), &config));
    let fitted = fit(&data, &config, |iteration| {
        if json {
            out.println(fit_report::iteration_json(iteration));
        } else {
            out.println(fit_report::iteration_line(iteration));
        }
    })?;
    let model = &fitted.models[0];
    if let Some(path) = &save {
        save_fitted(path, model, (dir, &data), standardization.as_ref(), &config)?;
    }
    if json {
        out.println(fit_report::summary_json(&fitted));
    } else {
        out.println(fit_report::summary_line(&fitted, config.solver.gtol));
        if let Some(path) = &args.save {
            out.println(format_args!("model saved to {}", path.display()));
        }
    }
    if model.last.stop == Some(LbfgsStop::MaxIterations) {
        eprintln!(
            "warning: not converged: the largest gradient component is {:.3e}, above --tol {:e}, \
             after --max-iter {} iterations; raise --max-iter to go on",
            model.last.gradient_max, config.solver.gtol, config.solver.max_iter
        );
    }
    Ok(())
}

/// `softreg sweep --optimizer lbfgs`: one fit per penalty, together.
pub fn sweep(args: SweepArgs, out: &mut Stdout) -> Outcome {
    let mut config = convert::fit_sweep_config(&args)?;
    let dir = &args.data.data;
    let outputs = [Output::file("--save-best", args.save_best.as_deref())];
    let [save] = training_outputs(outputs, dir, &[])?;
    let source = (dir.as_path(), args.classes.classes, PixelFormat::U8);
    let (data, standardization) = load(
        &mut config,
        source,
        &args.compute.kernel,
        args.standardize.standardize,
    )?;
    let trained_on = config.trained_on(&data);
    let json = args.json.json;
    out.println(header(json, (dir, &data), &config));
    let fitted = fit(&data, &config, |iteration| {
        if json {
            out.println(fit_report::iteration_json(iteration));
        } else if iteration.stop.is_some() {
            out.println(fit_report::stopped_line(&config, iteration, trained_on));
        }
    })?;
    let Some(best) = fitted.best() else {
        return Err("no model has a validation score to rank by (--validation)".into());
    };
    if let Some(path) = &save {
        save_fitted(path, best, (dir, &data), standardization.as_ref(), &config)?;
    }
    if json {
        out.println(fit_report::summary_json(&fitted));
    } else {
        out.print(&fit_report::sweep_table(&fitted));
        if let Some(path) = &args.save_best {
            out.println(format_args!(
                "best ({}) saved to {}",
                best.penalty.describe(),
                path.display()
            ));
        }
    }
    Ok(())
}

/// What both commands do before fitting: load the data, resolve `--kernel`
/// for its shape, check the fit, and standardize when asked.
fn load(
    config: &mut FitConfig,
    (dir, classes, pixels): (&Path, Option<usize>, PixelFormat),
    kernel: &KernelChoice,
    standardize: bool,
) -> Result<(Dataset, Option<Standardization>), Box<dyn Error>> {
    let mut data = Dataset::load_as(dir, classes, pixels)?;
    config.compute.kernel = convert::kernel(kernel, &data);
    config.check(&data)?;
    let trained_on = config.trained_on(&data);
    let standardization = standardized(standardize, (dir, &mut data), trained_on)?;
    Ok((data, standardization))
}

/// Saves a fitted model with its penalty, λ, iterations, objective and stop
/// in the metadata.
fn save_fitted(
    path: &Path,
    model: &Fitted,
    (dir, data): (&Path, &Dataset),
    standardization: Option<&Standardization>,
    config: &FitConfig,
) -> Outcome {
    let mut settings = vec![
        ("optimizer", "lbfgs".to_string()),
        ("penalty", model.penalty.describe()),
        ("lambda", model.lambda.to_string()),
        ("tol", config.solver.gtol.to_string()),
        ("iterations", model.last.iteration.to_string()),
        ("objective", model.last.objective.to_string()),
        ("gradient_max", model.last.gradient_max.to_string()),
        ("kernel", config.compute.describe()),
    ];
    if let Some(stop) = model.last.stop {
        settings.push(("stop", fit_report::stop_name(stop).to_string()));
    }
    if let Some(from) = model.from {
        let optimum = format!("{}'s optimum", config.penalties[from].describe());
        settings.push(("started_from", optimum));
    }
    let test_accuracy = model.last.test.map(|t| t.accuracy);
    save_model(
        path,
        (&model.model, standardization),
        (dir, data),
        settings,
        test_accuracy,
    )
}

/// The fit's first line: the text header, or the JSON header record.
fn header(json: bool, (dir, data): (&Path, &Dataset), config: &FitConfig) -> String {
    match json {
        true => {
            let trained_on = config.trained_on(data);
            json::header(dir, data, trained_on, &config.settings()).to_string()
        }
        false => fit_report::header(dir, data, config),
    }
}
