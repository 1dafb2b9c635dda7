//! A data directory of NumPy files: `train_x.npy` (the samples: their count,
//! then one sample's shape) and `train_y.npy` (one integer label each), and
//! the test split's `test_x.npy` and `test_y.npy`, each memory-mapped.

use std::path::{Path, PathBuf};

use super::elements::{self, Elements};
use super::files::map_file;
use super::format::{Format, SplitName};
use super::npy::NpyHeader;
use super::{DataError, DataErrorKind, Images, PixelFormat, Split};

/// The four files of a NumPy data directory: training samples and labels,
/// test samples and labels.
pub const NPY_FILES: [&str; 4] = ["train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"];

/// A NumPy data directory: it holds `train_x.npy`; the test files are
/// optional.
#[derive(Debug)]
pub struct NpyDirectory;

impl Format for NpyDirectory {
    fn name(&self) -> &'static str {
        "npy"
    }

    fn detect(&self, dir: &Path) -> bool {
        dir.join(NPY_FILES[0]).exists()
    }

    fn split(
        &self,
        dir: &Path,
        name: SplitName,
        classes: usize,
        format: PixelFormat,
    ) -> Result<Split, DataError> {
        let [samples, labels] = names(name);
        load_npy_split(dir, (samples, labels), classes, format)
    }

    fn has_test(&self, dir: &Path) -> bool {
        NPY_FILES[2..].iter().any(|name| dir.join(name).exists())
    }

    fn split_files(&self, dir: &Path, name: SplitName) -> [PathBuf; 2] {
        names(name).map(|file| dir.join(file))
    }

    fn files_read(&self, dir: &Path) -> Vec<PathBuf> {
        (self.files_of(dir).into_iter())
            .filter(|path| path.exists())
            .collect()
    }

    fn files_of(&self, dir: &Path) -> Vec<PathBuf> {
        NPY_FILES.iter().map(|name| dir.join(name)).collect()
    }
}

/// The names of a split's samples and labels files.
fn names(name: SplitName) -> [&'static str; 2] {
    match name {
        SplitName::Train => [NPY_FILES[0], NPY_FILES[1]],
        SplitName::Test => [NPY_FILES[2], NPY_FILES[3]],
    }
}

/// Loads a samples file and its labels file of `dir` as a split, every label
/// below `classes`.
pub fn load_npy_split(
    dir: &Path,
    (samples, labels): (&str, &str),
    classes: usize,
    format: PixelFormat,
) -> Result<Split, DataError> {
    let (x_path, y_path) = (dir.join(samples), dir.join(labels));
    let images = load_npy_samples(&x_path, format)?;
    let (y_header, y) = open_npy(&y_path)?;
    if y_header.shape().len() != 1 {
        let found = y_header.shape().len();
        let kind = DataErrorKind::Rank {
            found,
            expected: "labels need 1",
        };
        return Err(DataError::new(&y_path, kind));
    }
    let labels = elements::labels(&y_path, npy_elements(&y_header, y), classes)?;
    Split::new((&x_path, images), (&y_path, labels))
}

/// The samples of the `.npy` file `path` (their count, then one sample's
/// shape), byte samples held in `format`.
pub fn load_npy_samples(path: &Path, format: PixelFormat) -> Result<Images, DataError> {
    let (header, bytes) = open_npy(path)?;
    if header.shape().len() < 2 {
        let expected = "samples need at least 2 (the count, then one sample's shape)";
        let kind = DataErrorKind::Rank {
            found: header.shape().len(),
            expected,
        };
        return Err(DataError::new(path, kind));
    }
    let shape = elements::sample_shape(header.shape());
    if shape.0 == 0 || shape.1 == 0 {
        return Err(DataError::new(path, DataErrorKind::EmptyImages(shape)));
    }
    elements::samples(path, shape, npy_elements(&header, bytes), format)
}

/// The mapped file `path` with its header, checked against its length.
fn open_npy(path: &Path) -> Result<(NpyHeader, super::files::FileBytes), DataError> {
    let bytes = map_file(path)?;
    let error = |e: super::npy::NpyError| DataError::new(path, DataErrorKind::Npy(e));
    let header = NpyHeader::parse(&bytes).map_err(error)?;
    header.check_length(bytes.len() as u64).map_err(error)?;
    Ok((header, bytes))
}

/// The elements of a checked `.npy` file.
fn npy_elements(header: &NpyHeader, file: super::files::FileBytes) -> Elements {
    Elements {
        dtype: header.dtype(),
        big_endian: false,
        file,
        start: header.data_offset(),
        len: (header.data_len() / header.dtype().size() as u64) as usize,
    }
}
