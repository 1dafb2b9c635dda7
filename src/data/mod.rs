//! A data set in memory (samples as bytes or f32, labels, splits), and
//! loading it from a data directory through one seam ([`Source`]): idx files
//! ([`idx_dir`]) or NumPy files ([`npy_dir`]), decoded alike ([`elements`]).
//!
//! ```no_run
//! use softreg::data::Dataset;
//! let data = Dataset::load("data/fashion-mnist".as_ref(), None)?;
//! assert_eq!((data.train.images.features(), data.classes), (784, 10));
//! # Ok::<(), softreg::data::DataError>(())
//! ```
//!
//! An idx directory holds the four files `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
//! each raw or gzipped (`.gz`). A raw file is memory-mapped. A `.gz` file is
//! decompressed once into the raw file beside it, written under a temporary name
//! and renamed into place, so later runs map the raw file and a crash never leaves
//! a half file; where the cache cannot be written (a read-only directory, a full
//! disk) the file is decompressed in memory instead. A raw file present beside
//! its `.gz` is taken as that file's decompressed copy unless the `.gz` was
//! modified after it, in which case it is decompressed again. A NumPy directory
//! holds [`NPY_FILES`], each memory-mapped.
//!
//! Byte samples are pixels holding their exact byte values ([`Images::scale`]
//! is 1/255): as bytes, read straight from the file's mapping
//! ([`buffer::Bytes`]; copied into a [`PixelBuffer`] only when the file was
//! decompressed in memory), or converted once to f32 ([`PixelFormat`]).
//! Samples of any other type are features with scale 1: f32 in this
//! machine's byte order straight from the mapping, others converted once to
//! f32 in a page-aligned buffer on transparent huge pages. Labels of any
//! integer type become [`Label`]s; the class count is the largest label + 1
//! unless given.
//!
//! Memory-mapping caveat: samples held from a mapping are read from it for
//! as long as the images live. A file deleted, or replaced by renaming a new
//! file into place, does not change the loaded data set; a file rewritten or
//! truncated in place by another process meanwhile can change it or make the
//! process fault (SIGBUS), as with any memory-mapped reader.

use std::borrow::Cow;
use std::io;

pub mod buffer;
mod elements;
mod error;
pub mod fashion_mnist;
mod files;
mod format;
pub mod idx;
mod idx_dir;
pub mod npy;
mod npy_dir;
mod npy_header;
mod source;
pub mod standardize;

use buffer::{Bytes, Held, PixelBuffer};
use error::check_fits;
pub use error::{DataError, DataErrorKind};
pub use files::{MappedFile, source_file};
pub use format::{Format, SplitName};
pub use idx_dir::{FILE_STEMS, load_split};
pub use npy_dir::{NPY_FILES, load_npy_samples, load_npy_split};
pub use source::{CLASS_NAMES_FILE, FORMATS, Source, files_of, load_test};

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

/// The scale from a byte pixel to `[0, 1]`: a pixel's value is `p * (1 /
/// 255)` (within one ulp of `p / 255`, exactly 0 and 1 at the ends). Images
/// read from bytes hold the bytes' exact values (as bytes or as f32) and this
/// scale ([`Images::scale`]); the fused kernel folds it into each row's logits
/// and logit gradient rather than multiplying every pixel by it.
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// A byte pixel as f32 in `[0, 1]`.
#[inline(always)]
pub fn pixel_to_f32(p: u8) -> f32 {
    f32::from(p) * PIXEL_SCALE
}

#[derive(Debug, Clone, PartialEq)]
enum Pixels {
    F32(Held<f32>),
    U8(Bytes),
}

