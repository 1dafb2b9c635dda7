//! Fuzzes the idx loader end to end: an image file and a label file, each raw,
//! gzipped by the harness, truncated after gzipping, or handed over as the
//! `.gz` file itself, loaded by `softreg::data::load_split` from a directory.
//!
//! Checked on every input:
//! - no panic, no abort;
//! - the loader accepts exactly the inputs a plain independent reading of the
//!   idx format accepts (for inputs whose decompressed bytes the harness knows);
//! - an accepted split holds exactly the values of the files (bytes as
//!   bytes, every other idx type as f32), its labels of any integer type;
//! - the heap never holds more than a fixed allowance plus a small multiple of
//!   the decompressed input, whatever the headers claim.
#![no_main]

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use softreg::data::{PixelFormat, Row, load_split, pixel_to_f32};
use softreg_fuzz::{CountingAllocator, HEAP_ALLOWANCE, peak_heap_during};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";
const CLASSES: usize = 10;

/// How the harness stores one file.
#[derive(Clone, Copy)]
enum Storage {
    /// The bytes as the raw idx file.
    Raw,
    /// The bytes gzipped into `name.gz`.
    Gzipped,
    /// The bytes gzipped, then cut in half.
    GzippedTruncated,
    /// The bytes themselves as `name.gz` (arbitrary, mostly broken, gzip).
    AsGz,
}

