//! The idx file format: header parsing and length validation.
//!
//! An idx file is a big-endian header followed by row-major data:
//! two zero bytes, one element-type byte ([`ElementType`]), one byte with
//! the number of dimensions, then one `u32` per dimension. A file of samples
//! has two or more dimensions (the count, then one sample's shape, flattened
//! to its features); a label file has one.
//!
//! ```
//! use softreg::data::idx::{Holds, IdxHeader};
//! let mut file = vec![0, 0, 0x08, 1, 0, 0, 0, 3];
//! file.extend_from_slice(&[7, 8, 9]);
//! let header = IdxHeader::parse(&file, Holds::Labels).unwrap();
//! assert_eq!(header.dims(), &[3]);
//! assert_eq!(header.data(&file).unwrap(), &[7, 8, 9]);
//! ```
//!
//! Nothing is allocated from the header's claims: [`IdxHeader::check_length`]
//! compares what the header implies (with overflow-checked arithmetic) with the
//! length actually present before any caller trusts the dimensions.

use thiserror::Error;

/// The element types the idx format defines, each stored big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// `0x08`, unsigned byte: pixels (scaled by 1/255) or labels.
    U8,
    /// `0x09`, signed byte.
    I8,
    /// `0x0B`, 16-bit signed integer.
    I16,
    /// `0x0C`, 32-bit signed integer.
    I32,
    /// `0x0D`, 32-bit float.
    F32,
    /// `0x0E`, 64-bit float.
    F64,
}

impl ElementType {
    /// The type of an idx type code, if the format defines it.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => Self::U8,
            0x09 => Self::I8,
            0x0B => Self::I16,
            0x0C => Self::I32,
            0x0D => Self::F32,
            0x0E => Self::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// Whether the type holds integers (what labels must be).
    pub fn is_integer(self) -> bool {
        !matches!(self, Self::F32 | Self::F64)
    }

    /// The name messages use.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "unsigned byte",
            Self::I8 => "signed byte",
            Self::I16 => "16-bit integer",
            Self::I32 => "32-bit integer",
            Self::F32 => "32-bit float",
            Self::F64 => "64-bit float",
        }
    }
}

/// What an idx file of a data set holds, and so how many dimensions it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Samples: the count, then one sample's shape (two or more dimensions).
    Samples,
    /// Labels: one integer per sample (one dimension).
    Labels,
}

impl Holds {
    /// Whether a file of `rank` dimensions can hold this.
    fn accepts(self, rank: usize) -> bool {
        match self {
            Holds::Samples => rank >= 2,
            Holds::Labels => rank == 1,
        }
    }
}

impl std::fmt::Display for Holds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Holds::Samples => "samples need at least 2 (the count, then one sample's shape)",
            Holds::Labels => "labels need 1",
        })
    }
}

/// What is wrong with an idx file. The file name is added by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdxError {
    /// Fewer bytes than the fixed header needs.
    #[error("too short for an idx header: {actual} bytes, the header needs {needed}")]
    HeaderTruncated { needed: u64, actual: u64 },
    /// The first two bytes are not zero.
    #[error(
        "not an idx file: it starts with bytes {0:#04x} {1:#04x}, idx files start with two zero bytes"
    )]
    BadMagic(u8, u8),
    /// The element type code is not one the idx format defines.
    #[error(
        "element type code {0:#04x} is not an idx type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)"
    )]
    UnsupportedType(u8),
    /// Labels stored as floats.
    #[error("labels are stored as {}; they must be integers", .0.name())]
    FloatLabels(ElementType),
    /// The number of dimensions is not what this file must have.
    #[error("has {found} dimensions; {expected}")]
    WrongRank { expected: Holds, found: usize },
    /// The product of the dimensions does not fit in 64 bits.
    #[error("header dimensions {dims:?} describe more bytes than fit in 64 bits")]
    SizeOverflow { dims: Vec<u32> },
    /// The file ends before the data the header describes.
    #[error("truncated: the header describes {expected} bytes, the file has {actual}")]
    Truncated { expected: u64, actual: u64 },
    /// The file goes on after the data the header describes.
    #[error("{} trailing bytes after the {expected} bytes the header describes", actual - expected)]
    TrailingBytes { expected: u64, actual: u64 },
}

/// A validated idx header: the element type and the dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxHeader {
    element: ElementType,
    dims: Vec<usize>,
    total_len: u64,
}

impl IdxHeader {
    /// The number of header bytes for a file of `rank` dimensions.
    pub fn header_len(rank: usize) -> usize {
        4 + 4 * rank
    }

    /// Reads the fixed 4-byte prefix and returns the element type and the rank
    /// it announces, checked against what the file `holds`.
    ///
    /// `prefix` must hold at least 4 bytes; fewer is [`IdxError::HeaderTruncated`].
    pub fn parse_prefix(prefix: &[u8], holds: Holds) -> Result<(ElementType, usize), IdxError> {
        if prefix.len() < 4 {
            return Err(IdxError::HeaderTruncated {
                needed: 4,
                actual: prefix.len() as u64,
            });
        }
        if prefix[0] != 0 || prefix[1] != 0 {
            return Err(IdxError::BadMagic(prefix[0], prefix[1]));
        }
        let element =
            ElementType::from_code(prefix[2]).ok_or(IdxError::UnsupportedType(prefix[2]))?;
        let rank = usize::from(prefix[3]);
        if !holds.accepts(rank) {
            return Err(IdxError::WrongRank {
                expected: holds,
                found: rank,
            });
        }
        if holds == Holds::Labels && !element.is_integer() {
            return Err(IdxError::FloatLabels(element));
        }
        Ok((element, rank))
    }

    /// Parses the header at the start of `bytes`, which must hold at least the
    /// whole header (the data need not be there yet: see [`Self::check_length`]).
    pub fn parse(bytes: &[u8], holds: Holds) -> Result<Self, IdxError> {
        let (element, rank) = Self::parse_prefix(bytes, holds)?;
        let header_len = Self::header_len(rank);
        if bytes.len() < header_len {
            return Err(IdxError::HeaderTruncated {
                needed: header_len as u64,
                actual: bytes.len() as u64,
            });
        }
        let raw_dims: Vec<u32> = bytes[4..header_len]
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let data_len = raw_dims.iter().try_fold(element.size() as u64, |acc, &d| {
            acc.checked_mul(u64::from(d))
        });
        let total_len = data_len
            .and_then(|n| n.checked_add(header_len as u64))
            .ok_or_else(|| IdxError::SizeOverflow {
                dims: raw_dims.clone(),
            })?;
        Ok(Self {
            element,
            dims: raw_dims.iter().map(|&d| d as usize).collect(),
            total_len,
        })
    }

    /// The type of every element.
    pub fn element(&self) -> ElementType {
        self.element
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The exact file length this header implies, header included.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// The number of data bytes this header implies.
    pub fn data_len(&self) -> u64 {
        self.total_len - Self::header_len(self.dims.len()) as u64
    }

    /// Checks that a file of `actual` bytes holds exactly what the header describes.
    pub fn check_length(&self, actual: u64) -> Result<(), IdxError> {
        let expected = self.total_len;
        match actual.cmp(&expected) {
            std::cmp::Ordering::Less => Err(IdxError::Truncated { expected, actual }),
            std::cmp::Ordering::Greater => Err(IdxError::TrailingBytes { expected, actual }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// The data bytes of `file` after checking its length against the header.
    pub fn data<'a>(&self, file: &'a [u8]) -> Result<&'a [u8], IdxError> {
        self.check_length(file.len() as u64)?;
        Ok(&file[Self::header_len(self.dims.len())..])
    }
}
