//! What a data directory holds: its files, their checksums, the image shape and
//! the class histogram.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::checkpoint::FASHION_MNIST_CLASSES;
use crate::data::{DataError, DataErrorKind, Dataset, FILE_STEMS, PixelFormat};

/// SHA-256 of the canonical Fashion-MNIST `.gz` files, in [`FILE_STEMS`] order.
pub const FASHION_MNIST_SHA256: [&str; 4] = [
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
];

/// SHA-256 of the canonical Fashion-MNIST files decompressed (the raw idx
/// files, or the cache softreg writes beside the `.gz` files), in
/// [`FILE_STEMS`] order.
pub const FASHION_MNIST_RAW_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

/// One of the four files.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The file training reads ([`crate::data::source_file`]): the raw file
    /// or the decompressed cache when present and current, else the `.gz`.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Whether it is the canonical Fashion-MNIST file (`.gz` or raw).
    pub canonical: bool,
}

/// A summary of a data directory.
#[derive(Debug, Clone, PartialEq)]
pub struct DataInfo {
    /// The four files.
    pub files: Vec<FileInfo>,
    /// The loaded data set's shape and labels.
    pub dataset: Dataset,
}

impl DataInfo {
    /// Whether all four files are the canonical Fashion-MNIST ones.
    pub fn is_fashion_mnist(&self) -> bool {
        self.files.iter().all(|f| f.canonical)
    }

    /// How many images of each class a split holds.
    fn histogram(labels: &[u8], classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The summary as text.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            let verdict = if file.canonical {
                "canonical Fashion-MNIST"
            } else {
                "not a canonical Fashion-MNIST file"
            };
            let _ = writeln!(
                out,
                "{}  {} bytes  sha256 {}  {verdict}",
                file.path.display(),
                file.bytes,
                file.sha256
            );
        }
        let data = &self.dataset;
        let (h, w) = data.train.images.shape();
        let _ = writeln!(
            out,
            "train: {} images, test: {} images, {h}x{w} pixels, {} classes",
            data.train.len(),
            data.test.len(),
            data.classes
        );
        let train = Self::histogram(&data.train.labels, data.classes);
        let test = Self::histogram(&data.test.labels, data.classes);
        let _ = writeln!(out, "class histogram (train / test):");
        for c in 0..data.classes {
            let name = if self.is_fashion_mnist() {
                FASHION_MNIST_CLASSES[c]
            } else {
                ""
            };
            let _ = writeln!(out, "  {c} {name:<12} {:>6} / {:>6}", train[c], test[c]);
        }
        let _ = writeln!(
            out,
            "Fashion-MNIST: {}",
            if self.is_fashion_mnist() {
                "yes, all four files match the canonical checksums"
            } else {
                "no (not all four files it reads match the canonical checksums)"
            }
        );
        out
    }
}

/// Loads `dir` with `classes` classes and checksums its files.
pub fn inspect(dir: &Path, classes: usize) -> Result<DataInfo, DataError> {
    let dataset = Dataset::load_as(dir, classes, PixelFormat::U8)?;
    let mut files = Vec::new();
    let sums = FASHION_MNIST_SHA256.iter().zip(FASHION_MNIST_RAW_SHA256);
    for (stem, (gz_sum, raw_sum)) in FILE_STEMS.iter().zip(sums) {
        let path = crate::data::source_file(dir, stem);
        let is_gz = path.extension().is_some_and(|e| e == "gz");
        let canonical_sum = if is_gz { gz_sum } else { raw_sum };
        let io = |e| DataError {
            path: path.clone(),
            kind: DataErrorKind::Io(e),
        };
        let (mut file, _) = crate::input::open_regular(&path).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        let sha256: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let canonical = sha256 == *canonical_sum;
        files.push(FileInfo {
            path,
            bytes,
            sha256,
            canonical,
        });
    }
    Ok(DataInfo { files, dataset })
}
