//! Human-readable lines for the terminal.
//!
//! ```
//! use softreg::app::report::format_duration;
//! assert_eq!(format_duration(0.0123), "12.3 ms");
//! assert_eq!(format_duration(2.5), "2.50 s");
//! ```

use std::fmt::Write as _;

use std::path::Path;

use super::json;
use crate::compute::{cores, pool_size};
use crate::data::Dataset;
use crate::eval::{Evaluation, Metrics};
use crate::train::{EpochReport, Trained};
use crate::train::{TrainConfig, team_size};

/// The most classes whose confusion matrix the text report prints (a wider
/// one does not fit a terminal; the JSON report always has it).
pub const MAX_CONFUSION_CLASSES: usize = 30;

/// `text` safe to print on a terminal: control characters (escape sequences
/// that could set the window title or clear the screen, newlines, ...) are
/// written as escapes like `\u{1b}`.
///
/// ```
/// use softreg::app::report::printable;
/// assert_eq!(printable("Bag"), "Bag");
/// assert_eq!(printable("a\u{1b}]0;pwned\u{7}"), "a\\u{1b}]0;pwned\\u{7}");
/// ```
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Floating-point operations to train on one sample: a multiply-add per weight
/// for the logits and another for the weight gradient.
pub fn flop_per_sample(features: usize, classes: usize) -> f64 {
    4.0 * (features * classes) as f64
}

/// `n` things, singular or plural: `1 thread`, `2 threads`.
///
/// ```
/// use softreg::app::report::count;
/// assert_eq!(count(1, "thread"), "1 thread");
/// assert_eq!(count(8, "thread"), "8 threads");
/// ```
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The threads that train, for a requested count (`None`: all cores) and
/// minibatches of `batch_rows` rows cut into chunks of `chunk_rows`, and why
/// they differ from the request: `2 threads (all cores)`, `2 threads (8
/// asked, 2 cores)`, `1 thread`.
pub fn threads(requested: Option<usize>, (batch_rows, chunk_rows): (usize, usize)) -> String {
    let (pool, cores) = (pool_size(requested), cores());
    let team = team_size(pool, batch_rows.div_ceil(chunk_rows), false);
    let working = count(team, "thread");
    match requested {
        Some(asked) if asked == team => working,
        None if team == cores => format!("{working} (all cores)"),
        _ => {
            let asked = requested.map_or_else(|| "all cores".to_string(), |t| format!("{t} asked"));
            let why = if team < pool.min(cores) {
                format!("one per {chunk_rows}-row chunk of a minibatch")
            } else {
                count(cores, "core")
            };
            format!("{working} ({asked}, {why})")
        }
    }
}

