//! An image data set in memory (images as bytes or f32, labels, splits), and
//! loading it from a directory of idx files ([`idx_dir`]).
//!
//! ```no_run
//! use softreg::data::Dataset;
//! let data = Dataset::load("data/fashion-mnist".as_ref(), 10)?;
//! assert_eq!(data.train.images.features(), 784);
//! # Ok::<(), softreg::data::DataError>(())
//! ```
//!
//! A directory holds the four files `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
//! each raw or gzipped (`.gz`). A raw file is memory-mapped. A `.gz` file is
//! decompressed once into the raw file beside it, written under a temporary name
//! and renamed into place, so later runs map the raw file and a crash never leaves
//! a half file; where the cache cannot be written (a read-only directory, a full
//! disk) the file is decompressed in memory instead. A raw file present beside
//! its `.gz` is taken as that file's decompressed copy unless the `.gz` was
//! modified after it, in which case it is decompressed again.
//!
//! Pixels are converted once to f32 in `[0, 1]` (`pixel * (1/255)`) and stored
//! row-major in a page-aligned buffer on transparent huge pages
//! ([`PixelBuffer`]) with no padding between rows (784 f32 is 49 cache lines, so
//! every row starts aligned), or kept as bytes for kernels that convert as they
//! read ([`PixelFormat`]); labels stay `u8`.
//!
//! Memory-mapping caveat: the data is copied out of the mapping during the
//! load and the mapping dropped, so a file changed or deleted after
//! [`Dataset::load`] returns does not change the loaded data set. A file
//! truncated by another process *during* the load can make the process fault
//! (SIGBUS), as with any memory-mapped reader; replace data files by renaming
//! a new file into place, never by rewriting them in place.

use std::borrow::Cow;
use std::io;

pub mod buffer;
mod error;
pub mod fashion_mnist;
mod files;
pub mod idx;
mod idx_dir;

use buffer::PixelBuffer;
use error::check_fits;
pub use error::{DataError, DataErrorKind};
pub use files::source_file;
pub use idx_dir::{FILE_STEMS, files_of, load_split, load_test};

/// How image pixels are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// f32 in `[0, 1]`, converted once at load: 4 bytes a pixel.
    F32,
    /// The file's bytes, converted to f32 by the kernels as they read them:
    /// a quarter of the memory traffic, and what `train` uses by default.
    #[default]
    U8,
}

/// Bytes of memory one pixel takes in `format`.
fn size_of_pixel(format: PixelFormat) -> u64 {
    match format {
        PixelFormat::F32 => 4,
        PixelFormat::U8 => 1,
    }
}

impl PixelFormat {
    /// How the pixels are held, for messages.
    fn held(self) -> &'static str {
        match self {
            PixelFormat::F32 => "as f32",
            PixelFormat::U8 => "as bytes",
        }
    }

    /// The name `--pixels` takes: `f32` or `u8`.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::F32 => "f32",
            PixelFormat::U8 => "u8",
        }
    }
}

/// The scale from a byte pixel to `[0, 1]`. Pixels are `p * (1 / 255)` rather than
/// `p / 255` (within one ulp, exactly 0 and 1 at the ends) so that a kernel that
/// converts bytes on the fly yields exactly the f32 values of [`PixelFormat::F32`].
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// A byte pixel as f32 in `[0, 1]`.
#[inline(always)]
pub fn pixel_to_f32(p: u8) -> f32 {
    f32::from(p) * PIXEL_SCALE
}

#[derive(Debug, Clone, PartialEq)]
enum Pixels {
    F32(PixelBuffer<f32>),
    U8(PixelBuffer<u8>),
}

/// One image's pixels, in the format its set holds them.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// f32 pixels.
    F32(&'a [f32]),
    /// Byte pixels, to be scaled by [`PIXEL_SCALE`].
    U8(&'a [u8]),
}

impl Row<'_> {
    /// Writes the pixels as f32 into `out`, which holds exactly one row:
    /// copied, or converted from bytes. Allocates nothing. (The GEMM
    /// baseline's gather; the fused kernel widens bytes in registers instead.)
    #[inline(always)]
    pub fn write_f32(self, out: &mut [f32]) {
        match self {
            Row::F32(row) => out.copy_from_slice(row),
            Row::U8(row) => {
                assert_eq!(out.len(), row.len(), "one row of pixels");
                for (f, &p) in out.iter_mut().zip(row) {
                    *f = pixel_to_f32(p);
                }
            }
        }
    }
}

