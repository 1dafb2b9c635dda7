//! A data directory of idx files: the four file names, and a split loaded
//! from an image file and its label file.

use std::path::{Path, PathBuf};

use super::buffer::Bytes;
use super::buffer::PixelBuffer;
use super::files::{FileBytes, IdxFile, open_idx};
use super::idx::{ElementType, Holds, IdxHeader};
use super::{
    DataError, DataErrorKind, Dataset, Images, Label, MAX_CLASS_NAME_CHARS, MAX_CLASSES,
    PixelFormat, Split, check_fits, fashion_mnist, size_of_pixel,
};

/// The file-name stems of the four files in a data directory.
pub const FILE_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

impl Dataset {
    /// Loads the four idx files of `dir`, raw or gzipped, as f32 pixels, with
    /// `classes` classes (every label must be below it), or as many as the
    /// largest label says.
    pub fn load(dir: &Path, classes: Option<usize>) -> Result<Self, DataError> {
        Self::load_as(dir, classes, PixelFormat::F32)
    }

    /// [`Dataset::load`] with byte pixels held in `format` (samples of other
    /// types are f32 whatever it says).
    pub fn load_as(
        dir: &Path,
        classes: Option<usize>,
        format: PixelFormat,
    ) -> Result<Self, DataError> {
        let bound = classes.unwrap_or(MAX_CLASSES);
        let train = load_split(dir, FILE_STEMS[0], FILE_STEMS[1], bound, format)?;
        let test = load_split(dir, FILE_STEMS[2], FILE_STEMS[3], bound, format)?;
        if test.images.shape() != train.images.shape() {
            return Err(DataError::new(
                &dir.join(FILE_STEMS[2]),
                DataErrorKind::ShapeMismatch {
                    expected: train.images.shape(),
                    found: test.images.shape(),
                },
            ));
        }
        let highest = [&train, &test]
            .iter()
            .filter_map(|s| s.highest_label())
            .map(|(_, label)| label as usize)
            .max()
            .unwrap_or(0);
        let classes = classes.unwrap_or(highest + 1);
        let class_names = class_names(dir, [&train, &test], classes)?;
        Ok(Self {
            train,
            test,
            classes,
            class_names,
        })
    }
}

/// The name of the plain-text file in a data directory that names the
/// classes, one per line, by label.
pub const CLASS_NAMES_FILE: &str = "classes.txt";

