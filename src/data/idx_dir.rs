//! A data directory of idx files: the four file names, and a split loaded
//! from a sample file and its label file.

use std::path::{Path, PathBuf};

use super::elements::{self, Elements};
use super::files::{IdxFile, open_idx};
use super::idx::{ElementType, Holds};
use super::npy::Dtype;
use super::{DataError, DataErrorKind, PixelFormat, Split};

/// The file-name stems of the four files in a data directory.
pub const FILE_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Every idx file of `dir` that loading may read, raw and gzipped.
pub(super) fn idx_files_of(dir: &Path) -> Vec<PathBuf> {
    FILE_STEMS
        .iter()
        .flat_map(|stem| [dir.join(stem), dir.join(format!("{stem}.gz"))])
        .collect()
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
