//! A file's samples and labels decoded from its elements, whatever the
//! format (idx: big-endian; `.npy`: little-endian): byte samples stay bytes
//! (pixels, scaled by 1/255), f32 samples in the machine's byte order train
//! straight from the file's mapping, other samples become f32 once; labels
//! of any integer type become [`Label`]s.

use std::path::Path;

use super::buffer::{Bytes, Held, PixelBuffer};
use super::files::FileBytes;
use super::npy::Dtype;
use super::{DataError, DataErrorKind, Images, Label, PixelFormat, check_fits, size_of_pixel};

/// The elements of a file's data: their type, byte order, and where they are
/// in the file.
pub(super) struct Elements {
    pub dtype: Dtype,
    pub big_endian: bool,
    pub file: FileBytes,
    /// Where the data starts in the file, in bytes.
    pub start: usize,
    /// How many elements there are.
    pub len: usize,
}

impl Elements {
    fn data(&self) -> &[u8] {
        &self.file[self.start..self.start + self.len * self.dtype.size()]
    }

    /// Element `i`'s bytes in little-endian order.
    fn le_bytes<const N: usize>(&self, i: usize) -> [u8; N] {
        let mut b: [u8; N] = self.data()[i * N..(i + 1) * N].try_into().expect("N bytes");
        if self.big_endian {
            b.reverse();
        }
        b
    }

    /// Element `i`, exactly (every integer type fits in i128).
    fn integer(&self, i: usize) -> i128 {
        match self.dtype {
            Dtype::U8 => i128::from(self.data()[i]),
            Dtype::I8 => i128::from(self.data()[i] as i8),
            Dtype::U16 => i128::from(u16::from_le_bytes(self.le_bytes(i))),
            Dtype::I16 => i128::from(i16::from_le_bytes(self.le_bytes(i))),
            Dtype::U32 => i128::from(u32::from_le_bytes(self.le_bytes(i))),
            Dtype::I32 => i128::from(i32::from_le_bytes(self.le_bytes(i))),
            Dtype::U64 => i128::from(u64::from_le_bytes(self.le_bytes(i))),
            Dtype::I64 => i128::from(i64::from_le_bytes(self.le_bytes(i))),
            Dtype::F32 | Dtype::F64 => unreachable!("labels are integers"),
        }
    }

    /// Every element as f32 into `out` (rounded to nearest where f32 cannot
    /// hold it exactly).
    fn write_f32(&self, out: &mut [f32]) {
        fn convert<const N: usize>(e: &Elements, out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
            for (i, out) in out.iter_mut().enumerate() {
                *out = f(e.le_bytes(i));
            }
        }
        match self.dtype {
            Dtype::U8 => convert(self, out, |b: [u8; 1]| f32::from(b[0])),
            Dtype::I8 => convert(self, out, |b: [u8; 1]| f32::from(b[0] as i8)),
            Dtype::U16 => convert(self, out, |b| f32::from(u16::from_le_bytes(b))),
            Dtype::I16 => convert(self, out, |b| f32::from(i16::from_le_bytes(b))),
            Dtype::U32 => convert(self, out, |b| u32::from_le_bytes(b) as f32),
            Dtype::I32 => convert(self, out, |b| i32::from_le_bytes(b) as f32),
            Dtype::U64 => convert(self, out, |b| u64::from_le_bytes(b) as f32),
            Dtype::I64 => convert(self, out, |b| i64::from_le_bytes(b) as f32),
            Dtype::F32 => convert(self, out, f32::from_le_bytes),
            Dtype::F64 => convert(self, out, |b| f64::from_le_bytes(b) as f32),
        }
    }
}

/// The samples of a file of `height x width` features each, held as
/// [`elements`](super::elements) says. Bytes keep `format` (mapped, copied,
/// or as f32 with their exact values), with the scale 1/255; any other type
/// is f32 values as they are (scale 1): from the mapping when the file holds
/// f32 in this machine's byte order, aligned, else converted once. A NaN or
/// an infinity is refused, naming the sample and the feature.
pub(super) fn samples(
    path: &Path,
    (height, width): (usize, usize),
    elements: Elements,
    format: PixelFormat,
) -> Result<Images, DataError> {
    let error = |kind| DataError::new(path, kind);
    let format = match elements.dtype {
        Dtype::U8 => format,
        _ => PixelFormat::F32,
    };
    let described = (elements.len * elements.dtype.size()) as u64;
    let in_place = matches!(elements.file, FileBytes::Mapped(_))
        && elements.dtype == Dtype::F32
        && elements.big_endian == cfg!(target_endian = "big")
        && elements.start.is_multiple_of(align_of::<f32>());
    let needed = if in_place {
        0
    } else {
        (elements.len as u64).saturating_mul(size_of_pixel(format))
    };
    check_fits(described, needed, format.held()).map_err(error)?;
    let io_err = |e| error(DataErrorKind::Io(e));
    if elements.dtype == Dtype::U8 {
        let (start, len) = (elements.start, elements.len);
        return match (format, elements.file) {
            (PixelFormat::U8, FileBytes::Mapped(map)) => {
                let bytes = Bytes::mapped(map, start, len).expect("the data lies within the file");
                Ok(Images::from_held_bytes(height, width, bytes))
            }
            (_, bytes) => Images::from_bytes(height, width, &bytes[start..start + len], format)
                .map_err(io_err),
        };
    }
    let values = if in_place {
        let Elements {
            file: FileBytes::Mapped(map),
            start,
            len,
            ..
        } = elements
        else {
            unreachable!("in place only from a mapping")
        };
        Held::mapped(map, start, len).expect("aligned, within the file")
    } else {
        let buffer =
            PixelBuffer::from_fn(elements.len, |out| elements.write_f32(out)).map_err(io_err)?;
        Held::Owned(buffer)
    };
    let features = height * width;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(error(DataErrorKind::NotFinite {
            sample: i / features,
            feature: i % features,
            value: f64::from(values[i]),
        }));
    }
    Ok(Images::from_values(height, width, values))
}

/// The labels of a file: integers of any type, each at least 0 and below
/// `classes`.
pub(super) fn labels(
    path: &Path,
    elements: Elements,
    classes: usize,
) -> Result<Vec<Label>, DataError> {
    if !elements.dtype.is_integer() {
        return Err(DataError::new(
            path,
            DataErrorKind::FloatLabels(elements.dtype.name()),
        ));
    }
    let mut labels = Vec::with_capacity(elements.len);
    for index in 0..elements.len {
        let label = elements.integer(index);
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

/// The shape of the samples of an array of dimensions `dims` (the count
/// first): `(height, width)` for images (three dimensions), `(1, features)`
/// for vectors (two, or four and more, flattened).
pub(super) fn sample_shape(dims: &[usize]) -> (usize, usize) {
    match dims {
        [_, height, width] => (*height, *width),
        [_, rest @ ..] => (1, rest.iter().product()),
        [] => (1, 0),
    }
}