/// The class names of a data set: the lines of [`CLASS_NAMES_FILE`] in `dir`
/// if there is one, Fashion-MNIST's if the splits' labels are Fashion-MNIST's
/// (recognised by their checksums), else the class numbers.
fn class_names(dir: &Path, splits: [&Split; 2], classes: usize) -> Result<Vec<String>, DataError> {
    let path = dir.join(CLASS_NAMES_FILE);
    if path.exists() {
        let text = crate::input::read_capped(&path, MAX_NAMES_BYTES)
            .map_err(|e| DataError::new(&path, DataErrorKind::Io(e)))?;
        let text = String::from_utf8_lossy(&text);
        let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        if let Some((line, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| n.chars().count() > MAX_CLASS_NAME_CHARS)
        {
            let kind = DataErrorKind::ClassNameTooLong {
                line: line + 1,
                chars: name.chars().count(),
            };
            return Err(DataError::new(&path, kind));
        }
        if names.len() != classes {
            let kind = DataErrorKind::ClassNames {
                names: names.len(),
                classes,
            };
            return Err(DataError::new(&path, kind));
        }
        return Ok(names);
    }
    let [train, test] = splits;
    if classes == fashion_mnist::CLASSES
        && fashion_mnist::is_fashion_mnist(&train.labels, &test.labels)
    {
        return Ok(fashion_mnist::CLASS_NAMES.map(str::to_string).to_vec());
    }
    Ok((0..classes).map(|c| c.to_string()).collect())
}

/// The largest class-names file read: 16 MB.
const MAX_NAMES_BYTES: u64 = 16 << 20;

/// Every file of `dir` that loading may read, raw and gzipped: what no output
/// may overwrite.
pub fn files_of(dir: &Path) -> Vec<PathBuf> {
    FILE_STEMS
        .iter()
        .flat_map(|stem| [dir.join(stem), dir.join(format!("{stem}.gz"))])
        .collect()
}

/// Loads only the test split of `dir` (what scoring a saved model needs), with
/// any label below [`MAX_CLASSES`] accepted; check the labels against the
/// model with [`Split::highest_label`].
pub fn load_test(dir: &Path, format: PixelFormat) -> Result<Split, DataError> {
    load_split(dir, FILE_STEMS[2], FILE_STEMS[3], MAX_CLASSES, format)
}

impl Split {
    /// The largest label and the index of its first image, if any.
    pub fn highest_label(&self) -> Option<(usize, Label)> {
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
    let (images_path, images) = open_idx(dir, images_stem, Holds::Samples)?;
    let (labels_path, labels) = open_idx(dir, labels_stem, Holds::Labels)?;
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

/// The shape of the samples of an idx file of dimensions `dims` (the count
/// first): `(height, width)` for images (three dimensions), `(1, features)`
/// for vectors (two, or four and more, flattened).
fn sample_shape(dims: &[usize]) -> (usize, usize) {
    match dims {
        [_, height, width] => (*height, *width),
        [_, rest @ ..] => (1, rest.iter().product()),
        [] => (1, 0),
    }
}

/// The images of an idx file: byte pixels of a mapped file stay in the
/// mapping (or are copied, or converted to f32, as `format` says, with the
/// scale 1/255); elements of any other type are converted once to f32 values
/// as they are (scale 1), and must be finite.
fn decode_images(path: &Path, file: IdxFile, format: PixelFormat) -> Result<Images, DataError> {
    let (bytes, header) = (&file.bytes, &file.header);
    let (height, width) = sample_shape(header.dims());
    if height == 0 || width == 0 {
        return Err(DataError::new(
            path,
            DataErrorKind::EmptyImages((height, width)),
        ));
    }
    let data = header
        .data(bytes)
        .map_err(|e| DataError::new(path, e.into()))?;
    let element = header.element();
    let format = if element == ElementType::U8 {
        format
    } else {
        PixelFormat::F32
    };
    let described = data.len() as u64;
    let needed = (described / element.size() as u64).saturating_mul(size_of_pixel(format));
    check_fits(described, needed, format.held()).map_err(|kind| DataError::new(path, kind))?;
    let io_err = |e| DataError::new(path, DataErrorKind::Io(e));
    // The data is the file after its header.
    let (start, len) = (bytes.len() - data.len(), data.len());
    if element != ElementType::U8 {
        let values = Elements::new(element, data);
        let features = height * width;
        if let Some((i, value)) = values.first_not_finite() {
            let kind = DataErrorKind::NotFinite {
                sample: i / features,
                feature: i % features,
                value,
            };
            return Err(DataError::new(path, kind));
        }
        let buffer =
            PixelBuffer::from_fn(values.len(), |out| values.write_f32(out)).map_err(io_err)?;
        return Ok(Images::from_values(height, width, buffer));
    }
    match (format, file.bytes) {
        (PixelFormat::U8, FileBytes::Mapped(map)) => Ok(Images::from_held_bytes(
            height,
            width,
            Bytes::mapped(map, start, len),
        )),
        (_, bytes) => {
            Images::from_bytes(height, width, &bytes[start..start + len], format).map_err(io_err)
        }
    }
}

/// The labels of an idx file: integers of any idx type, each at least 0 and
/// below `classes`.
fn decode_labels(
    path: &Path,
    bytes: &[u8],
    header: &IdxHeader,
    classes: usize,
) -> Result<Vec<Label>, DataError> {
    let data = header
        .data(bytes)
        .map_err(|e| DataError::new(path, e.into()))?;
    let values = Elements::new(header.element(), data);
    let mut labels = Vec::with_capacity(values.len());
    for index in 0..values.len() {
        let label = values.integer(index);
        match Label::try_from(label) {
            Ok(l) if (l as usize) < classes => labels.push(l),
            _ => {
                let kind = DataErrorKind::LabelOutOfRange {
                    index,
                    label,
                    classes,
                };
                return Err(DataError::new(path, kind));
            }
        }
    }
    Ok(labels)
}

/// The big-endian elements of an idx file's data, read one by one.
struct Elements<'a> {
    element: ElementType,
    data: &'a [u8],
}

impl<'a> Elements<'a> {
    fn new(element: ElementType, data: &'a [u8]) -> Self {
        Self { element, data }
    }

    fn len(&self) -> usize {
        self.data.len() / self.element.size()
    }

    /// Element `i` as f64 (exact for every idx type).
    fn value(&self, i: usize) -> f64 {
        let size = self.element.size();
        let b = &self.data[i * size..(i + 1) * size];
        match self.element {
            ElementType::U8 => f64::from(b[0]),
            ElementType::I8 => f64::from(b[0] as i8),
            ElementType::I16 => f64::from(i16::from_be_bytes([b[0], b[1]])),
            ElementType::I32 => f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            ElementType::F32 => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            ElementType::F64 => {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
        }
    }

    /// Element `i` of an integer type.
    fn integer(&self, i: usize) -> i64 {
        debug_assert!(self.element.is_integer());
        self.value(i) as i64
    }

    /// The first element that is NaN or infinite, and its value.
    fn first_not_finite(&self) -> Option<(usize, f64)> {
        (0..self.len())
            .map(|i| (i, self.value(i)))
            .find(|(_, v)| !v.is_finite())
    }

    /// Every element as f32 into `out` (f64 rounded to nearest).
    fn write_f32(&self, out: &mut [f32]) {
        for (i, out) in out.iter_mut().enumerate() {
            *out = self.value(i) as f32;
        }
    }
}
