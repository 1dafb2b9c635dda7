//! What `sweep` prints: models grouped by configuration (their settings but
//! the seed), ranked by mean validation accuracy, as a table or JSON.

use std::path::Path;

use crate::data::Dataset;
use crate::train::{
    Grid, ModelRun, Optimizer, RunOutcome, Schedule, Setting, SweepConfig, format_loss,
};

use super::json::decimal;
use super::report::{format_duration, number, threads};

/// The first line of a sweep: the data, the grid and what runs.
pub fn header(dir: &Path, data: &Dataset, config: &SweepConfig, grid: &Grid) -> String {
    let (height, width) = data.train.images.shape();
    let batch = config.run.batch_rows(data);
    let chunk_rows = config
        .compute
        .kernel
        .chunk_rows(data.train.images.features(), data.classes);
    let swept: String = (grid.params.iter())
        .map(|(key, values)| {
            let key = if *key == "weight_decay" { "wd" } else { key };
            format!(" x {} {key}", values.len())
        })
        .collect();
    let optimizers = match &grid.optimizers[..] {
        [only] if *only == Optimizer::default() => String::new(),
        optimizers => {
            let specs: Vec<String> = optimizers.iter().map(Optimizer::to_string).collect();
            format!("{}, ", specs.join("; "))
        }
    };
    let schedules = if grid.schedules == [Schedule::Constant] {
        String::new()
    } else {
        let names: Vec<String> = grid.schedules.iter().map(|s| s.to_string()).collect();
        format!(" x {} schedules ({})", names.len(), names.join("; "))
    };
    format!(
        "{}: {} train + {} validation / {} images of {height}x{width}, {} classes; \
         {} models ({optimizers}{} lr{swept}{schedules} x {} seeds), batch {batch}, {} epochs, data seed {}, {}, {} kernel",
        dir.display(),
        data.train.len() - config.run.validation,
        config.run.validation,
        data.test
            .as_ref()
            .map_or_else(|| "no test".to_string(), |t| format!("{} test", t.len())),
        data.classes,
        config.settings.len(),
        grid.learning_rates.len(),
        grid.seeds.len(),
        config.run.epochs,
        config.data_seed,
        threads(config.compute.threads, (batch, chunk_rows)),
        config.compute.describe(),
    )
}

/// After each epoch: how many models train on, and the best so far:
/// `epoch 1: 40 models, 0 diverged; best val acc 0.8124 (sgd lr 0.3 seed 1)`.
pub fn epoch_line(epoch: usize, models: &[ModelRun]) -> String {
    let diverged = models.iter().filter(|m| m.diverged.is_some()).count();
    let best = models
        .iter()
        .filter(|m| m.diverged.is_none())
        .filter_map(|m| Some((m, m.epochs.get(epoch - 1)?.validation?.accuracy)))
        .fold(
            None,
            |best: Option<(&ModelRun, f64)>, (m, acc)| match best {
                Some((_, top)) if top >= acc => best,
                _ => Some((m, acc)),
            },
        );
    let best = best.map_or_else(
        || "every model diverged".to_string(),
        |(m, acc)| {
            format!(
                "best val acc {acc:.4} ({} seed {}), loss {}",
                describe(&m.setting),
                m.setting.seed,
                format_loss(m.epochs[epoch - 1].loss)
            )
        },
    );
    format!(
        "epoch {epoch}: {} models, {diverged} diverged; {best}",
        models.len()
    )
}

/// The closing line: models, time and throughput summed over models.
pub fn summary_line(swept: &RunOutcome, flop_per_sample: f64, total_seconds: f64) -> String {
    let rate = swept.model_samples_per_second();
    format!(
        "trained {} models in {} ({:.2} M model-samples/s, {:.1} GFLOP/s; {} total with loading and evaluation)",
        swept.models.len(),
        format_duration(swept.train_seconds),
        rate / 1e6,
        rate * flop_per_sample / 1e9,
        format_duration(total_seconds),
    )
}

/// A configuration's models (one per seed) and their statistics over seeds.
#[derive(Debug, Clone)]
pub struct Configuration<'a> {
    /// The settings every model of the configuration shares (the seed is the
    /// first model's).
    pub setting: Setting,
    /// Its models, in sweep order.
    pub models: Vec<&'a ModelRun>,
}

