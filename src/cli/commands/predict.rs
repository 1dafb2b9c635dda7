//! `softreg predict`: test images with their labels, or the user's pictures
//! classified.

use serde_json::json;
use softreg::app::figures::predictions;
use softreg::app::report::printable;
use softreg::app::user_image;
use softreg::checkpoint;
use softreg::data;
use softreg::eval;

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
    let [plot] = prepare_outputs(
        [Output {
            flag: "--plot",
            path: args.plot.as_deref(),
            picture: true,
        }],
        &inputs,
    )?;
    let (model, info) = checkpoint::load(&args.model)?;
    if !args.image.is_empty() {
        for path in &args.image {
            let prepared = user_image::prepare(path, info.image_shape)?;
            let ranked = user_image::ranked_probabilities(&model, &prepared.pixels);
            let top = ranked.iter().take(TOP);
            if args.json.json {
                let top: Vec<_> = top
                    .map(|&(c, p)| json!({"class": c, "name": info.class_names[c], "probability": p}))
                    .collect();
                out.println(json!({
                    "image": path.display().to_string(),
                    "inverted": prepared.inverted,
                    "top": top,
                }));
            } else {
                let top: Vec<String> = top
                    .map(|&(c, p)| format!("{} {:.1}%", printable(&info.class_names[c]), 100.0 * p))
                    .collect();
                let note = if prepared.inverted { " (inverted)" } else { "" };
                out.println(format_args!("{}{note}: {}", path.display(), top.join(", ")));
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