/// A setting's value as a person writes it: `0.1`, `0.0001`, `1e6`, `3e38`
/// (not `1000000.0` or 39 digits).
///
/// ```
/// use softreg::app::report::number;
/// assert_eq!(number(0.1), "0.1");
/// assert_eq!(number(1e6), "1e6");
/// assert_eq!(number(0.0), "0");
/// ```
pub fn number(value: f32) -> String {
    if value != 0.0 && !(1e-4..1e4).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// The first line of a training run: the data, the settings and what runs.
pub fn run_header(dir: &Path, data: &Dataset, config: &TrainConfig) -> String {
    let (height, width) = data.train.images.shape();
    let trained_on = data.train.len() - config.run.validation;
    let batch = config.run.batch_rows(data);
    let features = data.train.images.features();
    let chunk_rows = config.compute.kernel.chunk_rows(features, data.classes);
    let threads = threads(config.compute.threads, (batch, chunk_rows));
    let validation = if config.run.validation > 0 {
        format!(" + {} validation", config.run.validation)
    } else {
        String::new()
    };
    let plain = config.setting.optimizer.is_plain_sgd();
    let settings: Vec<String> = (if plain {
        Vec::new()
    } else {
        config.setting.optimizer.settings()
    })
    .into_iter()
    .chain(config.setting.schedule.settings())
    .chain(config.run.patience.map(|p| ("patience", p.to_string())))
    .map(|(k, v)| format!("{k} {v}"))
    .collect();
    let optimizer = if settings.is_empty() {
        String::new()
    } else {
        format!(", {}", settings.join(" "))
    };
    format!(
        "{}: {trained_on} train{validation} / {} images of {height}x{width}, {} classes; batch {batch}, lr {}{optimizer}, seed {}, {threads}, {} kernel",
        dir.display(),
        data.test
            .as_ref()
            .map_or_else(|| "no test".to_string(), |t| format!("{} test", t.len())),
        data.classes,
        number(config.setting.learning_rate),
        config.setting.seed,
        config.compute.describe(),
    )
}

/// A duration in seconds as `12.3 ms` below one second, `2.50 s` above.
pub fn format_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// The tutorial's epoch line followed by the epoch's training time and throughput:
/// `epoch 1, loss 0.7874, train acc 0.749, test acc 0.791  (12.3 ms, 4.87 M samples/s, 152.7 GFLOP/s)`.
pub fn epoch_line(report: &EpochReport, flop_per_sample: f64) -> String {
    let rate = report.samples_per_second();
    let validation = report
        .validation
        .map_or_else(String::new, |v| format!(", val acc {:.3}", v.accuracy));
    let test = report
        .test
        .map_or_else(String::new, |t| format!(", test acc {:.3}", t.accuracy));
    format!(
        "epoch {}, loss {}, train acc {:.3}{validation}{test}  ({}, {:.2} M samples/s, {:.1} GFLOP/s)",
        report.epoch,
        crate::train::format_loss(report.loss),
        report.train_acc,
        format_duration(report.train_seconds),
        rate / 1e6,
        rate * flop_per_sample / 1e9,
    )
}

/// The closing line: epochs, training time, total time and final test
/// accuracy (else validation accuracy, when there is no test split); then,
/// with validation, the best epoch and whether the run stopped early.
pub fn summary_line(trained: &Trained, patience: Option<usize>, total_seconds: f64) -> String {
    let epochs = &trained.epochs;
    let train_seconds = epochs.iter().fold(0.0, |t, e| t + e.train_seconds);
    let last = epochs.last();
    let final_acc = match (last.and_then(|e| e.test), last.and_then(|e| e.validation)) {
        (Some(test), _) => format!(", final test acc {:.3}", test.accuracy),
        (None, Some(validation)) => format!(", final val acc {:.3}", validation.accuracy),
        (None, None) if last.is_some() => String::new(),
        (None, None) => ", final test acc n/a".to_string(),
    };
    let mut line = format!(
        "trained {} epochs in {} ({} total with loading and evaluation){final_acc}",
        epochs.len(),
        format_duration(train_seconds),
        format_duration(total_seconds),
    );
    if let (Some(_), (_, Some(best))) = (&trained.best, trained.chosen()) {
        let figure = |name, e: Option<Evaluation>| {
            e.map_or(String::new(), |e| format!(", {name} {:.3}", e.accuracy))
        };
        line += &format!(
            "\nbest epoch {}{}{}",
            best.epoch,
            figure("val acc", best.validation),
            figure("test acc", best.test)
        );
        if trained.stopped_early {
            line += &format!(
                "; stopped early: no better validation accuracy in the {} epochs after it",
                patience.unwrap_or(0)
            );
        }
    }
    line
}

/// The metrics as a table: loss and accuracy, per-class accuracy, and the
/// confusion matrix (rows: true class, columns: predicted class).
pub fn metrics_table(metrics: &Metrics, class_names: &[String]) -> String {
    let class_names: Vec<String> = class_names.iter().map(|n| printable(n)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "test loss {}, test acc {:.3} ({} images)",
        crate::train::format_loss(metrics.loss),
        metrics.accuracy(),
        metrics.samples()
    );
    let width = class_names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:>8}  {:>6}",
        "class", "accuracy", "images"
    );
    for (c, name) in class_names.iter().enumerate() {
        let accuracy = metrics
            .class_accuracy(c)
            .map_or_else(|| "-".to_string(), |a| format!("{a:.3}"));
        let _ = writeln!(
            out,
            "{name:<width$}  {accuracy:>8}  {:>6}",
            metrics.class_samples(c)
        );
    }
    if metrics.classes > MAX_CONFUSION_CLASSES {
        let _ = writeln!(
            out,
            "\nconfusion matrix: not printed for {} classes (more than {MAX_CONFUSION_CLASSES}); --json has it",
            metrics.classes
        );
        return out;
    }
    let _ = writeln!(
        out,
        "\nconfusion matrix (rows: true class, columns: predicted)"
    );
    let labels: Vec<String> = class_names
        .iter()
        .enumerate()
        .map(|(c, name)| format!("{c} {name}"))
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let _ = write!(out, "{:<label_width$}", "");
    for c in 0..metrics.classes {
        let _ = write!(out, " {c:>5}");
    }
    let _ = writeln!(out);
    for (truth, label) in labels.iter().enumerate() {
        let _ = write!(out, "{label:<label_width$}");
        for predicted in 0..metrics.classes {
            let _ = write!(out, " {:>5}", metrics.count(truth, predicted));
        }
        let _ = writeln!(out);
    }
    out
}