impl Configuration<'_> {
    /// Mean and standard deviation over the seeds that did not diverge of a
    /// model's final figure; `None` if every seed diverged.
    pub fn stat(&self, figure: impl Fn(&ModelRun) -> Option<f64>) -> Option<(f64, f64)> {
        let values: Vec<f64> = self.models.iter().filter_map(|m| figure(m)).collect();
        mean_and_deviation(&values)
    }

    /// Mean and deviation of the chosen epoch's validation accuracy.
    pub fn val_acc(&self) -> Option<(f64, f64)> {
        self.stat(ModelRun::val_acc)
    }

    /// Mean and deviation of the test accuracy.
    pub fn test_acc(&self) -> Option<(f64, f64)> {
        self.stat(|m| m.test.map(|t| t.accuracy))
    }

    /// Mean and deviation of the chosen epoch's training loss.
    pub fn loss(&self) -> Option<(f64, f64)> {
        self.stat(|m| m.chosen().map(|e| e.loss))
    }

    /// The chosen epochs of the models that did not diverge, as `4` or
    /// `3-5` (`-` for none).
    pub fn epochs(&self) -> String {
        let epochs = self.models.iter().filter_map(|m| m.chosen_epoch());
        let (low, high) = epochs.fold((usize::MAX, 0), |(l, h), e| (l.min(e), h.max(e)));
        match high {
            0 => "-".to_string(),
            _ if low == high => low.to_string(),
            _ => format!("{low}-{high}"),
        }
    }

    /// How many of its models diverged.
    pub fn diverged(&self) -> usize {
        self.models.iter().filter(|m| m.diverged.is_some()).count()
    }
}

/// Mean and sample standard deviation (0 for one value); `None` for none.
fn mean_and_deviation(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let deviation = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (!values.is_empty()).then_some((mean, deviation))
}

/// The sweep's models grouped by configuration, best mean validation accuracy
/// first (configurations whose every seed diverged last, in sweep order).
pub fn ranked(swept: &RunOutcome) -> Vec<Configuration<'_>> {
    let mut configurations: Vec<Configuration> = Vec::new();
    for model in &swept.models {
        let same = |c: &&mut Configuration| {
            let s = c.setting;
            let m = &model.setting;
            (s.optimizer, s.learning_rate, s.schedule) == (m.optimizer, m.learning_rate, m.schedule)
        };
        match configurations.iter_mut().find(same) {
            Some(c) => c.models.push(model),
            None => configurations.push(Configuration {
                setting: model.setting,
                models: vec![model],
            }),
        }
    }
    let key = |c: &Configuration| c.val_acc().map_or(f64::NEG_INFINITY, |(mean, _)| mean);
    configurations.sort_by(|a, b| key(b).total_cmp(&key(a)));
    configurations
}

/// A model's or configuration's settings for people:
/// `sgd lr 0.1 momentum 0.9 nesterov wd 0.0001`.
pub fn describe(setting: &Setting) -> String {
    let o = setting.optimizer;
    let (name, momentum, nesterov, weight_decay) =
        (o.name(), o.momentum(), o.nesterov(), o.weight_decay());
    let mut text = format!("{name} lr {}", number(setting.learning_rate));
    if let Some(m) = momentum.filter(|&m| m > 0.0) {
        text += &format!(" momentum {}", number(m));
    }
    if nesterov {
        text += " nesterov";
    }
    if weight_decay > 0.0 {
        text += &format!(" wd {}", number(weight_decay));
    }
    if setting.schedule != Schedule::Constant {
        text += &format!(" {}", setting.schedule);
    }
    text
}

/// Diverged models the table lists by name, the rest counted.
const MAX_DIVERGED_LINES: usize = 10;

