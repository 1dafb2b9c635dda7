//! Large pixel buffers: anonymous memory maps, page-aligned (so 64-byte aligned
//! for SIMD), backed by transparent huge pages where the OS offers them.
//!
//! Minibatches read rows at random places in tens of megabytes; with 4 KiB pages
//! nearly every row costs a TLB miss, with 2 MiB pages almost none does.
//!
//! ```
//! use softreg::data::buffer::PixelBuffer;
//! let buf = PixelBuffer::from_slice(&[1.0f32, 2.0, 3.0]).unwrap();
//! assert_eq!(&buf[..], &[1.0, 2.0, 3.0]);
//! assert_eq!(buf.as_ptr() as usize % 64, 0);
//! ```

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;

use std::sync::Arc;

use bytemuck::Pod;
use memmap2::MmapMut;

use super::files::MappedFile;

/// A fixed-length, page-aligned buffer of plain values.
pub struct PixelBuffer<T> {
    map: MmapMut,
    len: usize,
    values: PhantomData<T>,
}

impl<T: Pod> PixelBuffer<T> {
    /// A buffer of `len` values written by `fill`, which is given them zeroed.
    /// Fails only if the memory cannot be mapped.
    pub fn from_fn(len: usize, fill: impl FnOnce(&mut [T])) -> io::Result<Self> {
        let mut buffer = Self::zeroed(len)?;
        fill(buffer.slots());
        Ok(buffer)
    }

    /// A copy of `values` (one `memcpy`).
    pub fn from_slice(values: &[T]) -> io::Result<Self> {
        let mut buffer = Self::zeroed(values.len())?;
        buffer.slots().copy_from_slice(values);
        Ok(buffer)
    }

    /// `len` zero values.
    fn zeroed(len: usize) -> io::Result<Self> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .ok_or_else(|| io::Error::other("pixel buffer size overflows"))?;
        let map = MmapMut::map_anon(bytes.max(1))?;
        #[cfg(target_os = "linux")]
        // A hint: where transparent huge pages are off, the mapping simply keeps
        // 4 KiB pages, so a refusal is not an error.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self {
            map,
            len,
            values: PhantomData,
        })
    }

    fn slots(&mut self) -> &mut [T] {
        let bytes = self.len * size_of::<T>();
        bytemuck::cast_slice_mut(&mut self.map[..bytes])
    }
}

impl<T: Pod> Deref for PixelBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        bytemuck::cast_slice(&self.map[..self.len * size_of::<T>()])
    }
}

impl<T: Pod> Clone for PixelBuffer<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self).expect("cannot map memory for a copy of a pixel buffer")
    }
}

impl<T: Pod + PartialEq> PartialEq for PixelBuffer<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T> fmt::Debug for PixelBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PixelBuffer({} x {})",
            self.len,
            std::any::type_name::<T>()
        )
    }
}

/// Samples as a data set holds them: a copy in a [`PixelBuffer`], or straight
/// from the read-only mapping of a raw file (no copy, no pages to zero:
/// loading the bundled set takes a millisecond rather than the tens a fresh
/// 55 MB buffer costs, and a 3.9 GB `.npy` of f32 features needs no second
/// 3.9 GB).
pub enum Held<T> {
    /// A copy.
    Owned(PixelBuffer<T>),
    /// `len` values of `map` from byte `start`.
    Mapped {
        /// The file's mapping, shared by every clone.
        map: Arc<MappedFile>,
        /// Where the values start in the file, in bytes.
        start: usize,
        /// How many values there are.
        len: usize,
    },
}

/// Byte pixels as a data set holds them.
pub type Bytes = Held<u8>;

impl<T: Pod> Clone for Held<T> {
    fn clone(&self) -> Self {
        match self {
            Held::Owned(buffer) => Held::Owned(buffer.clone()),
            Held::Mapped { map, start, len } => Held::Mapped {
                map: Arc::clone(map),
                start: *start,
                len: *len,
            },
        }
    }
}

impl<T: Pod> Held<T> {
    /// The `len` values of `map` from byte `start`, if they lie within it and
    /// `start` is aligned for `T` (the mapping itself is page-aligned).
    pub fn mapped(map: MappedFile, start: usize, len: usize) -> Option<Self> {
        let end = len.checked_mul(size_of::<T>())?.checked_add(start)?;
        let fits = end <= map.len() && start.is_multiple_of(align_of::<T>());
        fits.then(|| Self::Mapped {
            map: Arc::new(map),
            start,
            len,
        })
    }
}

impl<T: Pod> Deref for Held<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Held::Owned(buffer) => buffer,
            Held::Mapped { map, start, len } => {
                bytemuck::cast_slice(&map[*start..*start + *len * size_of::<T>()])
            }
        }
    }
}

impl<T: Pod> fmt::Debug for Held<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Held::Owned(_) => "Owned",
            Held::Mapped { .. } => "Mapped",
        };
        let name = std::any::type_name::<T>();
        write!(f, "Held::{kind}({} x {name})", self.len())
    }
}

impl<T: Pod + PartialEq> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}
