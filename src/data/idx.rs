//! The idx file format: header parsing and length validation.
//!
//! An idx file is a big-endian header followed by row-major data:
//! two zero bytes, one element-type byte (`0x08` = unsigned byte), one byte with
//! the number of dimensions, then one `u32` per dimension.
//!
//! ```
//! use softreg::data::idx::IdxHeader;
//! let mut file = vec![0, 0, 0x08, 1, 0, 0, 0, 3];
//! file.extend_from_slice(&[7, 8, 9]);
//! let header = IdxHeader::parse(&file, 1).unwrap();
//! assert_eq!(header.dims(), &[3]);
//! assert_eq!(header.data(&file).unwrap(), &[7, 8, 9]);
//! ```
//!
//! Nothing is allocated from the header's claims: [`IdxHeader::check_length`]
//! compares what the header implies (with overflow-checked arithmetic) with the
//! length actually present before any caller trusts the dimensions.

use thiserror::Error;

/// The element type code for unsigned bytes, the only type softreg reads.
pub const TYPE_U8: u8 = 0x08;

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
    /// The element type is not unsigned byte.
    #[error("element type code {0:#04x} is not supported (only 0x08, unsigned byte)")]
    UnsupportedType(u8),
    /// The number of dimensions is not what this file must have.
    #[error("has {found} dimensions where {expected} are expected")]
    WrongRank { expected: usize, found: usize },
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

/// A validated idx header: unsigned-byte elements and known dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxHeader {
    dims: Vec<usize>,
    total_len: u64,
}

impl IdxHeader {
    /// The number of header bytes for a file of `rank` dimensions.
    pub fn header_len(rank: usize) -> usize {
        4 + 4 * rank
    }

    /// Reads the fixed 4-byte prefix and returns the rank it announces.
    ///
    /// `prefix` must hold at least 4 bytes; fewer is [`IdxError::HeaderTruncated`].
    pub fn parse_rank(prefix: &[u8], expected_rank: usize) -> Result<usize, IdxError> {
        if prefix.len() < 4 {
            return Err(IdxError::HeaderTruncated {
                needed: 4,
                actual: prefix.len() as u64,
            });
        }
        if prefix[0] != 0 || prefix[1] != 0 {
            return Err(IdxError::BadMagic(prefix[0], prefix[1]));
        }
        if prefix[2] != TYPE_U8 {
            return Err(IdxError::UnsupportedType(prefix[2]));
        }
        let rank = usize::from(prefix[3]);
        if rank != expected_rank {
            return Err(IdxError::WrongRank {
                expected: expected_rank,
                found: rank,
            });
        }
        Ok(rank)
    }

    /// Parses the header at the start of `bytes`, which must hold at least the
    /// whole header (the data need not be there yet: see [`Self::check_length`]).
    pub fn parse(bytes: &[u8], expected_rank: usize) -> Result<Self, IdxError> {
        let rank = Self::parse_rank(bytes, expected_rank)?;
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
        let data_len = raw_dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
        let total_len = data_len
            .and_then(|n| n.checked_add(header_len as u64))
            .ok_or_else(|| IdxError::SizeOverflow {
                dims: raw_dims.clone(),
            })?;
        Ok(Self {
            dims: raw_dims.iter().map(|&d| d as usize).collect(),
            total_len,
        })
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
