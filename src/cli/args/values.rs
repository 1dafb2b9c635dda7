//! The flags' value parsers: each refuses a value with the reason, as clap
//! prints it (exit status 2).

use softreg::compute::MAX_MODELS;
use softreg::kernel::{Plan, PlanError};
use softreg::train::{MAX_EPOCHS, Optimizer, OptimizerError, Schedule, ScheduleError};

use super::{OptimizerArg, OptimizerList};

pub fn schedule(text: &str) -> Result<Schedule, String> {
    text.parse().map_err(|e: ScheduleError| e.to_string())
}

pub fn plan(text: &str) -> Result<Plan, String> {
    text.parse().map_err(|e: PlanError| e.to_string())
}

/// A seed or an inclusive range of seeds, `7` or `0-3`, of at most
/// [`MAX_MODELS`] seeds.
pub fn seed_range(s: &str) -> Result<(u64, u64), String> {
    let seed = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|e| format!("not a seed or a range of seeds like 0-3: {e}"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (seed(a)?, seed(b)?),
        None => (seed(s)?, seed(s)?),
    };
    if a > b {
        return Err(format!(
            "the range {s} is empty: write the smaller seed first"
        ));
    }
    if b - a >= MAX_MODELS as u64 {
        return Err(format!(
            "{s} is more than the {MAX_MODELS} models one sweep trains"
        ));
    }
    Ok((a, b))
}

pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

/// The most test images `predict --count` shows.
const MAX_SHOWN: usize = 1000;

pub fn shown_count(s: &str) -> Result<usize, String> {
    match at_least_one(s)? {
        n if n > MAX_SHOWN => Err(format!(
            "must be at most {MAX_SHOWN} (to classify more samples, use eval or predict --input)"
        )),
        n => Ok(n),
    }
}

/// The most features `bench --features` makes up.
const MAX_BENCH_FEATURES: usize = 1 << 16;

pub fn bench_features(s: &str) -> Result<usize, String> {
    match at_least_one(s)? {
        n if n > MAX_BENCH_FEATURES => Err(format!("must be at most {MAX_BENCH_FEATURES}")),
        n => Ok(n),
    }
}

pub fn class_count(s: &str) -> Result<usize, String> {
    let max = softreg::data::MAX_CLASSES;
    match at_least_one(s)? {
        n if n > max => Err(format!("must be at most {max}")),
        n => Ok(n),
    }
}

pub fn epoch_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > MAX_EPOCHS => Err(format!("must be at most {MAX_EPOCHS}")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number: {e}")),
    }
}

pub fn at_least_zero(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number >= 0, got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

pub fn below_one(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("must be in [0, 1), got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

pub fn positive_finite(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a positive finite number, got {x}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// `--optimizer`: specs separated by `;`, each `NAME[:KEY=VALUE,...]`, or
/// plain names separated by `,`; `lbfgs` for the full-batch fit.
pub fn optimizers(text: &str) -> Result<OptimizerList, String> {
    let one = |spec: &str| match spec.trim() {
        "lbfgs" => Ok(OptimizerArg::Lbfgs),
        spec => (spec.parse::<Optimizer>())
            .map(OptimizerArg::FirstOrder)
            .map_err(|e: OptimizerError| format!("{e} (or lbfgs)")),
    };
    let mut list = Vec::new();
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        match part.contains(':') {
            true => list.push(one(part)?),
            false => {
                for name in part.split(',') {
                    list.push(one(name)?);
                }
            }
        }
    }
    match list.is_empty() {
        true => Err("name an optimizer".to_string()),
        false => Ok(OptimizerList(list)),
    }
}
