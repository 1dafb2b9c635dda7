//! The idx format and data-directory loading, on small files the tests write
//! themselves: valid files load, raw or gzipped; malformed ones are refused
//! with an error naming the file and what is wrong.

use crate::common;

use std::fs;

use sha2::{Digest, Sha256};

use common::{gzip, idx_bytes, image_file, label_file, listing, write_valid_dataset};
use softreg::data::idx::{Holds, IdxError};
use softreg::data::{DataErrorKind, Dataset, PixelFormat, load_split};

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

/// Writes the two training files and loads them as a split with 10 classes.
fn load_pair(
    images: &[u8],
    labels: &[u8],
) -> Result<softreg::data::Split, softreg::data::DataError> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(IMAGES), images).unwrap();
    fs::write(dir.path().join(LABELS), labels).unwrap();
    load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::F32)
}

fn idx_error(images: &[u8], labels: &[u8]) -> IdxError {
    match load_pair(images, labels).unwrap_err().kind {
        DataErrorKind::Idx(e) => e,
        other => panic!("expected an idx error, got {other:?}"),
    }
}

#[test]
fn valid_files_round_trip() {
    let split = load_pair(&image_file(4, 2, 3), &label_file(&[3, 0, 9, 1])).unwrap();
    assert_eq!(split.labels, vec![3, 0, 9, 1]);
    assert_eq!(split.images.shape(), (2, 3));
    assert_eq!(split.images.len(), 4);
    let raw = &image_file(4, 2, 3)[16..];
    // Held as the bytes' exact values, with the scale to [0, 1] beside them.
    let held: Vec<f32> = raw.iter().map(|&p| f32::from(p)).collect();
    let pixels = split.images.f32_pixels().unwrap();
    assert_eq!(pixels, held.as_slice());
    assert_eq!(split.images.scale(), 1.0 / 255.0);
    assert_eq!(pixels.as_ptr() as usize % 64, 0);
    let values = split.images.row_f32(2);
    for (v, e) in values.iter().zip(&raw[12..18]) {
        assert_eq!(*v, f32::from(*e) * (1.0 / 255.0));
        assert!(
            (v - f32::from(*e) / 255.0).abs() <= f32::EPSILON,
            "within one ulp of p / 255"
        );
    }
}

#[test]
fn wrong_magic_is_refused() {
    let mut images = image_file(2, 2, 2);
    images[0] = 0x1f;
    let err = idx_error(&images, &label_file(&[0, 1]));
    assert_eq!(err, IdxError::BadMagic(0x1f, 0));
}

#[test]
fn wrong_type_code_is_refused() {
    let images = idx_bytes(0x0a, &[2, 2, 2], &[0; 32]);
    assert_eq!(
        idx_error(&images, &label_file(&[0, 1])),
        IdxError::UnsupportedType(0x0a)
    );
}

#[test]
fn wrong_rank_is_refused() {
    let images = idx_bytes(0x08, &[8], &[0; 8]);
    assert_eq!(
        idx_error(&images, &label_file(&[0, 1])),
        IdxError::WrongRank {
            expected: Holds::Samples,
            found: 1
        }
    );
}

#[test]
fn truncated_header_is_refused() {
    assert_eq!(
        idx_error(&[0, 0], &label_file(&[0])),
        IdxError::HeaderTruncated {
            needed: 4,
            actual: 2
        }
    );
    assert_eq!(
        idx_error(&[0, 0, 8, 3, 0, 0], &label_file(&[0])),
        IdxError::HeaderTruncated {
            needed: 16,
            actual: 6
        }
    );
    assert_eq!(
        idx_error(&[], &label_file(&[0])),
        IdxError::HeaderTruncated {
            needed: 4,
            actual: 0
        }
    );
}

