//! Data sets other than Fashion-MNIST's shape: idx files of every element type
//! and any rank, labels wider than a byte, classes counted from the data and
//! named from a `classes.txt`.

use crate::common;

use common::{idx_bytes, image_file, label_file, write_dataset};
use softreg::data::{DataErrorKind, Dataset, PixelFormat, Row};

/// The idx bytes of `values` as element type `code`, big-endian.
fn encode(code: u8, values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| match code {
            0x08 => vec![v as u8],
            0x09 => vec![v as i8 as u8],
            0x0B => (v as i16).to_be_bytes().to_vec(),
            0x0C => (v as i32).to_be_bytes().to_vec(),
            0x0D => (v as f32).to_be_bytes().to_vec(),
            0x0E => v.to_be_bytes().to_vec(),
            _ => unreachable!("an idx type code"),
        })
        .collect()
}

/// Every idx element type loads to the values its file holds: the same
/// values for pixels of 0 to 127 written as each type; bytes keep the 1/255
/// scale of pixels, every other type loads its values as they are.
#[test]
fn samples_of_every_idx_type_load_to_the_values_they_hold() {
    let (count, h, w) = (4u32, 2u32, 3u32);
    let values: Vec<f64> = (0..count * h * w).map(|i| f64::from(i * 5 % 128)).collect();
    let labels = label_file(&[0, 1, 2, 1]);
    for code in [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E] {
        let dir = tempfile::tempdir().unwrap();
        let images = idx_bytes(code, &[count, h, w], &encode(code, &values));
        let files = [images.clone(), labels.clone(), images, labels.clone()];
        write_dataset(dir.path(), files, code == 0x0C);
        for format in [PixelFormat::U8, PixelFormat::F32] {
            let data = Dataset::load_as(dir.path(), None, format).unwrap();
            let images = &data.train.images;
            assert_eq!(images.shape(), (2, 3), "type {code:#04x}");
            assert_eq!(images.len(), 4);
            let scale = if code == 0x08 { 1.0 / 255.0 } else { 1.0 };
            assert_eq!(images.scale(), scale, "type {code:#04x}");
            for i in 0..4 {
                let expected = &values[i * 6..(i + 1) * 6];
                let held: Vec<f64> = match images.row(i) {
                    Row::U8(row) => row.iter().map(|&p| f64::from(p)).collect(),
                    Row::F32(row) => row.iter().map(|&p| f64::from(p)).collect(),
                };
                assert_eq!(held, expected, "type {code:#04x}, {format:?}, row {i}");
            }
            if code != 0x08 {
                assert_eq!(images.format(), PixelFormat::F32, "only bytes stay bytes");
            }
        }
    }
}

/// A file of two dimensions holds feature vectors, one of four or more
/// flattened samples: both train, with the features counted right.
#[test]
fn samples_of_two_and_four_dimensions_are_feature_vectors() {
    for dims in [&[5u32, 7][..], &[5, 2, 2, 3]] {
        let dir = tempfile::tempdir().unwrap();
        let elements: u32 = dims.iter().product();
        let values: Vec<f64> = (0..elements).map(|i| f64::from(i % 7) - 3.0).collect();
        let images = idx_bytes(0x0D, dims, &encode(0x0D, &values));
        let labels = label_file(&[0, 1, 0, 1, 1]);
        let files = [images.clone(), labels.clone(), images, labels];
        write_dataset(dir.path(), files, false);
        let data = Dataset::load(dir.path(), None).unwrap();
        let features = (elements / 5) as usize;
        assert_eq!(data.train.images.shape(), (1, features), "{dims:?}");
        assert_eq!(data.classes, 2);
    }
}

