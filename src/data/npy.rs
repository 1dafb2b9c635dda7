//! The NumPy `.npy` format: header parsing and length validation.
//!
//! A `.npy` file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the
//! header's length (little-endian `u16` in version 1, `u32` after), the header
//! (a Python dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape':
//! (60000, 784), }`), padding, then the array's bytes.
//!
//! ```
//! use softreg::data::npy::{Dtype, NpyHeader};
//! let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
//! let mut file = b"\x93NUMPY\x01\x00".to_vec();
//! file.extend_from_slice(&(header.len() as u16).to_le_bytes());
//! file.extend_from_slice(header.as_bytes());
//! file.extend_from_slice(&[0; 24]);
//! let npy = NpyHeader::parse(&file).unwrap();
//! assert_eq!((npy.dtype(), npy.shape()), (Dtype::F32, &[2, 3][..]));
//! assert_eq!(npy.data(&file).unwrap().len(), 24);
//! ```
//!
//! Only what softreg trains on is read: little-endian (or single-byte)
//! integers and floats in C order. Fortran order, big-endian data, structured
//! and object dtypes are refused with a message saying so; an object array is
//! a pickle, and nothing here ever unpickles. The parser is written here
//! rather than taken from a crate because a hostile header must cost nothing:
//! the header's claimed length is checked against the file before anything is
//! read, it is capped at [`MAX_HEADER_LEN`], and the shape's product is
//! overflow-checked, so no claim drives an allocation or a panic.

pub use super::npy_header::f32_file;
use super::npy_header::{DictError, HeaderDict};
use thiserror::Error;

/// The longest header read: NumPy itself refuses headers over 10,000 bytes
/// by default.
pub const MAX_HEADER_LEN: usize = 65_536;

/// The element types softreg reads from `.npy` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `u1`: pixels (scaled by 1/255) or labels.
    U8,
    /// `i1`.
    I8,
    /// `u2`.
    U16,
    /// `i2`.
    I16,
    /// `u4`.
    U32,
    /// `i4`.
    I32,
    /// `u8`.
    U64,
    /// `i8`.
    I64,
    /// `f4`: trained on straight from the file's mapping.
    F32,
    /// `f8`.
    F64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Whether the type holds integers (what labels must be).
    pub fn is_integer(self) -> bool {
        !matches!(self, Self::F32 | Self::F64)
    }

    /// The type of a `descr` such as `<f4` or `|u1`.
    fn from_descr(descr: &str) -> Result<Self, NpyError> {
        let unsupported = || NpyError::UnsupportedDtype(descr.to_string());
        let (order, kind) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        if kind.starts_with('O') {
            return Err(NpyError::Pickled);
        }
        let dtype = match kind {
            "u1" | "B" => Self::U8,
            "i1" | "b" => Self::I8,
            "u2" => Self::U16,
            "i2" => Self::I16,
            "u4" => Self::U32,
            "i4" => Self::I32,
            "u8" => Self::U64,
            "i8" => Self::I64,
            "f4" => Self::F32,
            "f8" => Self::F64,
            _ => return Err(unsupported()),
        };
        if order == '>' && dtype.size() > 1 {
            return Err(NpyError::BigEndian(descr.to_string()));
        }
        Ok(dtype)
    }

    /// The name messages use.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::U16 => "uint16",
            Self::I16 => "int16",
            Self::U32 => "uint32",
            Self::I32 => "int32",
            Self::U64 => "uint64",
            Self::I64 => "int64",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }
}

