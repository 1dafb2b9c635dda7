//! What a command writes besides its files: standard output that a closed
//! pipe ends quietly, a progress bar for a person watching, colour only for a
//! terminal; and the output files, checked before any work.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use softreg::app::figures::canvas::picture_format;
use softreg::output;

use super::convert::UsageError;

/// Standard output that a closed pipe ends quietly: after `EPIPE` (`softreg
/// train | head -1`) nothing more is printed, and the command goes on only
/// while it has files to write ([`Stdout::closed`]). Any other write error (a
/// full disk) is kept and reported when the command ends.
#[derive(Default)]
pub struct Stdout {
    closed: bool,
    error: Option<io::Error>,
}

impl Stdout {
    /// Prints `text` as it is.
    pub fn print(&mut self, text: &str) {
        if self.closed || self.error.is_some() {
            return;
        }
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            } else {
                self.error = Some(e);
            }
        }
    }

    /// Prints `line` and a newline.
    pub fn println(&mut self, line: impl std::fmt::Display) {
        self.print(&format!("{line}\n"));
    }

    /// Whether the reader has gone (a closed pipe).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// The write error, if one other than a closed pipe happened.
    pub fn finish(self) -> Result<(), io::Error> {
        match self.error {
            Some(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot write to standard output: {e}"),
            )),
            None => Ok(()),
        }
    }
}

/// Whether to colour standard output: only for a terminal, and never when
/// `NO_COLOR` is set to anything (<https://no-color.org>).
pub fn colour() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A bar over `samples` training samples on stderr, only for a person
/// watching a terminal: hidden when piped, and drawn aside while a line is
/// printed.
pub fn progress_bar(samples: usize) -> ProgressBar {
    let progress = if io::stderr().is_terminal() {
        ProgressBar::new(samples as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} samples, {eta} left")
            .expect("the template is valid"),
    );
    progress
}

/// An output file and its flag; `picture` when it is a figure, whose name must
/// say PNG or JPEG.
pub struct Output<'a> {
    pub flag: &'static str,
    pub path: Option<&'a Path>,
    pub picture: bool,
}

impl<'a> Output<'a> {
    /// A file `flag` names, if given.
    pub fn file(flag: &'static str, path: Option<&'a Path>) -> Self {
        Self {
            flag,
            path,
            picture: false,
        }
    }

    /// `--plot`'s picture, if given.
    pub fn plot(path: Option<&'a Path>) -> Self {
        Self {
            flag: "--plot",
            path,
            picture: true,
        }
    }
}

/// Checks a command's output files before any work: no output may be one of
/// `inputs` (the data files and models the command reads) or another output,
/// a picture must be named `.png` or `.jpg`, and each must be writable.
/// Returns the paths to write.
pub fn prepare_outputs<const N: usize>(
    outputs: [Output<'_>; N],
    inputs: &[(&str, &Path)],
) -> Result<[Option<PathBuf>; N], Box<dyn std::error::Error>> {
    let named: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|o| Some((o.flag, o.path?)))
        .collect();
    // Two outputs on one file: the flags are at fault (exit 2); an output
    // onto an input is the file's (exit 1).
    output::refuse_collisions(&named, &[]).map_err(UsageError)?;
    output::refuse_collisions(&named, inputs)?;
    for output in outputs.iter().filter(|o| o.picture) {
        if let Some(path) = output.path {
            picture_format(path).map_err(|e| UsageError(format!("{} {e}", output.flag)))?;
        }
    }
    let mut prepared = [const { None }; N];
    for (slot, output) in prepared.iter_mut().zip(outputs) {
        *slot = output
            .path
            .map(|path| output::prepare(path, output.flag))
            .transpose()?;
    }
    Ok(prepared)
}
