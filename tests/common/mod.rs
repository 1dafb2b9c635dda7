//! Helpers shared by the integration tests: small idx files written on the fly.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// The bytes of an idx file with element type `type_code`, dimensions `dims` and `data`.
pub fn idx_bytes(type_code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

/// A valid u8 idx image file of `count` images of `h x w`, pixel values counting up.
pub fn image_file(count: u32, h: u32, w: u32) -> Vec<u8> {
    let n = (count * h * w) as usize;
    let data: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
    idx_bytes(0x08, &[count, h, w], &data)
}

/// A valid u8 idx label file.
pub fn label_file(labels: &[u8]) -> Vec<u8> {
    idx_bytes(0x08, &[labels.len() as u32], labels)
}

/// gzip-compresses `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes a data directory of the four idx files `files` (train images, train
/// labels, test images, test labels, in the order of
/// [`softreg::data::FILE_STEMS`]), raw or gzipped.
pub fn write_dataset(dir: &Path, files: [Vec<u8>; 4], gz: bool) {
    for (stem, bytes) in softreg::data::FILE_STEMS.iter().zip(files) {
        if gz {
            std::fs::write(dir.join(format!("{stem}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(stem), bytes).unwrap();
        }
    }
}

/// Writes a complete data directory: 5 train and 3 test images of 2x3, labels 0..3.
pub fn write_valid_dataset(dir: &Path, gz: bool) {
    let files = [
        image_file(5, 2, 3),
        label_file(&[0, 1, 2, 1, 0]),
        image_file(3, 2, 3),
        label_file(&[2, 2, 0]),
    ];
    write_dataset(dir, files, gz);
}

/// The epoch lines of a `train` run's standard output, without their timings.
pub fn curve(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| l.split("  (").next().unwrap().to_string())
        .collect()
}

/// The bundled Fashion-MNIST directory.
pub fn fashion_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist")
}

/// Runs the built `softreg` binary with `args`.
pub fn softreg(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(args)
        .output()
        .unwrap()
}

/// A finished command's standard error as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A safetensors model file with `classes x features` zero weights, zero bias
/// and the given metadata entries.
pub fn model_file_with_metadata(
    classes: usize,
    features: usize,
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let weight = vec![0u8; 4 * classes * features];
    let bias = vec![0u8; 4 * classes];
    let tensors = [
        (
            "weight",
            TensorView::new(Dtype::F32, vec![classes, features], &weight).unwrap(),
        ),
        (
            "bias",
            TensorView::new(Dtype::F32, vec![classes], &bias).unwrap(),
        ),
    ];
    let metadata = metadata
        .iter()
        .map(|&(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(tensors, Some(metadata)).unwrap()
}

/// Names of the files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The bytes of a version 1.0 `.npy` file: dtype `descr` (such as `<f4`),
/// `shape`, C order unless `fortran`, and `data`, the header padded to 64
/// bytes as NumPy pads it.
pub fn npy_bytes(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {tuple}, }}");
    let unpadded = 10 + dict.len() + 1;
    let padding = unpadded.next_multiple_of(64) - unpadded;
    let header = format!("{dict}{}\n", " ".repeat(padding));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// f32 values as little-endian bytes.
pub fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// i64 values as little-endian bytes.
pub fn i64_le(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes a NumPy data directory: training samples `(count, features)` of
/// f32 and int64 labels, and the same files as the test split.
pub fn write_npy_dataset(dir: &Path, samples: &[f32], features: usize, labels: &[i64]) {
    let x = npy_bytes("<f4", &[labels.len(), features], false, &f32_le(samples));
    let y = npy_bytes("<i8", &[labels.len()], false, &i64_le(labels));
    for (name, bytes) in softreg::data::NPY_FILES.iter().zip([&x, &y, &x, &y]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Runs the built `softreg` binary with `args`, asserts it succeeded, and
/// returns its standard output.
pub fn softreg_stdout(args: &[&str]) -> String {
    let output = softreg(args);
    assert!(
        output.status.success(),
        "softreg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that `output` is a refusal of the command's words (exit 2) whose
/// message contains `says`, with nothing on standard output; `what` names the
/// case in a failure.
pub fn assert_refused(output: &std::process::Output, what: &dyn std::fmt::Debug, says: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{what:?}: {message}");
    assert!(message.contains(says), "{what:?}: {message}");
    assert!(output.stdout.is_empty(), "{what:?}");
}
