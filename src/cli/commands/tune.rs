//! `softreg tune`.

use softreg::app::plan_cache::{self, SavedPlan};
use softreg::app::report::count;
use softreg::app::tune;
use softreg::data::{Dataset, PixelFormat};
use softreg::kernel::{Isa, Plan};

use super::Outcome;
use crate::cli::args::TuneArgs;
use crate::cli::convert;
use crate::cli::stdout::Stdout;

pub fn run(args: TuneArgs, out: &mut Stdout) -> Outcome {
    let isa = convert::isa(args.isa.as_deref())?.unwrap_or_else(Isa::best);
    let data = Dataset::load_as(&args.data.data, None, PixelFormat::U8)?;
    let candidates = Plan::candidates(isa);
    let default = Plan::default_for(isa);
    let cpu = plan_cache::cpu_identity();
    if !args.json.json {
        out.println(format!(
            "timing {} of the fused kernel on {cpu}, {}, 1 thread, batch {}, {}, interleaved:",
            count(candidates.len(), "plan"),
            isa.name(),
            args.batch_size,
            count(args.rounds, "round"),
        ));
    }
    let timed = tune::measure(
        isa,
        &data.train,
        data.classes,
        args.batch_size,
        &candidates,
        args.rounds,
    );
    let chosen = tune::choose(&timed, default);
    let saved = if args.dry_run {
        None
    } else {
        Some(SavedPlan::save(isa, chosen)?)
    };
    let default_rate = timed
        .iter()
        .find(|t| t.plan == default)
        .map_or(f64::NAN, |t| t.rate.median);
    if args.json.json {
        let rows: Vec<_> = timed
            .iter()
            .map(|t| {
                serde_json::json!({
                    "plan": t.plan.to_string(),
                    "samples_per_s": t.rate.median,
                    "samples_per_s_min": t.rate.min,
                    "samples_per_s_max": t.rate.max,
                    "vs_default": t.rate.median / default_rate,
                })
            })
            .collect();
        out.println(serde_json::json!({
            "type": "tune",
            "cpu": cpu,
            "isa": isa.name(),
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "default": default.to_string(),
            "chosen": chosen.to_string(),
            "saved_to": saved.as_ref().map(|p| p.display().to_string()),
            "candidates": rows,
        }));
        return Ok(());
    }
    out.println(format!(
        "{:<32} {:>10}  {:<15} {:>10}",
        "plan (median first)", "samples/s", "min-max", "vs default"
    ));
    for t in &timed {
        let mark = if t.plan == chosen { "  chosen" } else { "" };
        out.println(format!(
            "{:<32} {:>8.3} M  {:.3}-{:.3} M {:>10.3}{mark}",
            t.plan.to_string(),
            t.rate.median / 1e6,
            t.rate.min / 1e6,
            t.rate.max / 1e6,
            t.rate.median / default_rate,
        ));
    }
    let why = if chosen == default {
        format!(
            "the default (no candidate beat it by {:.0} %)",
            (tune::MARGIN - 1.0) * 100.0
        )
    } else {
        "the fastest".to_string()
    };
    out.println(format!("chosen: {chosen}, {why}"));
    match saved {
        Some(path) => out.println(format!(
            "saved to {}: train, sweep and bench use it on this CPU (--plan or SOFTREG_PLAN override it)",
            path.display()
        )),
        None => out.println("not saved (--dry-run)"),
    }
    Ok(())
}