/// The ranked table, one row per configuration, the models that diverged and
/// why, then the best model:
///
/// ```text
/// rank  optimizer  lr     momentum  wd      val acc         test acc        loss              epoch   diverged
///    1  sgd        0.3    0.9       0       0.849 ± 0.002   0.838 ± 0.003   0.4012 ± 0.0010   4-5     0/4
/// ```
pub fn table(swept: &RunOutcome) -> String {
    let configurations = ranked(swept);
    let mut out = format!(
        "{} models, {} configurations ranked by their best epoch's validation accuracy (mean ± standard deviation over seeds that did not diverge):\n",
        swept.models.len(),
        configurations.len()
    );
    let scheduled = swept
        .models
        .iter()
        .any(|m| m.setting.schedule != Schedule::Constant);
    let schedule_of = |s: &Setting| {
        if scheduled {
            format!("  {}", s.schedule)
        } else {
            String::new()
        }
    };
    out += &format!(
        "{:>4}  {:<9} {:<8} {:<9} {:<8} {:<15} {:<15} {:<17} {:<7} {}{}\n",
        "rank",
        "optimizer",
        "lr",
        "momentum",
        "wd",
        "val acc",
        "test acc",
        "loss",
        "epoch",
        "diverged",
        if scheduled { "  schedule" } else { "" }
    );
    let stat = |s: Option<(f64, f64)>, digits: usize| {
        s.map_or_else(
            || "-".to_string(),
            |(m, d)| format!("{m:.digits$} ± {d:.digits$}"),
        )
    };
    for (rank, c) in configurations.iter().enumerate() {
        let o = c.setting.optimizer;
        let (name, momentum, nesterov, weight_decay) =
            (o.name(), o.momentum(), o.nesterov(), o.weight_decay());
        let momentum = match momentum {
            Some(m) if nesterov => format!("{} nest.", number(m)),
            Some(m) => number(m),
            None => "-".to_string(),
        };
        out += &format!(
            "{:>4}  {:<9} {:<8} {:<9} {:<8} {:<15} {:<15} {:<17} {:<7} {}/{}{}\n",
            rank + 1,
            name,
            number(c.setting.learning_rate),
            momentum,
            number(weight_decay),
            stat(c.val_acc(), 3),
            stat(c.test_acc(), 3),
            stat(c.loss(), 4),
            c.epochs(),
            c.diverged(),
            c.models.len(),
            schedule_of(&c.setting),
        );
    }
    let diverged: Vec<&ModelRun> = swept
        .models
        .iter()
        .filter(|m| m.diverged.is_some())
        .collect();
    for m in diverged.iter().take(MAX_DIVERGED_LINES) {
        let d = m.diverged.as_ref().expect("filtered on it");
        out += &format!(
            "diverged: {} seed {} in epoch {} ({})\n",
            describe(&m.setting),
            m.setting.seed,
            d.epoch,
            d.cause
        );
    }
    if diverged.len() > MAX_DIVERGED_LINES {
        out += &format!(
            "diverged: {} more (see --json)\n",
            diverged.len() - MAX_DIVERGED_LINES
        );
    }
    match swept.best() {
        Some(best) => {
            out += &format!(
                "best model: {} seed {}, epoch {}: val acc {:.4}, test acc {:.4}\n",
                describe(&best.setting),
                best.setting.seed,
                best.chosen_epoch().unwrap_or(0),
                best.val_acc().unwrap_or(f64::NAN),
                best.test.map_or(f64::NAN, |t| t.accuracy),
            );
        }
        None => out += "best model: none, every model diverged; lower the learning rates\n",
    }
    out
}

/// One model as a JSON object: `type` "model", `optimizer` (its spec),
/// `lr`, `momentum` (null for Adam),
/// `nesterov`, `weight_decay`, `seed`, `schedule`, `epoch` (the chosen one:
/// the best by validation accuracy), `epochs_trained`, `stopped_early`,
/// and the chosen epoch's `loss`, `val_acc`, `test_acc`,
/// `test_loss` (null for a model that diverged), `diverged` (null, or the
/// `epoch`, the `step` (null for a run-away loss), the `cause` (`loss`,
/// `weight` or `run-away loss`) and the `value`, as text since it may not be
/// finite).
pub fn model_json(model: &ModelRun) -> serde_json::Value {
    let s = &model.setting;
    let o = s.optimizer;
    let (name, momentum, nesterov, weight_decay) =
        (o.name(), o.momentum(), o.nesterov(), o.weight_decay());
    let chosen = model.chosen();
    serde_json::json!({
        "type": "model",
        "optimizer": name,
        "spec": o.to_string(),
        "lr": decimal(s.learning_rate),
        "momentum": momentum.map(decimal),
        "nesterov": nesterov,
        "weight_decay": decimal(weight_decay),
        "seed": s.seed,
        "schedule": s.schedule.to_string(),
        "epoch": model.chosen_epoch(),
        "epochs_trained": model.epochs.len(),
        "stopped_early": model.stopped_early,
        "loss": chosen.map(|e| e.loss),
        "val_acc": model.val_acc(),
        "test_acc": model.test.map(|t| t.accuracy),
        "test_loss": model.test.map(|t| t.loss),
        "diverged": model.diverged.map(|d| serde_json::json!({
            "epoch": d.epoch,
            "step": d.cause.step(),
            "cause": d.cause.name(),
            "value": d.cause.value().to_string(),
        })),
    })
}

/// The closing JSON object: `type` "summary", `best` (the best model's object, null
/// if every model diverged), `models`, `seconds` (training), `total_seconds`,
/// `model_samples_per_s`.
pub fn summary_json(swept: &RunOutcome, total_seconds: f64) -> serde_json::Value {
    serde_json::json!({
        "type": "summary",
        "best": swept.best().map(model_json),
        "models": swept.models.len(),
        "seconds": swept.train_seconds,
        "total_seconds": total_seconds,
        "model_samples_per_s": swept.model_samples_per_second(),
    })
}
