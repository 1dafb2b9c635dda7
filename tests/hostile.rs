//! Odd and hostile inputs: each gets a defined behaviour and a clear message.

mod common;

use common::{softreg, stderr};

use std::fs;

use common::{idx_bytes, image_file, label_file, write_valid_dataset};
use softreg::data::{DataErrorKind, Dataset};
use softreg::idx::IdxError;

#[test]
fn a_directory_in_place_of_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let path = dir.path().join("train-labels-idx1-ubyte");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let err = Dataset::load(dir.path(), 10).unwrap_err();
    assert_eq!(err.path, path);
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn empty_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), b"").unwrap();
    let err = Dataset::load(dir.path(), 10).unwrap_err();
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
    let err = Dataset::load(dir.path(), 10).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::NoImages), "{err:?}");
    assert!(err.to_string().ends_with("holds no images"), "{err}");
}

#[test]
fn images_of_other_sizes_train_like_any_others() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        image_file(40, 32, 32),
    )
    .unwrap();
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        label_file(&labels),
    )
    .unwrap();
    fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        image_file(10, 32, 32),
    )
    .unwrap();
    fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        label_file(&labels[..10]),
    )
    .unwrap();
    let output = softreg(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("40 train / 10 test images of 32x32"),
        "{stdout}"
    );
    assert!(stdout.contains("epoch 2, loss "), "{stdout}");
}

#[test]
fn flags_at_their_limits_behave_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--data", data];
        args.extend_from_slice(extra);
        softreg(&args)
    };

    // Far more threads than cores: capped at 4 per core, and said so.
    let output = run(&["--threads", "10000", "--epochs", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("(capped from 10000)"));

    // Batch size 1 and a batch larger than the training set both train.
    for batch in ["1", "1000"] {
        let output = run(&["--batch-size", batch, "--epochs", "2"]);
        assert!(
            output.status.success(),
            "batch {batch}: {}",
            stderr(&output)
        );
    }

    // Zero epochs: nothing trained, nothing to report but the summary.
    let output = run(&["--epochs", "0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("epoch 1"), "{stdout}");
    assert!(
        stdout.contains("trained 0 epochs in 0.0 ms") && stdout.contains("final test acc n/a"),
        "{stdout}"
    );

    // Zero threads is refused by name.
    let output = run(&["--threads", "0"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--threads"), "{}", stderr(&output));
}
