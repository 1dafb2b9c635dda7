//! `softreg predict`: test images with their labels, or the user's pictures
//! classified.

use serde_json::json;
use softreg::app::figures::predictions;
use softreg::app::report::printable;
use softreg::app::user_image;
use softreg::data;
use softreg::eval;
use softreg::model::Model;
use softreg::model_file;

use super::{Outcome, save_picture};
use crate::cli::args::PredictArgs;
use crate::cli::convert::UsageError;
use crate::cli::stdout::{Output, Stdout, colour, prepare_outputs};

/// Classes printed per picture of the user's.
const TOP: usize = 3;

pub fn run(args: PredictArgs, out: &mut Stdout) -> Outcome {
    let dir = &args.data.data;
    let data_files = data::files_of(dir);
    let mut inputs = vec![("--model", args.model.as_path())];
    inputs.extend(data_files.iter().map(|p| ("data file", p.as_path())));
    inputs.extend(args.image.iter().map(|p| ("--image", p.as_path())));
    inputs.extend(args.input.iter().map(|p| ("--input", p.as_path())));
    let [plot, probabilities] = prepare_outputs(
        [
            Output {
                flag: "--plot",
                path: args.plot.as_deref(),
                picture: true,
            },
            Output {
                flag: "--probabilities",
                path: args.probabilities.as_deref(),
                picture: false,
            },
        ],
        &inputs,
    )?;
    let (model, info) = model_file::load(&args.model)?;
    if let Some(input) = &args.input {
        let samples = data::load_npy_samples(input, data::PixelFormat::F32)?;
        if samples.features() != model.features {
            return Err(UsageError(format!(
                "--input {}: its samples have {} features; the model {} takes {}",
                input.display(),
                samples.features(),
                args.model.display(),
                model.features
            ))
            .into());
        }
        return classify_samples(
            &samples,
            (&model, &info.class_names),
            probabilities,
            args.json.json,
            out,
        );
    }
    if !args.image.is_empty() {
        for path in &args.image {
            let prepared = user_image::prepare(path, info.image_shape)?;
            let ranked = user_image::ranked_probabilities(&model, &prepared.pixels);
            if args.json.json {
                out.println(json!({
                    "type": "prediction",
                    "image": path.display().to_string(),
                    "inverted": prepared.inverted,
                    "top": top_json(&ranked, &info.class_names),
                }));
            } else {
                let note = if prepared.inverted { " (inverted)" } else { "" };
                let top = top_text(&ranked, &info.class_names);
                out.println(format_args!("{}{note}: {top}", path.display()));
            }
        }
        return Ok(());
    }
    let test = eval::test_split_for(dir, (&args.model, &model), info.image_shape)?;
    if plot.is_some() && test.images.shape().0 == 1 {
        let (_, features) = test.images.shape();
        return Err(UsageError(format!(
            "--plot draws images, and the samples of {} are vectors of {features} features; \
             --json prints the predictions",
            dir.display()
        ))
        .into());
    }
    let predicted = predictions::predict_first(&model, &test, args.count);
    if let Some(path) = &plot {
        let (canvas, _) = predictions::figure(&test, &predicted, &info.class_names);
        save_picture(&canvas, ("--plot", path))?;
    }
    if args.json.json {
        for (index, &guess) in predicted.iter().enumerate() {
            let truth = test.labels[index] as usize;
            out.println(json!({
                "type": "prediction",
                "index": index,
                "label": truth,
                "label_name": info.class_names[truth],
                "predicted": guess,
                "predicted_name": info.class_names[guess],
                "correct": guess == truth,
            }));
        }
    } else if let Some(path) = &plot {
        let shown = predicted.len();
        out.println(format_args!("wrote {} ({shown} images)", path.display()));
    } else {
        let text = predictions::terminal(&test, &predicted, &info.class_names, colour());
        out.print(&text);
    }
    Ok(())
}

/// Rows classified per pass, so that the probabilities held at once stay small.
const ROWS_PER_PASS: usize = 4096;

/// Every sample's class probabilities: into the `.npy` file `probabilities`
/// (float32, samples x classes, written whole and atomically), or printed, one
/// line (or JSON object) per sample with its three likeliest classes.
fn classify_samples(
    samples: &data::Images,
    (model, class_names): (&Model, &[String]),
    probabilities: Option<std::path::PathBuf>,
    json: bool,
    out: &mut Stdout,
) -> Outcome {
    let rows = samples.len();
    if let Some(path) = probabilities {
        let bytes = (rows as u64)
            .saturating_mul(model.classes as u64)
            .saturating_mul(8);
        if let Some(available) = softreg::input::memory_shortfall(bytes) {
            return Err(format!(
                "--probabilities {}: {rows} samples x {} classes need {} of memory, {} is available",
                path.display(),
                model.classes,
                softreg::input::human_bytes(bytes),
                softreg::input::human_bytes(available)
            )
            .into());
        }
        let mut values = Vec::with_capacity(rows * model.classes);
        for start in (0..rows).step_by(ROWS_PER_PASS) {
            let pass =
                eval::probabilities(model, samples, start..(start + ROWS_PER_PASS).min(rows));
            values.extend(pass.iter().flatten().map(|&p| p as f32));
        }
        let file = data::npy::f32_file(&[rows, model.classes], &values);
        softreg::output::write_atomically(&path, &file)
            .map_err(|e| format!("--probabilities {}: {e}", path.display()))?;
        out.println(format_args!(
            "wrote {} ({rows} samples x {} classes)",
            path.display(),
            model.classes
        ));
        return Ok(());
    }
    for start in (0..rows).step_by(ROWS_PER_PASS) {
        let pass = eval::probabilities(model, samples, start..(start + ROWS_PER_PASS).min(rows));
        for (offset, p) in pass.into_iter().enumerate() {
            let ranked = user_image::ranked(p);
            let index = start + offset;
            if json {
                out.println(json!({
                    "type": "prediction",
                    "index": index,
                    "top": top_json(&ranked, class_names),
                }));
            } else {
                out.println(format_args!("{index}: {}", top_text(&ranked, class_names)));
            }
        }
    }
    Ok(())
}

/// The [`TOP`] likeliest classes of `ranked` as JSON objects: class, name,
/// probability.
fn top_json(ranked: &[(usize, f64)], class_names: &[String]) -> Vec<serde_json::Value> {
    ranked
        .iter()
        .take(TOP)
        .map(|&(c, p)| json!({"class": c, "name": class_names[c], "probability": p}))
        .collect()
}

/// The [`TOP`] likeliest classes of `ranked` as text: `Sneaker 91.2%, ...`.
fn top_text(ranked: &[(usize, f64)], class_names: &[String]) -> String {
    let top: Vec<String> = ranked
        .iter()
        .take(TOP)
        .map(|&(c, p)| format!("{} {:.1}%", printable(&class_names[c]), 100.0 * p))
        .collect();
    top.join(", ")
}