/// One epoch as a JSON object: `type` "epoch", epoch, loss, train_acc,
/// test_loss, test_acc, lr (the schedule's rate that epoch), seconds,
/// samples_per_s.
pub fn epoch_json(report: &EpochReport) -> serde_json::Value {
    let mut object = serde_json::json!({
        "type": "epoch",
        "epoch": report.epoch,
        "loss": report.loss,
        "train_acc": report.train_acc,
        "test_loss": report.test.map(|t| t.loss),
        "test_acc": report.test.map(|t| t.accuracy),
        "lr": json::decimal(report.learning_rate),
        "seconds": report.train_seconds,
        "samples_per_s": report.samples_per_second(),
    });
    if let Some(v) = report.validation {
        object["val_loss"] = v.loss.into();
        object["val_acc"] = v.accuracy.into();
    }
    object
}

/// The closing summary as a JSON object: `type` "summary", `settings` (the
/// run's, as the model file's metadata has them, typed), `epochs`, the times, the final test
/// accuracy and loss, and `best_epoch` with its `best_val_acc` and
/// `best_test_acc` (null without validation), `stopped_early`.
pub fn summary_json(
    trained: &Trained,
    settings: &[(&str, String)],
    total_seconds: f64,
) -> serde_json::Value {
    let epochs = &trained.epochs;
    let best = trained.best.as_ref().and(trained.chosen().1);
    serde_json::json!({
        "type": "summary",
        "settings": json::settings(settings),
        "epochs": epochs.len(),
        "train_seconds": epochs.iter().fold(0.0, |t, e| t + e.train_seconds),
        "total_seconds": total_seconds,
        "final_test_acc": epochs.last().and_then(|e| e.test).map(|t| t.accuracy),
        "final_loss": epochs.last().map(|e| e.loss),
        "best_epoch": best.map(|e| e.epoch),
        "best_val_acc": best.and_then(|e| e.validation).map(|v| v.accuracy),
        "best_test_acc": best.and_then(|e| e.test).map(|t| t.accuracy),
        "stopped_early": trained.stopped_early,
    })
}

/// The metrics as a JSON object, with per-class accuracy and the confusion
/// matrix as a list of rows (true class) of counts (predicted class).
pub fn metrics_json(metrics: &Metrics, class_names: &[String]) -> serde_json::Value {
    let rows: Vec<Vec<usize>> = (0..metrics.classes)
        .map(|t| (0..metrics.classes).map(|p| metrics.count(t, p)).collect())
        .collect();
    let per_class: Vec<serde_json::Value> = class_names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            serde_json::json!({
                "class": c,
                "name": name,
                "accuracy": metrics.class_accuracy(c),
                "images": metrics.class_samples(c),
            })
        })
        .collect();
    serde_json::json!({
        "type": "metrics",
        "test_loss": metrics.loss,
        "test_acc": metrics.accuracy(),
        "images": metrics.samples(),
        "classes": per_class,
        "confusion": rows,
    })
}
