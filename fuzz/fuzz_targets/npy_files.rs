//! Fuzzes the `.npy` loader end to end: a samples file and a labels file,
//! loaded by `softreg::data::load_npy_split` from a directory.
//!
//! Checked on every input:
//! - no panic, no abort;
//! - a file whose header `NpyHeader::parse` refuses, or whose length the
//!   header does not describe, is refused; otherwise the loader accepts
//!   exactly the pairs a plain reading of the checked headers accepts
//!   (samples of two or more dimensions, none empty, all finite; labels of
//!   one dimension, integers in range, one per sample);
//! - an accepted split holds exactly the values of the files;
//! - the heap never holds more than a fixed allowance plus a small multiple of
//!   the input, whatever the headers claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use softreg::data::npy::{Dtype, NpyHeader};
use softreg::data::{PixelFormat, Row, load_npy_split};
use softreg_fuzz::{CountingAllocator, HEAP_ALLOWANCE, peak_heap_during};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CLASSES: usize = 10;

/// The little-endian elements of type `dtype` in `data`, as f64 (exact for
/// every integer a label can be, and for every sample value as f32 rounds it).
fn plain_values(dtype: Dtype, data: &[u8]) -> Vec<f64> {
    let size = dtype.size();
    data.chunks_exact(size)
        .map(|b| match dtype {
            Dtype::U8 => f64::from(b[0]),
            Dtype::I8 => f64::from(b[0] as i8),
            Dtype::U16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            Dtype::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            Dtype::U32 => f64::from(u32::from_le_bytes(b.try_into().unwrap())),
            Dtype::I32 => f64::from(i32::from_le_bytes(b.try_into().unwrap())),
            Dtype::U64 => u64::from_le_bytes(b.try_into().unwrap()) as f64,
            Dtype::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f64,
            Dtype::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
            Dtype::F64 => f64::from_le_bytes(b.try_into().unwrap()),
        })
        .collect()
}

/// What a plain reading of a checked file finds: its header and data.
fn plain_file(bytes: &[u8]) -> Option<(NpyHeader, &[u8])> {
    let header = NpyHeader::parse(bytes).ok()?;
    let data = header.data(bytes).ok()?;
    Some((header, data))
}

/// What the loader should find: the samples' dtype and values (as f32 would
/// hold them, before any scale), and the labels; `None` if it should refuse.
fn plain_split(x: &[u8], y: &[u8]) -> Option<(Dtype, Vec<f64>, Vec<u32>)> {
    let (xh, xd) = plain_file(x)?;
    let (yh, yd) = plain_file(y)?;
    let shape = xh.shape();
    let features = shape.get(1..)?.iter().product::<usize>();
    let labels = plain_values(yh.dtype(), yd);
    let values: Vec<f64> = plain_values(xh.dtype(), xd)
        .into_iter()
        .map(|v| f64::from(v as f32))
        .collect();
    let valid = shape.len() >= 2
        && shape[0] > 0
        && shape[1..].iter().all(|&d| d > 0)
        && features > 0
        && yh.shape().len() == 1
        && yh.dtype().is_integer()
        && yh.shape()[0] == shape[0]
        && labels.iter().all(|&l| (0.0..CLASSES as f64).contains(&l))
        && (xh.dtype() == Dtype::U8 || values.iter().all(|v| v.is_finite()));
    let labels = labels.into_iter().map(|l| l as u32).collect();
    valid.then_some((xh.dtype(), values, labels))
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (flags, rest) = (input[0], &input[3..]);
    let split = usize::from(u16::from_le_bytes([input[1], input[2]])) % (rest.len() + 1);
    let (x, y) = rest.split_at(split);
    let format = if flags & 1 == 0 {
        PixelFormat::U8
    } else {
        PixelFormat::F32
    };
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    std::fs::write(dir.path().join("x.npy"), x).unwrap();
    std::fs::write(dir.path().join("y.npy"), y).unwrap();

    let (loaded, peak) =
        peak_heap_during(|| load_npy_split(dir.path(), ("x.npy", "y.npy"), CLASSES, format));
    assert!(
        peak <= HEAP_ALLOWANCE + 8 * input.len(),
        "the loader held {peak} heap bytes for {} bytes of input",
        input.len()
    );
    match (&loaded, plain_split(x, y)) {
        (Ok(split), Some((dtype, values, labels))) => {
            assert_eq!(split.labels, labels);
            let features = split.images.features();
            for (i, row) in values.chunks(features).enumerate() {
                match split.images.row(i) {
                    Row::U8(got) => {
                        let got: Vec<f64> = got.iter().map(|&p| f64::from(p)).collect();
                        assert_eq!(got, row);
                    }
                    Row::F32(got) => {
                        let got: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
                        assert_eq!(got, row);
                    }
                }
                let scale = if dtype == Dtype::U8 { 1.0 / 255.0 } else { 1.0 };
                assert_eq!(split.images.scale(), scale);
            }
        }
        (Err(_), None) => {}
        (Ok(_), None) => panic!("the loader accepted files a plain reading refuses"),
        (Err(e), Some(_)) => panic!("the loader refused valid files: {e}"),
    }
});
