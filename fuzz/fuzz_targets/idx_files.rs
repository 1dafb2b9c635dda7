//! Fuzzes the idx loader end to end: an image file and a label file, each raw,
//! gzipped by the harness, truncated after gzipping, or handed over as the
//! `.gz` file itself, loaded by `softreg::data::load_split` from a directory.
//!
//! Checked on every input:
//! - no panic, no abort;
//! - the loader accepts exactly the inputs a plain independent reading of the
//!   idx format accepts (for inputs whose decompressed bytes the harness knows);
//! - an accepted split holds exactly the bytes of the files;
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

/// An idx file of unsigned bytes with `rank` dimensions, read plainly:
/// its dimensions and data, or `None` if it is not exactly such a file.
fn plain_idx(bytes: &[u8], rank: usize) -> Option<(Vec<u64>, &[u8])> {
    let header_len = 4 + 4 * rank;
    if bytes.len() < header_len || bytes[..4] != [0, 0, 0x08, rank as u8] {
        return None;
    }
    let dims: Vec<u64> = bytes[4..header_len]
        .chunks(4)
        .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    let data = &bytes[header_len..];
    let size = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    (size == data.len() as u64).then_some((dims, data))
}

/// Whether a plain reading accepts the split, and if so its pixels and labels.
fn plain_split<'a>(images: &'a [u8], labels: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    let (dims, pixels) = plain_idx(images, 3)?;
    let (label_dims, labels) = plain_idx(labels, 1)?;
    let valid = dims[0] > 0
        && dims[1] > 0
        && dims[2] > 0
        && label_dims[0] == dims[0]
        && labels.iter().all(|&l| usize::from(l) < CLASSES);
    valid.then_some((pixels, labels))
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
            (Ok(split), Some((pixels, labels))) => {
                assert_eq!(split.labels, labels);
                let features = split.images.features();
                for (i, row) in pixels.chunks(features).enumerate() {
                    match split.images.row(i) {
                        Row::U8(got) => assert_eq!(got, row),
                        Row::F32(got) => {
                            let want: Vec<f32> = row.iter().map(|&p| f32::from(p)).collect();
                            assert_eq!(got, &want[..]);
                        }
                    }
                    let values: Vec<f32> = row.iter().map(|&p| pixel_to_f32(p)).collect();
                    assert_eq!(&*split.images.row_f32(i), &values[..]);
                }
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("the loader accepted files a plain reading refuses"),
            (Err(e), Some(_)) => panic!("the loader refused valid files: {e}"),
        }
    }
});
