//! What a data directory holds: its files, their checksums, the image shape and
//! the class histogram.

use crate::data::Label;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::data::{DataError, DataErrorKind, Dataset, PixelFormat, Source};

/// One of the files the data set is read from.
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
    /// The files the data set is read from.
    pub files: Vec<FileInfo>,
    /// The loaded data set's shape and labels.
    pub dataset: Dataset,
}

impl DataInfo {
    /// Whether all four files are the canonical Fashion-MNIST idx files.
    pub fn is_fashion_mnist(&self) -> bool {
        self.files.iter().all(|f| f.canonical)
    }

    /// How many images of each class a split holds.
    fn histogram(labels: &[Label], classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The summary as one JSON object: `files` (path, bytes, sha256,
    /// canonical), `train` and `test` (images and the count of each class),
    /// `shape`, `classes`, `fashion_mnist`.
    pub fn json(&self) -> serde_json::Value {
        let data = &self.dataset;
        let files: Vec<_> = self
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path.display().to_string(),
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    "canonical": f.canonical,
                })
            })
            .collect();
        let split = |labels: &[Label]| {
            serde_json::json!({
                "images": labels.len(),
                "class_counts": Self::histogram(labels, data.classes),
            })
        };
        let (height, width) = data.train.images.shape();
        serde_json::json!({
            "type": "info",
            "files": files,
            "train": split(&data.train.labels),
            "test": data.test.as_ref().map(|t| split(&t.labels)),
            "shape": [height, width],
            "classes": data.classes,
            "fashion_mnist": self.is_fashion_mnist(),
        })
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
            data.test.as_ref().map_or(0, |t| t.len()),
            data.classes
        );
        let train = Self::histogram(&data.train.labels, data.classes);
        let no_labels: &[Label] = &[];
        let test_labels = data.test.as_ref().map_or(no_labels, |t| &t.labels[..]);
        let test = Self::histogram(test_labels, data.classes);
        let _ = writeln!(out, "class histogram (train / test):");
        for c in 0..data.classes {
            let name = crate::app::report::printable(&data.class_names[c]);
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
pub fn inspect(dir: &Path, classes: Option<usize>) -> Result<DataInfo, DataError> {
    let dataset = Dataset::load_as(dir, classes, PixelFormat::U8)?;
    let mut files = Vec::new();
    let source = Source::of(dir);
    for (i, path) in source.files_read().into_iter().enumerate() {
        let canonical_sum = source.canonical_sha256(i, &path);
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
        let canonical = canonical_sum == Some(sha256.as_str());
        files.push(FileInfo {
            path,
            bytes,
            sha256,
            canonical,
        });
    }
    Ok(DataInfo { files, dataset })
}