/// What is wrong with a `.npy` file. The file name is added by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NpyError {
    /// The file does not start with the `.npy` magic.
    #[error("not a .npy file: it does not start with \\x93NUMPY")]
    BadMagic,
    /// A format version this reader does not know.
    #[error("format version {0}.{1} is not one of .npy's 1.0, 2.0 and 3.0")]
    Version(u8, u8),
    /// Fewer bytes than the header needs.
    #[error("too short for its .npy header: {actual} bytes, the header needs {needed}")]
    HeaderTruncated { needed: u64, actual: u64 },
    /// A header longer than [`MAX_HEADER_LEN`].
    #[error("its header claims {0} bytes; at most {MAX_HEADER_LEN} are read")]
    HeaderTooLong(u64),
    /// The header is not the dict literal NumPy writes.
    #[error("malformed header: {0}")]
    BadHeader(String),
    /// Column-major data.
    #[error(
        "the array is in Fortran order; save it in C order (np.save(path, np.ascontiguousarray(a)))"
    )]
    FortranOrder,
    /// Multi-byte elements stored big-endian.
    #[error(
        "dtype {0:?} is big-endian; save it little-endian (a.astype(a.dtype.newbyteorder('<')))"
    )]
    BigEndian(String),
    /// An object array: its data is a pickle.
    #[error("holds Python objects (a pickle), which softreg never unpickles; save a numeric array")]
    Pickled,
    /// A dtype softreg does not read.
    #[error(
        "dtype {0:?} is not supported: samples and labels are integers (u1 to i8) or floats (f4, f8)"
    )]
    UnsupportedDtype(String),
    /// The product of the shape does not fit in 64 bits.
    #[error("shape {0:?} describes more bytes than fit in 64 bits")]
    SizeOverflow(Vec<u64>),
    /// The file ends before the data the header describes.
    #[error("truncated: the header describes {expected} bytes, the file has {actual}")]
    Truncated { expected: u64, actual: u64 },
    /// The file goes on after the data the header describes.
    #[error("{} trailing bytes after the {expected} bytes the header describes", actual - expected)]
    TrailingBytes { expected: u64, actual: u64 },
}

/// A validated `.npy` header: element type, shape and where the data starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offset: usize,
    total_len: u64,
}

impl NpyHeader {
    /// Parses the header at the start of `bytes` (the data need not be there
    /// yet: see [`Self::check_length`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, NpyError> {
        let truncated = |needed: usize| NpyError::HeaderTruncated {
            needed: needed as u64,
            actual: bytes.len() as u64,
        };
        if bytes.len() < 8 {
            return Err(if b"\x93NUMPY".starts_with(bytes) {
                truncated(8)
            } else {
                NpyError::BadMagic
            });
        }
        if &bytes[..6] != b"\x93NUMPY" {
            return Err(NpyError::BadMagic);
        }
        let (len_bytes, utf8) = match (bytes[6], bytes[7]) {
            (1, 0) => (2, false),
            (2, 0) => (4, false),
            (3, 0) => (4, true),
            (major, minor) => return Err(NpyError::Version(major, minor)),
        };
        let start = 8 + len_bytes;
        if bytes.len() < start {
            return Err(truncated(start));
        }
        let mut len = [0u8; 4];
        len[..len_bytes].copy_from_slice(&bytes[8..start]);
        let header_len = u64::from(u32::from_le_bytes(len));
        if header_len > MAX_HEADER_LEN as u64 {
            return Err(NpyError::HeaderTooLong(header_len));
        }
        let end = start + header_len as usize;
        let text = bytes.get(start..end).ok_or_else(|| truncated(end))?;
        let text = match std::str::from_utf8(text) {
            Ok(text) if utf8 || text.is_ascii() => text,
            _ => return Err(NpyError::BadHeader("not ASCII text".to_string())),
        };
        let dict = HeaderDict::parse(text).map_err(|e| match e {
            DictError::StructuredDtype => NpyError::UnsupportedDtype("a structured dtype".into()),
            DictError::Malformed(what) => NpyError::BadHeader(what),
        })?;
        if dict.fortran_order {
            return Err(NpyError::FortranOrder);
        }
        let dtype = Dtype::from_descr(&dict.descr)?;
        let data_len = dict
            .shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d));
        let total_len = data_len
            .and_then(|n| n.checked_add(end as u64))
            .ok_or_else(|| NpyError::SizeOverflow(dict.shape.clone()))?;
        let shape = dict
            .shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| NpyError::SizeOverflow(dict.shape.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            dtype,
            shape,
            data_offset: end,
            total_len,
        })
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Where the data starts in the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The number of data bytes the header implies.
    pub fn data_len(&self) -> u64 {
        self.total_len - self.data_offset as u64
    }

    /// Checks that a file of `actual` bytes holds exactly what the header
    /// describes.
    pub fn check_length(&self, actual: u64) -> Result<(), NpyError> {
        let expected = self.total_len;
        match actual.cmp(&expected) {
            std::cmp::Ordering::Less => Err(NpyError::Truncated { expected, actual }),
            std::cmp::Ordering::Greater => Err(NpyError::TrailingBytes { expected, actual }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// The data bytes of `file` after checking its length against the header.
    pub fn data<'a>(&self, file: &'a [u8]) -> Result<&'a [u8], NpyError> {
        self.check_length(file.len() as u64)?;
        Ok(&file[self.data_offset..])
    }
}