/// Labels of 16- and 32-bit integers beyond a byte: the class count is the
/// largest label + 1 over both splits, or `--classes`; a label at or past
/// `--classes`, a negative label and float labels are refused, naming the file.
#[test]
fn classes_come_from_the_labels_of_any_integer_type() {
    let images = image_file(3, 2, 2);
    for code in [0x0B, 0x0C] {
        let dir = tempfile::tempdir().unwrap();
        let train = idx_bytes(code, &[3], &encode(code, &[0.0, 999.0, 5.0]));
        let test = idx_bytes(code, &[3], &encode(code, &[1.0, 2.0, 300.0]));
        write_dataset(
            dir.path(),
            [images.clone(), train, images.clone(), test],
            false,
        );
        let data = Dataset::load(dir.path(), None).unwrap();
        assert_eq!(data.classes, 1000);
        assert_eq!(data.train.labels, [0, 999, 5]);
        assert_eq!(data.class_names[999], "999");
        assert_eq!(Dataset::load(dir.path(), Some(1200)).unwrap().classes, 1200);
        let err = Dataset::load(dir.path(), Some(999)).unwrap_err();
        assert!(err.path.ends_with(softreg::data::FILE_STEMS[1]), "{err}");
        assert!(
            matches!(
                err.kind,
                DataErrorKind::LabelOutOfRange {
                    index: 1,
                    label: 999,
                    classes: 999
                }
            ),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let negative = idx_bytes(0x09, &[3], &encode(0x09, &[0.0, -1.0, 2.0]));
    let files = [
        images.clone(),
        negative,
        images.clone(),
        label_file(&[0, 1, 2]),
    ];
    write_dataset(dir.path(), files, false);
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(err.to_string().contains("label -1 at index 1"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let floats = idx_bytes(0x0D, &[3], &encode(0x0D, &[0.0, 1.0, 2.0]));
    let files = [images.clone(), floats, images, label_file(&[0, 1, 2])];
    write_dataset(dir.path(), files, false);
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(err.to_string().contains("they must be integers"), "{err}");
}

/// A NaN or an infinity among float samples is refused at load, naming the
/// sample and the feature.
#[test]
fn non_finite_samples_are_refused() {
    for bad in [f64::NAN, f64::INFINITY] {
        let dir = tempfile::tempdir().unwrap();
        let mut values = vec![0.5; 12];
        values[7] = bad;
        let images = idx_bytes(0x0E, &[3, 2, 2], &encode(0x0E, &values));
        let labels = label_file(&[0, 1, 0]);
        write_dataset(
            dir.path(),
            [images.clone(), labels.clone(), images, labels],
            false,
        );
        let err = Dataset::load(dir.path(), None).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("sample 1 holds") && message.contains("at feature 3"),
            "{message}"
        );
    }
}

/// Class names: a `classes.txt` names the classes, one line each, and must
/// name every class; without one, data that is not Fashion-MNIST gets
/// numbers even with ten classes; the bundled data gets Fashion-MNIST's names.
#[test]
fn class_names_come_from_a_names_file_or_the_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<u8> = (0..10).collect();
    let (images, labels) = (image_file(10, 2, 2), label_file(&labels));
    write_dataset(
        dir.path(),
        [images.clone(), labels.clone(), images, labels],
        false,
    );
    let data = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(data.classes, 10);
    assert_eq!(data.class_names[0], "0");

    let names: Vec<String> = (0..10).map(|c| format!("letter {c}")).collect();
    std::fs::write(dir.path().join("classes.txt"), names.join("\n") + "\n").unwrap();
    assert_eq!(Dataset::load(dir.path(), None).unwrap().class_names, names);

    std::fs::write(dir.path().join("classes.txt"), "a\nb\n").unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(err.path.ends_with("classes.txt"), "{err}");
    assert!(
        err.to_string()
            .contains("names 2 classes, but the labels have 10"),
        "{err}"
    );

    let bundled = Dataset::load_as(&common::fashion_mnist_dir(), None, PixelFormat::U8).unwrap();
    assert_eq!(bundled.classes, 10);
    assert_eq!(bundled.class_names[9], "Ankle boot");
}

/// `--classes` on the command line: past the labels it widens the model; below
/// them it is refused naming the label file; past the limit it is refused by
/// the flag's parser.
#[test]
fn the_classes_flag_sets_the_class_count() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let run = |classes: &str| {
        common::softreg(&[
            "train",
            "--data",
            data,
            "--epochs",
            "1",
            "--classes",
            classes,
        ])
    };
    let wide = run("12");
    assert!(
        wide.status.success(),
        "{}",
        String::from_utf8_lossy(&wide.stderr)
    );
    assert!(String::from_utf8_lossy(&wide.stdout).contains(", 12 classes;"));
    // A --classes below the largest label is the flag's fault: exit 2, as
    // clap's own refusals, naming the labels file it does not fit.
    for (classes, message, code) in [
        ("2", "train-labels-idx1-ubyte", 2),
        ("70000", "--classes", 2),
    ] {
        let refused = run(classes);
        assert_eq!(refused.status.code(), Some(code), "--classes {classes}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(message), "--classes {classes}: {stderr}");
    }
}

/// A NumPy directory: f32 features train straight from the file's mapping,
/// labels of int64 count the classes, and `train` runs on it end to end.
#[test]
fn numpy_files_train_from_their_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (count, features) = (40, 5);
    let samples: Vec<f32> = (0..count * features)
        .map(|i| (i % 11) as f32 - 5.0)
        .collect();
    let labels: Vec<i64> = (0..count as i64).map(|i| i % 3).collect();
    common::write_npy_dataset(dir.path(), &samples, features, &labels);
    let data = Dataset::load_as(dir.path(), None, PixelFormat::U8).unwrap();
    assert_eq!((data.classes, data.train.len()), (3, count));
    assert_eq!(data.train.images.shape(), (1, features));
    assert_eq!(data.train.images.f32_pixels().unwrap(), &samples[..]);
    assert_eq!(data.train.images.scale(), 1.0);
    assert!(
        format!("{:?}", data.train.images).contains("Mapped"),
        "{:?}",
        data.train.images
    );

    let path = dir.path().to_str().unwrap();
    let stdout = common::softreg_stdout(&[
        "train",
        "--data",
        path,
        "--epochs",
        "2",
        "--batch-size",
        "8",
    ]);
    assert!(
        stdout.contains("40 train / 40 test images of 1x5, 3 classes"),
        "{stdout}"
    );
}

/// Byte images saved with NumPy load to the same values as the same images in
/// idx files, and samples of other dtypes to their values.
#[test]
fn numpy_files_of_every_dtype_load_to_their_values() {
    let (count, h, w) = (3, 2, 2);
    let pixels: Vec<u8> = (0..count * h * w).map(|i| (i * 19 % 256) as u8).collect();
    let labels = [2i64, 0, 1];
    let idx = tempfile::tempdir().unwrap();
    let images = idx_bytes(0x08, &[count as u32, h as u32, w as u32], &pixels);
    let idx_labels = label_file(&[2, 0, 1]);
    write_dataset(
        idx.path(),
        [images.clone(), idx_labels.clone(), images, idx_labels],
        false,
    );
    let from_idx = Dataset::load_as(idx.path(), None, PixelFormat::U8).unwrap();

    let values: Vec<f64> = pixels.iter().map(|&p| f64::from(p)).collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("|u1", pixels.clone()),
        (
            "<u2",
            values
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
        ),
        (
            "<i4",
            values
                .iter()
                .flat_map(|&v| (v as i32).to_le_bytes())
                .collect(),
        ),
        (
            "<f8",
            values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
        ),
        (
            "<u8",
            values
                .iter()
                .flat_map(|&v| (v as u64).to_le_bytes())
                .collect(),
        ),
    ];
    for (descr, data) in cases {
        let dir = tempfile::tempdir().unwrap();
        let x = common::npy_bytes(descr, &[count, h, w], false, &data);
        let y = common::npy_bytes("<i8", &[count], false, &common::i64_le(&labels));
        for (name, bytes) in softreg::data::NPY_FILES.iter().zip([&x, &y, &x, &y]) {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let loaded = Dataset::load_as(dir.path(), None, PixelFormat::U8).unwrap();
        assert_eq!(loaded.train.labels, from_idx.train.labels, "{descr}");
        assert_eq!(loaded.train.images.shape(), (h, w), "{descr}");
        if descr == "|u1" {
            assert_eq!(
                loaded.train.images, from_idx.train.images,
                "bytes as in idx"
            );
        } else {
            let held: Vec<f64> = (0..count)
                .flat_map(|i| match loaded.train.images.row(i) {
                    Row::F32(row) => row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
                    Row::U8(_) => panic!("{descr}: only bytes stay bytes"),
                })
                .collect();
            assert_eq!(held, values, "{descr}");
        }
    }
}

/// What softreg does not read from `.npy` is refused, naming the file and
/// the reason: Fortran order, big-endian, pickled objects, float labels,
/// features without a sample axis, a shape the file does not hold.
#[test]
fn numpy_files_softreg_does_not_read_are_refused_with_the_reason() {
    let labels = common::npy_bytes("<i8", &[2], false, &common::i64_le(&[0, 1]));
    let floats = common::f32_le(&[0.0; 6]);
    let cases: [(&str, Vec<u8>, Vec<u8>, &str); 6] = [
        (
            "train_x.npy",
            common::npy_bytes("<f4", &[2, 3], true, &floats),
            labels.clone(),
            "Fortran order",
        ),
        (
            "train_x.npy",
            common::npy_bytes(">f4", &[2, 3], false, &floats),
            labels.clone(),
            "big-endian",
        ),
        (
            "train_x.npy",
            common::npy_bytes("|O", &[2, 3], false, &[0; 48]),
            labels.clone(),
            "never unpickles",
        ),
        (
            "train_y.npy",
            common::npy_bytes("<f4", &[2, 3], false, &floats),
            common::npy_bytes("<f4", &[2], false, &common::f32_le(&[0.0, 1.0])),
            "must be integers",
        ),
        (
            "train_x.npy",
            common::npy_bytes("<f4", &[6], false, &floats),
            labels.clone(),
            "has 1 dimensions",
        ),
        (
            "train_x.npy",
            common::npy_bytes("<f4", &[2, 3000000], false, &floats),
            labels.clone(),
            "truncated",
        ),
    ];
    for (blamed, x, y, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train_x.npy"), &x).unwrap();
        std::fs::write(dir.path().join("train_y.npy"), &y).unwrap();
        let err = Dataset::load(dir.path(), None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(err.path.ends_with(blamed), "{reason}: {message}");
    }
}

/// The bundled digits (NumPy files of 8x8 float32 images) train end to end:
/// ten classes from the labels, named by number, and a test accuracy a
/// softmax regression reaches on them; feature vectors refuse `--plot`.
#[test]
fn the_bundled_digits_train_from_numpy_files() {
    let digits = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
    let data = Dataset::load(&digits, None).unwrap();
    assert_eq!(
        (
            data.train.len(),
            data.test.as_ref().unwrap().len(),
            data.classes
        ),
        (1438, 359, 10)
    );
    assert_eq!(
        (data.train.images.shape(), data.class_names[9].as_str()),
        ((8, 8), "9")
    );
    let dir = digits.to_str().unwrap();
    let flags = ["--epochs", "30", "--lr", "0.5", "--batch-size", "64"];
    let stdout = common::softreg_stdout(&[&["train", "--data", dir][..], &flags].concat());
    let accuracy: f64 = stdout
        .split("final test acc ")
        .nth(1)
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(accuracy > 0.95, "{stdout}");

    let features = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..60).map(|i| (i % 7) as f32).collect();
    common::write_npy_dataset(
        features.path(),
        &samples,
        3,
        &(0..20).map(|i| i % 2).collect::<Vec<_>>(),
    );
    let path = features.path().to_str().unwrap();
    let model = features.path().join("model.safetensors");
    let model = model.to_str().unwrap();
    let trained = common::softreg(&["train", "--data", path, "--epochs", "1", "--save", model]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let plot = features.path().join("p.png");
    let refused = common::softreg(&[
        "predict",
        "--model",
        model,
        "--data",
        path,
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("vectors of 3 features"));
    assert!(!plot.exists());
}

/// A NumPy directory without test files trains: the held-out `--validation`
/// images rank and score it, and nothing claims a test accuracy; a test
/// labels file without its samples file is refused, naming the missing one.
#[test]
fn numpy_files_need_no_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..120).map(|i| (i % 5) as f32).collect();
    let labels: Vec<i64> = (0..40).map(|i| i % 2).collect();
    common::write_npy_dataset(dir.path(), &samples, 3, &labels);
    for name in &softreg::data::NPY_FILES[2..] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let data = Dataset::load(dir.path(), None).unwrap();
    assert!(data.test.is_none());
    let path = dir.path().to_str().unwrap();
    let stdout = common::softreg_stdout(&[
        "train",
        "--data",
        path,
        "--epochs",
        "2",
        "--validation",
        "10",
    ]);
    assert!(
        stdout.contains("30 train + 10 validation / no test images of 1x3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("final val acc") && !stdout.contains("test acc"),
        "{stdout}"
    );
    let json = common::softreg(&["train", "--data", path, "--epochs", "1", "--json"]);
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["type"], "epoch", "{first}");
    assert!(first["test_acc"].is_null(), "{first}");
    let sweep = common::softreg(&[
        "sweep",
        "--data",
        path,
        "--epochs",
        "1",
        "--validation",
        "10",
        "--lr",
        "0.1,0.2",
    ]);
    assert!(
        sweep.status.success(),
        "{}",
        String::from_utf8_lossy(&sweep.stderr)
    );

    let model = dir.path().join("model.safetensors");
    let model = model.to_str().unwrap();
    common::softreg_stdout(&["train", "--data", path, "--epochs", "1", "--save", model]);
    let eval = common::softreg(&["eval", "--model", model, "--data", path]);
    assert!(!eval.status.success());
    assert!(
        common::stderr(&eval).contains("has no test split"),
        "{}",
        common::stderr(&eval)
    );

    let y = std::fs::read(dir.path().join("train_y.npy")).unwrap();
    std::fs::write(dir.path().join("test_y.npy"), y).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(err.path.ends_with("test_x.npy"), "{err}");
}

/// `--standardize`: features a thousand apart in scale and offset train
/// where the raw ones diverge, and the saved model, with the transform folded
/// into its weight and bias, scores the raw test files as training did.
#[test]
fn standardized_features_train_and_the_saved_model_takes_raw_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = softreg::random::SeededRng::new(4);
    let (count, features) = (600, 6);
    let mut samples = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..count {
        let z: Vec<f64> = (0..features).map(|_| rng.normal(0.0, 1.0)).collect();
        labels.push(i64::from(z[0] + z[1] > 0.0) + i64::from(z[2] > 1.0));
        samples.extend(
            z.iter()
                .enumerate()
                .map(|(f, &z)| (z * 10f64.powi(f as i32 - 2) + 300.0 * f as f64) as f32),
        );
    }
    common::write_npy_dataset(dir.path(), &samples, features, &labels);
    let path = dir.path().to_str().unwrap();
    let model = dir.path().join("model.safetensors");
    let model = model.to_str().unwrap();
    let flags = [
        "train",
        "--data",
        path,
        "--epochs",
        "10",
        "--batch-size",
        "32",
    ];
    let raw = common::softreg(&flags);
    assert!(!raw.status.success(), "raw features this far apart diverge");
    let stdout =
        common::softreg_stdout(&[&flags[..], &["--standardize", "--save", model]].concat());
    let printed = stdout
        .split("final test acc ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(printed.parse::<f64>().unwrap() > 0.8, "{stdout}");
    let eval = common::softreg_stdout(&["eval", "--model", model, "--data", path]);
    assert!(
        eval.contains(&format!("test acc {printed} ")),
        "{printed} vs {eval}"
    );
    let (_, info) = softreg::model_file::load(model.as_ref()).unwrap();
    assert!(
        info.training_setting("standardized").is_some(),
        "{:?}",
        info.training
    );
}

/// `--kernel auto` (the default) trains the tutorial's shape with the fused
/// kernel and a thousand classes of 768 features (3 MB of weights, past half
/// of any L2 this runs on) with the GEMM baseline, in `train` and `sweep`; a
/// named kernel is kept.
#[test]
fn the_kernel_is_chosen_by_the_models_shape() {
    use softreg::kernel::Kernel;
    assert_eq!(Kernel::for_shape(784, 10), Kernel::Fused);
    assert_eq!(Kernel::for_shape(768, 1000), Kernel::Gemm);
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..20 * 768).map(|i| (i % 13) as f32 / 13.0).collect();
    let labels: Vec<i64> = (0..20).map(|i| i * 50).collect();
    common::write_npy_dataset(dir.path(), &samples, 768, &labels);
    let path = dir.path().to_str().unwrap();
    let auto = common::softreg_stdout(&["train", "--data", path, "--epochs", "1"]);
    assert!(
        auto.contains("951 classes") && auto.contains("gemm (matrixmultiply) kernel"),
        "{auto}"
    );
    let forced = common::softreg_stdout(&[
        "train", "--data", path, "--epochs", "1", "--kernel", "fused",
    ]);
    assert!(forced.contains(", fused "), "{forced}");
    let sweep = [
        "sweep",
        "--data",
        path,
        "--epochs",
        "1",
        "--validation",
        "5",
    ];
    let swept = common::softreg_stdout(&sweep);
    assert!(swept.contains("gemm (matrixmultiply) kernel"), "{swept}");
    let swept = common::softreg_stdout(&[&sweep[..], &["--kernel", "fused"]].concat());
    assert!(swept.contains(", fused "), "{swept}");
}

