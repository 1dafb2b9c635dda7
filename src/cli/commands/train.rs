//! `softreg train`.

use std::time::Instant;

use softreg::app::figures::curves;
use softreg::app::report;
use softreg::data::Dataset;
use softreg::train::train_with_progress;

use super::{Outcome, go_on, save_model, save_picture, standardized, training_outputs};
use crate::cli::args::{OptimizerArg, TrainArgs};
use crate::cli::convert;
use crate::cli::stdout::{Stdout, progress_bar};

pub fn run(args: TrainArgs, out: &mut Stdout) -> Outcome {
    if args.optimizer == OptimizerArg::Lbfgs {
        return super::fit::run(args, out);
    }
    let start = Instant::now();
    let mut config = convert::train_config(&args)?;
    let dir = &args.data.data;
    let [save, plot] =
        training_outputs(("--save", args.save.as_deref()), args.plot.as_deref(), dir)?;
    let mut data = Dataset::load_as(dir, args.classes.classes, convert::pixels(args.pixels))?;
    config.kernel = convert::kernel(&args.kernel, &data);
    config.check(&data)?;
    let trained_on = data.train.len() - config.run.validation;
    let standardization = standardized(args.standardize.standardize, (dir, &mut data), trained_on)?;
    let json = args.json.json;
    if !json {
        out.println(report::run_header(dir, &data, &config));
    }
    let flop = report::flop_per_sample(data.train.images.features(), data.classes);
    let progress = progress_bar(config.run.epochs.saturating_mul(trained_on));
    let files_to_write = save.is_some() || plot.is_some();
    let trained = train_with_progress(
        &data,
        &config,
        |epoch| {
            progress.suspend(|| {
                if json {
                    out.println(report::epoch_json(epoch));
                } else {
                    out.println(report::epoch_line(epoch, flop));
                }
            });
            go_on(out, files_to_write)
        },
        |samples| progress.set_position(samples as u64),
    );
    progress.finish_and_clear();
    let trained = trained?;
    let settings = config.settings();
    let (model, chosen) = trained.chosen();
    if let Some(path) = &save {
        let mut settings = settings.clone();
        if let Some(chosen) = chosen {
            settings.push(("epoch", chosen.epoch.to_string()));
        }
        let test_accuracy = chosen.and_then(|e| e.test).map(|t| t.accuracy);
        let data = (dir.as_path(), &data);
        save_model(
            path,
            (model, standardization.as_ref()),
            data,
            settings,
            test_accuracy,
        )?;
    }
    if let Some(path) = &plot {
        save_picture(&curves::draw(&trained.epochs), ("--plot", path))?;
    }
    let total = start.elapsed().as_secs_f64();
    if json {
        out.println(report::summary_json(&trained, &settings, total));
    } else {
        out.println(report::summary_line(&trained, config.run.patience, total));
        if let Some(path) = &args.save {
            let epoch = match (&trained.best, chosen) {
                (Some(_), Some(e)) => {
                    format!(" (epoch {}, the best by validation accuracy)", e.epoch)
                }
                _ => String::new(),
            };
            out.println(format_args!("model saved to {}{epoch}", path.display()));
        }
    }
    Ok(())
}