#[cfg(test)]
mod tests {
    use super::{Dtype, NpyError, NpyHeader};

    use crate::data::npy_header::with_header as file;

    #[test]
    fn numpy_headers_parse_to_dtype_shape_and_offset() {
        for (descr, dtype) in [
            ("<f4", Dtype::F32),
            ("|u1", Dtype::U8),
            ("<i8", Dtype::I64),
            ("|i1", Dtype::I8),
        ] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (3, 2), }}");
            let bytes = file(&dict, &vec![0; 6 * dtype.size()]);
            let header = NpyHeader::parse(&bytes).unwrap();
            assert_eq!(header.dtype(), dtype);
            assert_eq!(header.shape(), &[3, 2]);
            assert_eq!(header.data_offset() % 64, 0);
            assert_eq!(header.data(&bytes).unwrap().len(), 6 * dtype.size());
        }
        let labels = file(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }",
            &[0; 20],
        );
        assert_eq!(NpyHeader::parse(&labels).unwrap().shape(), &[5]);
    }

    #[test]
    fn what_softreg_does_not_read_is_refused_with_the_reason() {
        let refused = |dict: &str| NpyHeader::parse(&file(dict, &[])).unwrap_err();
        let fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
        assert_eq!(refused(fortran), NpyError::FortranOrder);
        let big = "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }";
        assert_eq!(refused(big), NpyError::BigEndian(">f8".into()));
        let object = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }";
        assert_eq!(refused(object), NpyError::Pickled);
        let complex = "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }";
        assert_eq!(refused(complex), NpyError::UnsupportedDtype("<c8".into()));
        let structured = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }";
        assert!(matches!(refused(structured), NpyError::UnsupportedDtype(_)));
        let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
        assert!(matches!(refused(huge), NpyError::SizeOverflow(_)));
        assert!(matches!(
            refused("{'descr': '<f4', 'shape': (2,)}"),
            NpyError::BadHeader(_)
        ));
        assert!(matches!(refused("[1, 2]"), NpyError::BadHeader(_)));
    }

    #[test]
    fn written_files_read_back() {
        let values = [1.5f32, -2.0, 0.25, 8.0, 0.0, 1e-3];
        let bytes = super::f32_file(&[3, 2], &values);
        let header = NpyHeader::parse(&bytes).unwrap();
        assert_eq!((header.dtype(), header.shape()), (Dtype::F32, &[3, 2][..]));
        assert_eq!(header.data_offset() % 64, 0);
        let data = header.data(&bytes).unwrap();
        let read: Vec<f32> = data
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(read, values);
    }

    #[test]
    fn lying_lengths_cost_nothing() {
        assert_eq!(
            NpyHeader::parse(b"PK\x03\x04 zip").unwrap_err(),
            NpyError::BadMagic
        );
        let mut claim = b"\x93NUMPY\x02\x00".to_vec();
        claim.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            NpyHeader::parse(&claim).unwrap_err(),
            NpyError::HeaderTooLong(u64::from(u32::MAX))
        );
        let mut short = b"\x93NUMPY\x01\x00".to_vec();
        short.extend_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            NpyHeader::parse(&short),
            Err(NpyError::HeaderTruncated { .. })
        ));
        let bytes = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 768), }",
            &[0; 8],
        );
        let header = NpyHeader::parse(&bytes).unwrap();
        assert!(matches!(
            header.data(&bytes),
            Err(NpyError::Truncated { .. })
        ));
    }
}