/// One image's pixels as its set holds them, before [`Images::scale`].
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// f32 pixels.
    F32(&'a [f32]),
    /// Byte pixels.
    U8(&'a [u8]),
}

/// A set of equally sized grey images, rows of pixels in one page-aligned
/// buffer, and the scale that makes them the image's values: images read from
/// bytes hold the exact byte values (as bytes or f32) and [`PIXEL_SCALE`];
/// images made from f32 values hold them and scale 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pixels: Pixels,
    scale: f32,
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
        Self::new(
            height,
            width,
            pixels.len(),
            Pixels::F32(Held::Owned(buffer)),
            1.0,
        )
    }

    /// Images of `height x width` from row-major byte pixels, kept as bytes
    /// ([`PixelFormat::U8`]).
    ///
    /// # Panics
    /// If `pixels.len()` is not a multiple of `height * width`, the shape is
    /// empty, or no memory can be mapped.
    pub fn from_u8(height: usize, width: usize, pixels: &[u8]) -> Self {
        let buffer = PixelBuffer::from_slice(pixels).expect("cannot map memory for images");
        Self::new(
            height,
            width,
            pixels.len(),
            Pixels::U8(Bytes::Owned(buffer)),
            PIXEL_SCALE,
        )
    }

    /// Images of `height x width` from byte pixels held as they are (a file's
    /// mapping, say), with the scale [`PIXEL_SCALE`].
    ///
    /// # Panics
    /// As [`Images::from_u8`].
    pub fn from_held_bytes(height: usize, width: usize, pixels: Bytes) -> Self {
        Self::new(height, width, pixels.len(), Pixels::U8(pixels), PIXEL_SCALE)
    }

    fn new(height: usize, width: usize, len: usize, pixels: Pixels, scale: f32) -> Self {
        let features = height * width;
        assert!(features > 0, "images need at least one pixel");
        assert_eq!(len % features, 0, "pixels do not fill whole images");
        Self {
            pixels,
            scale,
            count: len / features,
            height,
            width,
        }
    }

    /// Samples of `height x width` from f32 values as they are held (a copy,
    /// or a file's mapping), scale 1: features of any type but bytes.
    pub fn from_values(height: usize, width: usize, values: Held<f32>) -> Self {
        Self::new(height, width, values.len(), Pixels::F32(values), 1.0)
    }

    /// Byte pixels in `format`: kept, or converted once to f32 (their exact
    /// values), with the scale [`PIXEL_SCALE`]. Either format gives the
    /// kernels the same values, so training computes the same bits.
    pub fn from_bytes(
        height: usize,
        width: usize,
        pixels: &[u8],
        format: PixelFormat,
    ) -> io::Result<Self> {
        let buffer = match format {
            PixelFormat::U8 => Pixels::U8(Bytes::Owned(PixelBuffer::from_slice(pixels)?)),
            PixelFormat::F32 => {
                let buffer = PixelBuffer::from_fn(pixels.len(), |out| {
                    for (f, &p) in out.iter_mut().zip(pixels) {
                        *f = f32::from(p);
                    }
                })?;
                Pixels::F32(Held::Owned(buffer))
            }
        };
        Ok(Self::new(height, width, pixels.len(), buffer, PIXEL_SCALE))
    }

    /// The factor from the pixels as held to the image's values.
    pub fn scale(&self) -> f32 {
        self.scale
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

    /// Image `i` as a row of `features()` pixels as held (before
    /// [`Images::scale`]).
    pub fn row(&self, i: usize) -> Row<'_> {
        let f = self.features();
        match &self.pixels {
            Pixels::F32(p) => Row::F32(&p[i * f..(i + 1) * f]),
            Pixels::U8(p) => Row::U8(&p[i * f..(i + 1) * f]),
        }
    }

    /// Image `i`'s values as f32 (the pixels times [`Images::scale`]):
    /// borrowed when the scale is 1, else computed.
    pub fn row_f32(&self, i: usize) -> Cow<'_, [f32]> {
        match self.row(i) {
            Row::F32(row) if self.scale == 1.0 => Cow::Borrowed(row),
            _ => {
                let mut values = vec![0.0; self.features()];
                self.write_row_f32(i, &mut values);
                Cow::Owned(values)
            }
        }
    }

    /// Writes image `i`'s values as f32 (the pixels times [`Images::scale`])
    /// into `out`, which holds exactly one row. Allocates nothing. (The GEMM
    /// baseline's gather; the fused kernel widens bytes in registers and folds
    /// the scale into each row's logits instead.)
    #[inline(always)]
    pub fn write_row_f32(&self, i: usize, out: &mut [f32]) {
        let scale = self.scale;
        match self.row(i) {
            Row::F32(row) if scale == 1.0 => out.copy_from_slice(row),
            Row::F32(row) => {
                assert_eq!(out.len(), row.len(), "one row of pixels");
                for (f, &p) in out.iter_mut().zip(row) {
                    *f = p * scale;
                }
            }
            Row::U8(row) => {
                assert_eq!(out.len(), row.len(), "one row of pixels");
                for (f, &p) in out.iter_mut().zip(row) {
                    *f = f32::from(p) * scale;
                }
            }
        }
    }

    /// All pixels as f32 as held (before [`Images::scale`]), row-major,
    /// page-aligned, if held as f32.
    pub fn f32_pixels(&self) -> Option<&[f32]> {
        match &self.pixels {
            Pixels::F32(p) => Some(p),
            Pixels::U8(_) => None,
        }
    }

    /// All pixels as bytes, row-major, if held as bytes.
    pub fn u8_pixels(&self) -> Option<&[u8]> {
        match &self.pixels {
            Pixels::U8(p) => Some(p),
            Pixels::F32(_) => None,
        }
    }
}

/// A class index: labels may be wider than a byte (ImageNet's 1,000
/// classes), up to [`MAX_CLASSES`].
pub type Label = u32;

/// The most classes a data set may have (labels `0..MAX_CLASSES`).
pub const MAX_CLASSES: usize = 1 << 16;

/// The longest class name a data set or a model may carry, in characters.
pub const MAX_CLASS_NAME_CHARS: usize = 100;

/// Images with one label each.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The images.
    pub images: Images,
    /// One class index per image.
    pub labels: Vec<Label>,
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
    /// The test split, if the data set has one (a NumPy directory need not:
    /// hold out `--validation` images instead).
    pub test: Option<Split>,
    /// The number of classes; every label is below it.
    pub classes: usize,
    /// One name per class, by label.
    pub class_names: Vec<String>,
}