/// `predict --input FILE.npy` classifies every sample of a file of features:
/// printed, or every probability into a float32 `.npy` whose rows sum to 1 and
/// agree with `eval`; a file of other features, or an output over the input,
/// is refused.
#[test]
fn predict_classifies_the_samples_of_a_numpy_file() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..30 * 4).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    let labels: Vec<i64> = (0..30).map(|i| i % 3).collect();
    common::write_npy_dataset(dir.path(), &samples, 4, &labels);
    let path = dir.path().to_str().unwrap();
    let model = dir.path().join("model.safetensors");
    let model = model.to_str().unwrap();
    common::softreg_stdout(&["train", "--data", path, "--epochs", "3", "--save", model]);
    let input = dir.path().join("test_x.npy");
    let input = input.to_str().unwrap();
    let printed = common::softreg_stdout(&["predict", "--model", model, "--input", input]);
    assert_eq!(printed.lines().count(), 30, "{printed}");
    assert!(printed.starts_with("0: "), "{printed}");

    let out = dir.path().join("p.npy");
    let flags = [
        "predict",
        "--model",
        model,
        "--input",
        input,
        "--probabilities",
    ];
    common::softreg_stdout(&[&flags[..], &[out.to_str().unwrap()]].concat());
    let bytes = std::fs::read(&out).unwrap();
    let header = softreg::data::npy::NpyHeader::parse(&bytes).unwrap();
    assert_eq!(header.shape(), &[30, 3]);
    let p: Vec<f32> = header
        .data(&bytes)
        .unwrap()
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (trained, _) = softreg::model_file::load(model.as_ref()).unwrap();
    let data = Dataset::load(dir.path(), None).unwrap();
    let test = data.test.as_ref().unwrap();
    let metrics = softreg::eval::Metrics::compute(&trained, test);
    let mut correct = 0;
    for (row, &label) in p.chunks(3).zip(&test.labels) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        let guess = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        correct += usize::from(guess == label as usize);
    }
    assert_eq!(correct as f64 / 30.0, metrics.accuracy());

    let other = dir.path().join("other.npy");
    std::fs::write(
        &other,
        common::npy_bytes("<f4", &[2, 5], false, &common::f32_le(&[0.0; 10])),
    )
    .unwrap();
    let refused = common::softreg(&[
        "predict",
        "--model",
        model,
        "--input",
        other.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        common::stderr(&refused).contains("5 features; the model"),
        "{}",
        common::stderr(&refused)
    );
    let before = std::fs::read(input).unwrap();
    let over = common::softreg(&[&flags[..], &[input]].concat());
    assert!(!over.status.success());
    let message = common::stderr(&over);
    assert!(message.contains("the same file as --input"), "{message}");
    assert_eq!(std::fs::read(input).unwrap(), before, "the input untouched");
}
