//! A data directory of idx files: the four file names, and a split loaded
//! from a sample file and its label file.

use std::path::{Path, PathBuf};

use super::elements::{self, Elements};
use super::files::source_file;
use super::files::{IdxFile, open_idx};
use super::format::{Format, SplitName};
use super::idx::{ElementType, Holds};
use super::npy::Dtype;
use super::{DataError, DataErrorKind, PixelFormat, Split, fashion_mnist};

/// The file-name stems of the four files in a data directory.
pub const FILE_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The four idx files of [`FILE_STEMS`], each raw or gzipped: the fallback
/// format, whose loading names the files it misses.
#[derive(Debug)]
pub struct IdxDirectory;

impl Format for IdxDirectory {
    fn name(&self) -> &'static str {
        "idx"
    }

    fn detect(&self, _dir: &Path) -> bool {
        true
    }

    fn split(
        &self,
        dir: &Path,
        name: SplitName,
        classes: usize,
        format: PixelFormat,
    ) -> Result<Split, DataError> {
        let [samples, labels] = stems(name);
        load_split(dir, samples, labels, classes, format)
    }

    fn has_test(&self, _dir: &Path) -> bool {
        true
    }

    fn split_files(&self, dir: &Path, name: SplitName) -> [PathBuf; 2] {
        stems(name).map(|stem| dir.join(stem))
    }

    fn files_read(&self, dir: &Path) -> Vec<PathBuf> {
        (FILE_STEMS.iter())
            .map(|stem| source_file(dir, stem))
            .collect()
    }

    fn files_of(&self, dir: &Path) -> Vec<PathBuf> {
        (FILE_STEMS.iter())
            .flat_map(|stem| [dir.join(stem), dir.join(format!("{stem}.gz"))])
            .collect()
    }

    fn canonical_sha256(&self, i: usize, path: &Path) -> Option<&'static str> {
        let gz = path.extension().is_some_and(|e| e == "gz");
        let sums = if gz {
            fashion_mnist::GZ_SHA256
        } else {
            fashion_mnist::RAW_SHA256
        };
        sums.get(i).copied()
    }
}

/// The stems of a split's samples and labels files.
fn stems(name: SplitName) -> [&'static str; 2] {
    match name {
        SplitName::Train => [FILE_STEMS[0], FILE_STEMS[1]],
        SplitName::Test => [FILE_STEMS[2], FILE_STEMS[3]],
    }
}

/// Loads one sample file and its label file as a split, every label below
/// `classes`.
pub fn load_split(
    dir: &Path,
    images_stem: &str,
    labels_stem: &str,
    classes: usize,
    format: PixelFormat,
) -> Result<Split, DataError> {
    let (images_path, images) = open_idx(dir, images_stem, Holds::Samples)?;
    let (labels_path, labels) = open_idx(dir, labels_stem, Holds::Labels)?;
    let shape = elements::sample_shape(images.header.dims());
    if shape.0 == 0 || shape.1 == 0 {
        return Err(DataError::new(
            &images_path,
            DataErrorKind::EmptyImages(shape),
        ));
    }
    let images = elements::samples(
        &images_path,
        shape,
        idx_elements(&images_path, images)?,
        format,
    )?;
    let labels = elements::labels(&labels_path, idx_elements(&labels_path, labels)?, classes)?;
    Split::new((&images_path, images), (&labels_path, labels))
}

/// The elements of an idx file, after checking its length against its header.
fn idx_elements(path: &Path, file: IdxFile) -> Result<Elements, DataError> {
    let data = file
        .header
        .data(&file.bytes)
        .map_err(|e| DataError::new(path, e.into()))?;
    let element = file.header.element();
    let (start, len) = (file.bytes.len() - data.len(), data.len() / element.size());
    Ok(Elements {
        dtype: dtype(element),
        big_endian: true,
        file: file.bytes,
        start,
        len,
    })
}

/// The type of an idx element.
fn dtype(element: ElementType) -> Dtype {
    match element {
        ElementType::U8 => Dtype::U8,
        ElementType::I8 => Dtype::I8,
        ElementType::I16 => Dtype::I16,
        ElementType::I32 => Dtype::I32,
        ElementType::F32 => Dtype::F32,
        ElementType::F64 => Dtype::F64,
    }
}
