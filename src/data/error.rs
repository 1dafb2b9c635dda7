//! Why a data-set file could not be loaded, and the memory check every load
//! makes before it allocates.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::idx::IdxError;

/// A data-set file that could not be loaded, and why.
#[derive(Debug, Error)]
#[error("{}: {kind}", path.display())]
pub struct DataError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: DataErrorKind,
}

/// What is wrong with a data-set file.
#[derive(Debug, Error)]
pub enum DataErrorKind {
    /// Neither the raw file nor its `.gz` exists.
    #[error("not found (nor its .gz)")]
    Missing,
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[source] io::Error),
    /// The gzip stream is corrupt.
    #[error("corrupt gzip data: {0}")]
    Gzip(#[source] io::Error),
    /// The idx content is malformed.
    #[error("{0}")]
    Idx(#[from] IdxError),
    /// The `.npy` content is malformed, or of a kind softreg does not read.
    #[error("{0}")]
    Npy(#[from] super::npy::NpyError),
    /// An array with the wrong number of dimensions.
    #[error("has {found} dimensions; {expected}")]
    Rank {
        found: usize,
        expected: &'static str,
    },
    /// A label is not a valid class index.
    #[error("label {label} at index {index} is out of range: there are {classes} classes{}",
        if *.classes == super::MAX_CLASSES { " at most" } else { "" })]
    LabelOutOfRange {
        index: usize,
        label: i128,
        classes: usize,
    },
    /// Labels stored as floats.
    #[error("labels are stored as {0}; they must be integers")]
    FloatLabels(&'static str),
    /// A sample holds a NaN or an infinity.
    #[error("sample {sample} holds {value} at feature {feature}: features must be finite")]
    NotFinite {
        sample: usize,
        feature: usize,
        value: f64,
    },
    /// A class name longer than a model file may carry.
    #[error(
        "line {line} is a class name of {chars} characters; at most {} are allowed",
        super::MAX_CLASS_NAME_CHARS
    )]
    ClassNameTooLong { line: usize, chars: usize },
    /// A class-names file that does not name every class.
    #[error("names {names} classes, but the labels have {classes}: one name per line, by label")]
    ClassNames { names: usize, classes: usize },
    /// The image and label files disagree on the number of records.
    #[error("holds {labels} labels but its image file holds {images} images")]
    CountMismatch { images: usize, labels: usize },
    /// Train and test images differ in shape.
    #[error("images are {found:?} but the training images are {expected:?}")]
    ShapeMismatch {
        expected: (usize, usize),
        found: (usize, usize),
    },
    /// Images with no pixels.
    #[error("images have no pixels (shape {0:?})")]
    EmptyImages((usize, usize)),
    /// A split without a single image: nothing to train on or to score.
    #[error("holds no images")]
    NoImages,
    /// The data would not fit in memory: refused before reading it.
    #[error(
        "its header describes {} of pixels, which take {} of memory {held}, but only {} is available",
        crate::input::human_bytes(*.described),
        crate::input::human_bytes(*.needed),
        crate::input::human_bytes(*.available)
    )]
    TooLarge {
        described: u64,
        needed: u64,
        held: &'static str,
        available: u64,
    },
}

/// Refuses `described` bytes of idx data that would take `needed` bytes of
/// memory (`held` says how) when the system has less available.
pub(super) fn check_fits(
    described: u64,
    needed: u64,
    held: &'static str,
) -> Result<(), DataErrorKind> {
    // Not `memory_shortfall`: that asks the allocator for the bytes, and a
    // header's claim is not yet known to be backed by data.
    match crate::input::available_memory() {
        Some(available) if needed > available => Err(DataErrorKind::TooLarge {
            described,
            needed,
            held,
            available,
        }),
        _ => Ok(()),
    }
}

impl DataError {
    pub(crate) fn new(path: &Path, kind: DataErrorKind) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
        }
    }
}