#[test]
fn truncated_data_is_refused() {
    let mut images = image_file(3, 2, 2);
    images.truncate(images.len() - 1);
    assert_eq!(
        idx_error(&images, &label_file(&[0, 1, 2])),
        IdxError::Truncated {
            expected: 28,
            actual: 27
        }
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut labels = label_file(&[0, 1, 2]);
    labels.push(0);
    let err = idx_error(&image_file(3, 2, 2), &labels);
    assert_eq!(
        err,
        IdxError::TrailingBytes {
            expected: 11,
            actual: 12
        }
    );
    assert!(err.to_string().contains("1 trailing bytes"), "{err}");
}

#[test]
fn dims_overflowing_u64_are_refused_without_allocating() {
    let images = idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[0; 4]);
    let err = idx_error(&images, &label_file(&[0]));
    assert!(matches!(err, IdxError::SizeOverflow { .. }), "{err:?}");
}

#[test]
fn dims_past_the_file_size_are_refused_without_allocating() {
    // 4e9 images of 65535x65535 fit in u64 but not in any file.
    let images = idx_bytes(0x08, &[4_000_000_000, 65_535, 65_535], &[0; 4]);
    let err = idx_error(&images, &label_file(&[0]));
    assert!(
        matches!(err, IdxError::Truncated { actual: 20, .. }),
        "{err:?}"
    );
}

#[test]
fn label_out_of_range_is_refused() {
    let err = load_pair(&image_file(3, 2, 2), &label_file(&[0, 10, 1])).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DataErrorKind::LabelOutOfRange {
                index: 1,
                label: 10,
                classes: 10
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(LABELS), "{err}");
}

#[test]
fn count_mismatch_is_refused() {
    let err = load_pair(&image_file(3, 2, 2), &label_file(&[0, 1])).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DataErrorKind::CountMismatch {
                images: 3,
                labels: 2
            }
        ),
        "{err:?}"
    );
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(IMAGES), [0, 0, 0x0a, 3]).unwrap();
    fs::write(dir.path().join(LABELS), label_file(&[0])).unwrap();
    let err = load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::F32).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().join(IMAGES).display().to_string()),
        "{message}"
    );
    assert!(message.contains("element type code 0x0a"), "{message}");
}

#[test]
fn missing_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::Missing), "{err:?}");
    assert_eq!(err.path, dir.path().join(IMAGES));
    assert!(
        err.to_string().ends_with("not found (nor its .gz)"),
        "{err}"
    );
    // The command line adds what to do about it.
    let output = common::softreg(&["train", "--data", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("pass --data DIR"),
        "{}",
        common::stderr(&output)
    );
}

#[test]
fn test_images_of_another_shape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        image_file(3, 3, 2),
    )
    .unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(
        matches!(err.kind, DataErrorKind::ShapeMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn gzipped_files_load_like_raw_ones_and_the_cache_is_reused() {
    let raw = tempfile::tempdir().unwrap();
    let gz = tempfile::tempdir().unwrap();
    write_valid_dataset(raw.path(), false);
    write_valid_dataset(gz.path(), true);
    let from_raw = Dataset::load(raw.path(), Some(10)).unwrap();
    let from_gz = Dataset::load(gz.path(), Some(10)).unwrap();
    assert_eq!(from_raw, from_gz);

    // The raw cache now sits beside each .gz and equals the raw file.
    for name in softreg::data::FILE_STEMS {
        assert_eq!(
            fs::read(gz.path().join(name)).unwrap(),
            fs::read(raw.path().join(name)).unwrap()
        );
    }
    // A second load uses the cache: it succeeds even once the .gz files are
    // garbage, as long as they are older than the cache (a newer .gz is read
    // again: tests/file_system.rs).
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in softreg::data::FILE_STEMS {
        let path = gz.path().join(format!("{name}.gz"));
        fs::write(&path, b"not gzip").unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(an_hour_ago).unwrap();
    }
    assert_eq!(Dataset::load(gz.path(), Some(10)).unwrap(), from_raw);
}

#[test]
fn corrupt_gzip_is_an_error_and_leaves_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[10..middle] {
        *b ^= 0x5a;
    }
    fs::write(&path, &bytes).unwrap();
    let before = listing(dir.path());
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(
        matches!(err.kind, DataErrorKind::Gzip(_) | DataErrorKind::Idx(_)),
        "{err:?}"
    );
    assert_eq!(err.path, path);
    assert_eq!(
        listing(dir.path()),
        before,
        "no cache or temporary file may remain"
    );
}

#[test]
fn truncated_gzip_is_an_error_and_leaves_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let images = image_file(50, 10, 10);
    let compressed = gzip(&images);
    fs::write(
        dir.path().join(format!("{IMAGES}.gz")),
        &compressed[..compressed.len() / 2],
    )
    .unwrap();
    fs::write(dir.path().join(LABELS), label_file(&[0; 50])).unwrap();
    let before = listing(dir.path());
    let err = load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::F32).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::Gzip(_)), "{err:?}");
    assert_eq!(listing(dir.path()), before);
}

