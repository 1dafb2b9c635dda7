//! The formats a data directory may hold, each one type implementing
//! [`Format`] in a file of its own (`idx_dir.rs`, `npy_dir.rs`); the list
//! that detects them is [`super::FORMATS`]. A new format (CSV, Parquet) is one
//! file implementing the trait and an entry in that list.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use super::{DataError, PixelFormat, Split};

/// A split of a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitName {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

/// One format of data directory: how it is recognised, which files it
/// reads, and how a split is loaded from them.
pub trait Format: Debug + Sync {
    /// The format's name, as `info` shows it.
    fn name(&self) -> &'static str;

    /// Whether `dir` holds data of this format.
    fn detect(&self, dir: &Path) -> bool;

    /// Loads split `name` of `dir`, every label below `classes`, byte
    /// samples held as `format` asks.
    fn split(
        &self,
        dir: &Path,
        name: SplitName,
        classes: usize,
        format: PixelFormat,
    ) -> Result<Split, DataError>;

    /// Whether `dir` has a test split (a format whose test files are
    /// required says yes, and loading names the missing file).
    fn has_test(&self, dir: &Path) -> bool;

    /// The samples file and the labels file of split `name`, as errors name
    /// them.
    fn split_files(&self, dir: &Path, name: SplitName) -> [PathBuf; 2];

    /// The files loading `dir` reads now (for a compressed file, the
    /// decompressed cache when it is current).
    fn files_read(&self, dir: &Path) -> Vec<PathBuf>;

    /// Every file of `dir` loading may read, present or not: what no output
    /// may overwrite.
    fn files_of(&self, dir: &Path) -> Vec<PathBuf>;

    /// The SHA-256 of the canonical data set's file `i` of
    /// [`Format::files_read`], where this format has one to recognise.
    fn canonical_sha256(&self, _i: usize, _path: &Path) -> Option<&'static str> {
        None
    }
}
