//! `softreg sweep`.

use std::time::Instant;

use softreg::app::figures::sweep as sweep_figure;
use softreg::app::{json, report, sweep_report};
use softreg::data::{Dataset, PixelFormat};
use softreg::train::sweep;

use super::{Outcome, go_on, save_model, save_picture, standardized, training_outputs};
use crate::cli::args::{OptimizerArg, SweepArgs};
use crate::cli::convert;
use crate::cli::stdout::{Output, Stdout, progress_bar};

pub fn run(args: SweepArgs, out: &mut Stdout) -> Outcome {
    if args.optimizer.0.contains(&OptimizerArg::Lbfgs) {
        return super::fit::sweep(args, out);
    }
    let start = Instant::now();
    let (grid, mut config) = convert::sweep_config(&args)?;
    let dir = &args.data.data;
    let outputs = [
        Output::file("--save-best", args.save_best.as_deref()),
        Output::plot(args.plot.as_deref()),
    ];
    let [save, plot] = training_outputs(outputs, dir, &[])?;
    let mut data = Dataset::load_as(dir, args.classes.classes, PixelFormat::U8)?;
    config.compute.kernel = convert::kernel(&args.compute.kernel, &data);
    config.check(&data)?;
    let trained_on = data.train.len() - config.run.validation;
    let standardization = standardized(args.standardize.standardize, (dir, &mut data), trained_on)?;
    let json = args.json.json;
    if json {
        let mut settings = config.run.settings();
        settings.push(("data_seed", config.data_seed.to_string()));
        settings.push(("models", config.settings.len().to_string()));
        settings.push(("kernel", config.compute.describe()));
        out.println(json::header(dir, &data, trained_on, &settings));
    } else {
        out.println(sweep_report::header(dir, &data, &config, &grid));
    }
    let progress = progress_bar(config.run.epochs.saturating_mul(trained_on));
    let files_to_write = save.is_some() || plot.is_some();
    let swept = sweep(
        &data,
        &config,
        |epoch, models| {
            if !json {
                progress.suspend(|| out.println(sweep_report::epoch_line(epoch, models)));
            }
            go_on(out, files_to_write)
        },
        |samples| progress.set_position(samples as u64),
    );
    progress.finish_and_clear();
    let swept = swept?;
    let Some(best) = swept.best() else {
        if !json {
            out.print(&sweep_report::table(&swept));
        }
        return Err(
            "every model diverged, so nothing is written; lower the learning rates (--lr)".into(),
        );
    };
    if let Some(path) = &save {
        let mut settings = config.run.settings();
        settings.extend(best.setting.settings());
        settings.extend([
            ("data_seed", config.data_seed.to_string()),
            ("epoch", best.chosen_epoch().unwrap_or(0).to_string()),
            ("val_acc", best.val_acc().unwrap_or(f64::NAN).to_string()),
            (
                "selected_by",
                format!(
                    "best val acc of a {}-model sweep, at its best epoch",
                    swept.models.len()
                ),
            ),
        ]);
        let test_accuracy = best.test.map(|t| t.accuracy);
        let data = (dir.as_path(), &data);
        let model = (best.chosen_model(), standardization.as_ref());
        save_model(path, model, data, settings, test_accuracy)?;
    }
    if let Some(path) = &plot {
        save_picture(&sweep_figure::draw(&swept), ("--plot", path))?;
    }
    let total = start.elapsed().as_secs_f64();
    if json {
        for model in &swept.models {
            out.println(sweep_report::model_json(model));
        }
        out.println(sweep_report::summary_json(&swept, total));
    } else {
        let flop = report::flop_per_sample(data.train.images.features(), data.classes);
        out.print(&sweep_report::table(&swept));
        out.println(sweep_report::summary_line(&swept, flop, total));
        if let Some(path) = &args.save_best {
            out.println(format_args!("best model saved to {}", path.display()));
        }
    }
    Ok(())
}
