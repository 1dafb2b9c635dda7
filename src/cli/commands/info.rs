//! `softreg info`.

use softreg::app::info;

use super::Outcome;
use crate::cli::args::InfoArgs;
use crate::cli::stdout::Stdout;

pub fn run(args: InfoArgs, out: &mut Stdout) -> Outcome {
    let described = info::inspect(&args.data.data, args.classes.classes)?;
    if args.json.json {
        out.println(described.json());
    } else {
        out.print(&described.report());
    }
    Ok(())
}
