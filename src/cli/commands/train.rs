//! `softreg train`.

use std::time::Instant;

use softreg::app::figures::curves;
use softreg::app::{json, report};
use softreg::data::Dataset;
use softreg::model_file;
use softreg::output::same_file;
use softreg::train::{Checkpoint, Continuity, train_resumable};

use super::{Outcome, go_on, save_model, save_picture, standardized, training_outputs};
use crate::cli::args::{OptimizerArg, TrainArgs};
use crate::cli::convert;
use crate::cli::stdout::{Output, Stdout, progress_bar};

pub fn run(args: TrainArgs, out: &mut Stdout) -> Outcome {
    if args.optimizer.0 == [OptimizerArg::Lbfgs] {
        return super::fit::run(args, out);
    }
    let start = Instant::now();
    let mut config = convert::train_config(&args)?;
    let dir = &args.data.data;
    let outputs = [
        Output::file("--save", args.save.as_deref()),
        Output::plot(args.plot.as_deref()),
        Output::file("--checkpoint", args.checkpoint.as_deref()),
    ];
    // A run may go on writing the checkpoint it resumes from.
    let resume_read = match (&args.resume, &args.checkpoint) {
        (Some(resume), Some(checkpoint)) if same_file(resume, checkpoint) => None,
        (resume, _) => resume.as_deref().map(|path| ("--resume", path)),
    };
    let reads: Vec<_> = (args
        .init
        .as_deref()
        .map(|path| ("--init", path))
        .into_iter())
    .chain(resume_read)
    .collect();
    let [save, plot, checkpoint] = training_outputs(outputs, dir, &reads)?;
    let checkpoint_read = match &args.resume {
        Some(path) => Some(Checkpoint::load(path)?),
        None => None,
    };
    if let Some(path) = &args.init {
        config.init = Some(model_file::load(path)?.0);
    }
    let mut data = Dataset::load_as(dir, args.classes.classes, convert::pixels(args.pixels))?;
    config.compute.kernel = convert::kernel(&args.compute.kernel, &data);
    config.check(&data)?;
    let trained_on = data.train.len() - config.run.validation;
    let standardization = standardized(args.standardize.standardize, (dir, &mut data), trained_on)?;
    let json = args.json.json;
    let resume = match (&args.resume, &checkpoint_read) {
        (Some(path), Some(checkpoint)) => Some(checkpoint.resume(path, &data, &config)?),
        _ => None,
    };
    if json {
        out.println(json::header(dir, &data, trained_on, &config.settings()));
    } else {
        out.println(report::run_header(dir, &data, &config));
        if let Some(path) = &args.init {
            out.println(format_args!(
                "starting from the weights of {}",
                path.display()
            ));
        }
        if let (Some(path), Some(checkpoint)) = (&args.resume, &checkpoint_read) {
            out.println(format_args!(
                "resuming {} after epoch {}",
                path.display(),
                checkpoint.epochs()
            ));
        }
    }
    let flop = report::flop_per_sample(data.train.images.features(), data.classes);
    let progress = progress_bar(config.run.epochs.saturating_mul(trained_on));
    let files_to_write = save.is_some() || plot.is_some() || checkpoint.is_some();
    let continuity = Continuity {
        checkpoint: checkpoint.as_deref(),
        resume,
    };
    let trained = train_resumable(
        &data,
        &config,
        continuity,
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