#[test]
fn gzip_longer_than_its_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = image_file(2, 2, 2);
    images.extend_from_slice(&[0; 1000]);
    fs::write(dir.path().join(format!("{IMAGES}.gz")), gzip(&images)).unwrap();
    fs::write(dir.path().join(LABELS), label_file(&[0, 0])).unwrap();
    let err = load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::F32).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DataErrorKind::Idx(IdxError::TrailingBytes {
                expected: 24,
                actual: 25
            })
        ),
        "{err:?}"
    );
    assert!(!dir.path().join(IMAGES).exists());
}

#[test]
fn bundled_files_match_their_checksums_and_load() {
    let dir = common::fashion_mnist_dir();
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 4);
    for line in sums.lines() {
        let (expected, name) = line.split_once("  ").unwrap();
        let digest = Sha256::digest(fs::read(dir.join(name)).unwrap());
        let actual: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(actual, expected, "{name} differs from the canonical file");
    }
    let data = Dataset::load(&dir, Some(10)).unwrap();
    assert_eq!(
        (data.train.len(), data.test.as_ref().unwrap().len()),
        (60_000, 10_000)
    );
    assert_eq!(data.train.images.features(), 784);
    let mut histogram = [0usize; 10];
    for &l in &data.train.labels {
        histogram[l as usize] += 1;
    }
    assert_eq!(
        histogram, [6000; 10],
        "Fashion-MNIST's training set is balanced"
    );
    let pixels = data.train.images.f32_pixels().unwrap();
    assert!(
        pixels
            .iter()
            .all(|&p| (0.0..=255.0).contains(&p) && p.fract() == 0.0)
    );
    assert!(pixels.contains(&255.0) && pixels.contains(&0.0));
    let values = data.train.images.row_f32(0);
    assert!(values.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn empty_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), b"").unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(
        matches!(
            err.kind,
            DataErrorKind::Idx(IdxError::HeaderTruncated { actual: 0, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_split_with_no_images_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        idx_bytes(8, &[0, 2, 3], &[]),
    )
    .unwrap();
    fs::write(dir.path().join("t10k-labels-idx1-ubyte"), label_file(&[])).unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::NoImages), "{err:?}");
    assert!(err.to_string().ends_with("holds no images"), "{err}");
}

#[test]
fn a_gzip_stream_corrupted_in_the_middle_is_called_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), true);
    // Pixels like a photograph's noise (a regular pattern compresses to almost
    // nothing), black borders as in Fashion-MNIST.
    let mut state: u32 = 1;
    let pixels: Vec<u8> = (0..50 * 784)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i % 28 < 8 { 0 } else { (state >> 24) as u8 }
        })
        .collect();
    let images = idx_bytes(8, &[50, 28, 28], &pixels);
    let good = common::gzip(&images);
    // A corruption that makes the stream decode to more bytes than the header
    // describes before its checksum fails: the case 07f0cbc called "trailing
    // bytes".
    let too_long = |gz: &[u8]| {
        use std::io::Read;
        let mut decoder = flate2::read::GzDecoder::new(gz).take(images.len() as u64 + 1);
        let mut out = Vec::new();
        let _ = decoder.read_to_end(&mut out);
        out.len() > images.len()
    };
    let gz = (good.len() / 3..good.len() * 2 / 3)
        .flat_map(|i| [0x01u8, 0x10, 0x55, 0xff].map(|flip| (i, flip)))
        .map(|(i, flip)| {
            let mut gz = good.clone();
            gz[i] ^= flip;
            gz
        })
        .find(|gz| too_long(gz))
        .expect("some corruption in the middle lengthens the stream");
    fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gz).unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::Gzip(_)), "{err}");
}
