//! The `softreg` command line: parses the flags, runs the command, and turns
//! its outcome into an exit status (0; 1 for a failure; 2 for a flag).

mod cli;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::args::Cli;
use cli::stdout::Stdout;

fn main() -> ExitCode {
    let mut cli = Cli::command();
    let matches = cli.get_matches_mut();
    if let Err(e) = cli::args::refuse_foreign_flags(&mut cli, &matches) {
        e.exit();
    }
    let command = Cli::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.exit())
        .command;
    softreg::signals::install();
    let mut out = Stdout::default();
    let outcome = cli::commands::run(command, &mut out);
    // A write error on standard output is reported after the command's files
    // are written, and only if the command itself succeeded.
    let outcome = outcome.and_then(|()| Ok(out.finish()?));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let advice = cli::hint::advice(e.as_ref());
            let hint = advice.hint.map_or_else(String::new, |h| format!("; {h}"));
            // Nothing more can be done if standard error is closed too.
            let _ = writeln!(io::stderr(), "error: {e}{hint}");
            ExitCode::from(advice.exit_code)
        }
    }
}
