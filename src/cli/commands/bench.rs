//! `softreg bench`.

use softreg::app::bench::{self, BenchConfig};
use softreg::app::bench_shape::{self, ShapeBenchConfig};
use softreg::compute::pool_size;
use softreg::input::memory_shortfall;
use softreg::kernel::Isa;

use super::Outcome;
use crate::cli::args::BenchArgs;
use crate::cli::convert;
use crate::cli::stdout::Stdout;

pub fn run(args: BenchArgs, out: &mut Stdout) -> Outcome {
    let defaults = BenchConfig::default();
    let (plan, plan_origin) = convert::plan(args.plan.plan, Isa::best())?;
    let threads = pool_size(args.threads.threads);
    let peak_lane_fmas = args.peak_lane_fmas.unwrap_or(defaults.peak_lane_fmas);
    if let (Some(features), Some(classes)) = (args.features, args.classes) {
        let config = ShapeBenchConfig {
            threads,
            batch_size: args.batch_size,
            rounds: args.epochs,
            peak_lane_fmas,
            plan,
            ..ShapeBenchConfig::new(features, classes)
        };
        let needed = config.memory_needed();
        if let Some(available) = memory_shortfall(needed) {
            return Err(format!(
                "--features {features} --classes {classes}: random data and weights of that \
                 shape need about {:.1} GB, and {:.1} GB of memory is available: ask for a \
                 smaller shape",
                needed as f64 / 1e9,
                available as f64 / 1e9
            )
            .into());
        }
        let report = bench_shape::run(&config)?;
        if args.json.json {
            out.println(report.json());
        } else {
            out.print(&report.table());
        }
        return Ok(());
    }
    let config = BenchConfig {
        data: args.data.data,
        threads,
        batch_size: args.batch_size,
        epochs: args.epochs,
        peak_lane_fmas,
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
