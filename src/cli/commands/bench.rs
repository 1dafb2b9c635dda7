//! `softreg bench`.

use softreg::app::bench::{self, BenchConfig};
use softreg::kernel::Isa;
use softreg::train::pool_size;

use super::Outcome;
use crate::cli::args::BenchArgs;
use crate::cli::convert;
use crate::cli::stdout::Stdout;

pub fn run(args: BenchArgs, out: &mut Stdout) -> Outcome {
    let defaults = BenchConfig::default();
    let (plan, plan_origin) = convert::plan(args.plan.plan, Isa::best())?;
    let config = BenchConfig {
        data: args.data.data,
        threads: pool_size(args.threads.threads),
        batch_size: args.batch_size,
        epochs: args.epochs,
        peak_lane_fmas: args.peak_lane_fmas.unwrap_or(defaults.peak_lane_fmas),
        plan,
        plan_origin,
    };
    let report = bench::run(&config)?;
    if args.json.json {
        out.println(report.json());
    } else {
        out.print(&report.table());
    }
    Ok(())
}