impl Storage {
    fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => Storage::Raw,
            1 => Storage::Gzipped,
            2 => Storage::GzippedTruncated,
            _ => Storage::AsGz,
        }
    }

    /// Writes `bytes` into `dir` as `stem` and returns the idx bytes the loader
    /// should see, when the harness knows them.
    fn write(self, dir: &Path, stem: &str, bytes: &[u8]) -> Option<Vec<u8>> {
        let gz_path = dir.join(format!("{stem}.gz"));
        match self {
            Storage::Raw => {
                std::fs::write(dir.join(stem), bytes).unwrap();
                Some(bytes.to_vec())
            }
            Storage::Gzipped => {
                std::fs::write(gz_path, gzip(bytes)).unwrap();
                Some(bytes.to_vec())
            }
            Storage::GzippedTruncated => {
                let gz = gzip(bytes);
                std::fs::write(gz_path, &gz[..gz.len() / 2]).unwrap();
                None
            }
            Storage::AsGz => {
                std::fs::write(gz_path, bytes).unwrap();
                None
            }
        }
    }

    /// An upper bound on the bytes the loader can inflate from this file.
    fn inflated_len(self, bytes: &[u8]) -> usize {
        match self {
            Storage::Raw | Storage::Gzipped | Storage::GzippedTruncated => bytes.len(),
            Storage::AsGz => {
                let mut out = Vec::new();
                // Errors just end the count: the loader stops there too.
                let _ = MultiGzDecoder::new(bytes).read_to_end(&mut out);
                out.len()
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An idx file read plainly: its element size, dimensions and data, or
/// `None` if it is not exactly such a file of samples (`labels` false: two or
/// more dimensions) or of integer labels (one dimension).
fn plain_idx(bytes: &[u8], labels: bool) -> Option<(u8, Vec<u64>, &[u8])> {
    if bytes.len() < 4 || bytes[..2] != [0, 0] {
        return None;
    }
    let (code, rank) = (bytes[2], usize::from(bytes[3]));
    let size: u64 = match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => return None,
    };
    let rank_ok = if labels {
        rank == 1 && code < 0x0D
    } else {
        rank >= 2
    };
    let header_len = 4 + 4 * rank;
    if !rank_ok || bytes.len() < header_len {
        return None;
    }
    let dims: Vec<u64> = bytes[4..header_len]
        .chunks(4)
        .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    let data = &bytes[header_len..];
    let len = dims.iter().try_fold(size, |a, &d| a.checked_mul(d))?;
    (len == data.len() as u64).then_some((code, dims, data))
}

/// The big-endian elements of type `code` in `data`, as f64.
fn plain_values(code: u8, data: &[u8]) -> Vec<f64> {
    match code {
        0x08 => data.iter().map(|&b| f64::from(b)).collect(),
        0x09 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        0x0B => data
            .chunks(2)
            .map(|b| f64::from(i16::from_be_bytes([b[0], b[1]])))
            .collect(),
        0x0C => data
            .chunks(4)
            .map(|b| f64::from(i32::from_be_bytes(b.try_into().unwrap())))
            .collect(),
        0x0D => data
            .chunks(4)
            .map(|b| f64::from(f32::from_be_bytes(b.try_into().unwrap())))
            .collect(),
        _ => data
            .chunks(8)
            .map(|b| f64::from_be_bytes(b.try_into().unwrap()))
            .collect(),
    }
}

/// What a plain reading of a split accepts: its samples' type code and
/// values, and its labels.
type Plain<'a> = (u8, &'a [u8], Vec<f64>, Vec<u32>);

/// Whether a plain reading accepts the split, and if so what it holds.
fn plain_split<'a>(images: &'a [u8], labels: &'a [u8]) -> Option<Plain<'a>> {
    let (code, dims, data) = plain_idx(images, false)?;
    let (label_code, label_dims, label_data) = plain_idx(labels, true)?;
    let values = plain_values(code, data);
    let labels = plain_values(label_code, label_data);
    let features: u64 = dims[1..].iter().product();
    let valid = dims[0] > 0
        && features > 0
        && dims[1..].iter().all(|&d| d > 0)
        && label_dims[0] == dims[0]
        && labels.iter().all(|&l| (0.0..CLASSES as f64).contains(&l))
        && values.iter().all(|v| v.is_finite());
    let labels = labels.iter().map(|&l| l as u32).collect();
    valid.then_some((code, data, values, labels))
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (flags, rest) = (input[0], &input[3..]);
    let split = usize::from(u16::from_le_bytes([input[1], input[2]])) % (rest.len() + 1);
    let (image_bytes, label_bytes) = rest.split_at(split);
    let image_storage = Storage::from_bits(flags);
    let label_storage = Storage::from_bits(flags >> 2);
    let format = if flags & 16 == 0 {
        PixelFormat::U8
    } else {
        PixelFormat::F32
    };

    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let known_images = image_storage.write(dir.path(), IMAGES, image_bytes);
    let known_labels = label_storage.write(dir.path(), LABELS, label_bytes);
    let inflated =
        image_storage.inflated_len(image_bytes) + label_storage.inflated_len(label_bytes);

    let (loaded, peak) =
        peak_heap_during(|| load_split(dir.path(), IMAGES, LABELS, CLASSES, format));
    assert!(
        peak <= HEAP_ALLOWANCE + 4 * inflated,
        "the loader held {peak} heap bytes for {inflated} bytes of input"
    );

    if let (Some(images), Some(labels)) = (&known_images, &known_labels) {
        let expected = plain_split(images, labels);
        match (&loaded, expected) {
            (Ok(split), Some((code, bytes, values, labels))) => {
                assert_eq!(split.labels, labels);
                let features = split.images.features();
                for (i, row) in values.chunks(features).enumerate() {
                    let as_f32: Vec<f32> = row.iter().map(|&v| v as f32).collect();
                    match split.images.row(i) {
                        Row::U8(got) => assert_eq!(got, &bytes[i * features..(i + 1) * features]),
                        Row::F32(got) => assert_eq!(got, &as_f32[..]),
                    }
                    let scaled: Vec<f32> = if code == 0x08 {
                        row.iter().map(|&p| pixel_to_f32(p as u8)).collect()
                    } else {
                        as_f32
                    };
                    assert_eq!(&*split.images.row_f32(i), &scaled[..]);
                }
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("the loader accepted files a plain reading refuses"),
            (Err(e), Some(_)) => panic!("the loader refused valid files: {e}"),
        }
    }
});
