//! A data directory of idx files: the four file names, and a split loaded
//! from an image file and its label file.

use std::path::{Path, PathBuf};

use super::buffer::Bytes;
use super::files::{FileBytes, IdxFile, open_idx};
use super::idx::IdxHeader;
use super::{
    DataError, DataErrorKind, Dataset, Images, PixelFormat, Split, check_fits, size_of_pixel,
};

/// The file-name stems of the four files in a data directory.
pub const FILE_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

impl Dataset {
    /// Loads the four idx files of `dir`, raw or gzipped, as f32 pixels, checking
    /// every label is below `classes`.
    pub fn load(dir: &Path, classes: usize) -> Result<Self, DataError> {
        Self::load_as(dir, classes, PixelFormat::F32)
    }

    /// [`Dataset::load`] with the pixels held in `format`.
    pub fn load_as(dir: &Path, classes: usize, format: PixelFormat) -> Result<Self, DataError> {
        let train = load_split(dir, FILE_STEMS[0], FILE_STEMS[1], classes, format)?;
        let test = load_split(dir, FILE_STEMS[2], FILE_STEMS[3], classes, format)?;
        if test.images.shape() != train.images.shape() {
            return Err(DataError::new(
                &dir.join(FILE_STEMS[2]),
                DataErrorKind::ShapeMismatch {
                    expected: train.images.shape(),
                    found: test.images.shape(),
                },
            ));
        }
        Ok(Self {
            train,
            test,
            classes,
        })
    }
}

/// Every file of `dir` that loading may read, raw and gzipped: what no output
/// may overwrite.
pub fn files_of(dir: &Path) -> Vec<PathBuf> {
    FILE_STEMS
        .iter()
        .flat_map(|stem| [dir.join(stem), dir.join(format!("{stem}.gz"))])
        .collect()
}

/// Loads only the test split of `dir` (what scoring a saved model needs), with
/// any byte label accepted; check the labels against the model with
/// [`Split::highest_label`].
pub fn load_test(dir: &Path, format: PixelFormat) -> Result<Split, DataError> {
    load_split(dir, FILE_STEMS[2], FILE_STEMS[3], 256, format)
}

impl Split {
    /// The largest label and the index of its first image, if any.
    pub fn highest_label(&self) -> Option<(usize, u8)> {
        let max = *self.labels.iter().max()?;
        let index = self.labels.iter().position(|&l| l == max)?;
        Some((index, max))
    }
}

/// Loads one image file and its label file as a split.
pub fn load_split(
    dir: &Path,
    images_stem: &str,
    labels_stem: &str,
    classes: usize,
    format: PixelFormat,
) -> Result<Split, DataError> {
    let (images_path, images) = open_idx(dir, images_stem, 3)?;
    let (labels_path, labels) = open_idx(dir, labels_stem, 1)?;
    let images = decode_images(&images_path, images, format)?;
    let labels = decode_labels(&labels_path, &labels.bytes, &labels.header, classes)?;
    if images.is_empty() {
        return Err(DataError::new(&images_path, DataErrorKind::NoImages));
    }
    if labels.len() != images.len() {
        return Err(DataError::new(
            &labels_path,
            DataErrorKind::CountMismatch {
                images: images.len(),
                labels: labels.len(),
            },
        ));
    }
    Ok(Split { images, labels })
}

/// The images of an idx file: byte pixels of a mapped file stay in the
/// mapping, others are copied (or converted to f32) once.
fn decode_images(path: &Path, file: IdxFile, format: PixelFormat) -> Result<Images, DataError> {
    let (bytes, header) = (&file.bytes, &file.header);
    let dims = header.dims();
    let (height, width) = (dims[1], dims[2]);
    if height == 0 || width == 0 {
        return Err(DataError::new(
            path,
            DataErrorKind::EmptyImages((height, width)),
        ));
    }
    let data = header
        .data(bytes)
        .map_err(|e| DataError::new(path, e.into()))?;
    let (described, bytes_per_pixel) = (data.len() as u64, size_of_pixel(format));
    check_fits(
        described,
        described.saturating_mul(bytes_per_pixel),
        format.held(),
    )
    .map_err(|kind| DataError::new(path, kind))?;
    // The data is the file after its header.
    let (start, len) = (bytes.len() - data.len(), data.len());
    match (format, file.bytes) {
        (PixelFormat::U8, FileBytes::Mapped(map)) => Ok(Images::from_held_bytes(
            height,
            width,
            Bytes::mapped(map, start, len),
        )),
        (_, bytes) => Images::from_bytes(height, width, &bytes[start..start + len], format)
            .map_err(|e| DataError::new(path, DataErrorKind::Io(e))),
    }
}

fn decode_labels(
    path: &Path,
    bytes: &[u8],
    header: &IdxHeader,
    classes: usize,
) -> Result<Vec<u8>, DataError> {
    let data = header
        .data(bytes)
        .map_err(|e| DataError::new(path, e.into()))?;
    if let Some((index, &label)) = data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        return Err(DataError::new(
            path,
            DataErrorKind::LabelOutOfRange {
                index,
                label,
                classes,
            },
        ));
    }
    Ok(data.to_vec())
}