/// A set of equally sized grey images, rows of pixels in one page-aligned buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pixels: Pixels,
    count: usize,
    height: usize,
    width: usize,
}

impl Images {
    /// Images of `height x width` from row-major f32 pixels (any values).
    ///
    /// # Panics
    /// If `pixels.len()` is not a multiple of `height * width`, the shape is
    /// empty, or no memory can be mapped.
    pub fn from_f32(height: usize, width: usize, pixels: &[f32]) -> Self {
        let buffer = PixelBuffer::from_slice(pixels).expect("cannot map memory for images");
        Self::new(height, width, pixels.len(), Pixels::F32(buffer))
    }

    /// Images of `height x width` from row-major byte pixels, kept as bytes
    /// ([`PixelFormat::U8`]).
    ///
    /// # Panics
    /// If `pixels.len()` is not a multiple of `height * width`, the shape is
    /// empty, or no memory can be mapped.
    pub fn from_u8(height: usize, width: usize, pixels: &[u8]) -> Self {
        let buffer = PixelBuffer::from_slice(pixels).expect("cannot map memory for images");
        Self::new(height, width, pixels.len(), Pixels::U8(buffer))
    }

    fn new(height: usize, width: usize, len: usize, pixels: Pixels) -> Self {
        let features = height * width;
        assert!(features > 0, "images need at least one pixel");
        assert_eq!(len % features, 0, "pixels do not fill whole images");
        Self {
            pixels,
            count: len / features,
            height,
            width,
        }
    }

    /// Byte pixels in `format`: kept, or converted once to f32.
    fn from_bytes(
        height: usize,
        width: usize,
        pixels: &[u8],
        format: PixelFormat,
    ) -> io::Result<Self> {
        let buffer = match format {
            PixelFormat::U8 => Pixels::U8(PixelBuffer::from_slice(pixels)?),
            PixelFormat::F32 => Pixels::F32(PixelBuffer::from_fn(pixels.len(), |out| {
                for (f, &p) in out.iter_mut().zip(pixels) {
                    *f = pixel_to_f32(p);
                }
            })?),
        };
        Ok(Self::new(height, width, pixels.len(), buffer))
    }

    /// The format the pixels are held in.
    pub fn format(&self) -> PixelFormat {
        match self.pixels {
            Pixels::F32(_) => PixelFormat::F32,
            Pixels::U8(_) => PixelFormat::U8,
        }
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `(height, width)` of every image.
    pub fn shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Pixels per image: the model's feature count.
    pub fn features(&self) -> usize {
        self.height * self.width
    }

    /// Image `i` as a row of `features()` pixels.
    pub fn row(&self, i: usize) -> Row<'_> {
        let f = self.features();
        match &self.pixels {
            Pixels::F32(p) => Row::F32(&p[i * f..(i + 1) * f]),
            Pixels::U8(p) => Row::U8(&p[i * f..(i + 1) * f]),
        }
    }

    /// Image `i` as f32 pixels: borrowed, or converted from bytes.
    pub fn row_f32(&self, i: usize) -> Cow<'_, [f32]> {
        match self.row(i) {
            Row::F32(row) => Cow::Borrowed(row),
            Row::U8(row) => Cow::Owned(row.iter().map(|&p| pixel_to_f32(p)).collect()),
        }
    }

    /// All pixels as f32, row-major, page-aligned, if held as f32.
    pub fn f32_pixels(&self) -> Option<&[f32]> {
        match &self.pixels {
            Pixels::F32(p) => Some(p),
            Pixels::U8(_) => None,
        }
    }

    /// All pixels as bytes, row-major, page-aligned, if held as bytes.
    pub fn u8_pixels(&self) -> Option<&[u8]> {
        match &self.pixels {
            Pixels::U8(p) => Some(p),
            Pixels::F32(_) => None,
        }
    }
}

/// Images with one label each.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The images.
    pub images: Images,
    /// One class index per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// The number of labelled images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A training and a test split with the same image shape and classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
    /// The number of classes; every label is below it.
    pub classes: usize,
}
