//! `softreg eval`.

use softreg::app::report;
use softreg::compute::pool_size;
use softreg::eval::{self, Metrics};
use softreg::model_file;

use super::Outcome;
use crate::cli::args::EvalArgs;
use crate::cli::stdout::Stdout;

pub fn run(args: EvalArgs, out: &mut Stdout) -> Outcome {
    let (model, info) = model_file::load(&args.model)?;
    let test = eval::test_split_for(&args.data.data, (&args.model, &model), info.image_shape)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(pool_size(args.threads.threads))
        .build()?;
    let metrics = pool.install(|| Metrics::compute(&model, &test));
    if args.json.json {
        out.println(report::metrics_json(&metrics, &info.class_names));
    } else {
        out.print(&report::metrics_table(&metrics, &info.class_names));
    }
    Ok(())
}
