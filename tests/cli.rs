//! The `softreg` binary: flags, errors and output, run as a user would.

mod common;

use std::process::{Command, Output};

fn softreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn train_prints_one_line_per_epoch_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), true);
    let data = dir.path().to_str().unwrap();
    let output = softreg(&[
        "train",
        "--data",
        data,
        "--epochs",
        "2",
        "--batch-size",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].contains("5 train / 3 test images of 2x3, 10 classes"),
        "{stdout}"
    );
    for (i, line) in lines[1..3].iter().enumerate() {
        let prefix = format!("epoch {}, loss ", i + 1);
        assert!(line.starts_with(&prefix), "{line}");
        assert!(
            line.contains(", train acc ") && line.contains(", test acc "),
            "{line}"
        );
        assert!(
            line.contains("M samples/s") && line.contains("GFLOP/s"),
            "{line}"
        );
    }
    assert!(lines[3].starts_with("trained 2 epochs in "), "{stdout}");
}

#[test]
fn nonsense_flags_exit_non_zero_naming_the_flag() {
    for (args, flag) in [
        (&["train", "--batch-size", "0"][..], "--batch-size"),
        (&["train", "--lr", "-1"][..], "--lr"),
        (&["train", "--lr=-1"][..], "--lr"),
        (&["train", "--lr", "inf"][..], "--lr"),
        (&["train", "--threads", "0"][..], "--threads"),
        (&["train", "--epochs", "many"][..], "--epochs"),
        (&["train", "--bogus"][..], "--bogus"),
    ] {
        let output = softreg(args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let message = stderr(&output);
        assert!(message.contains(flag), "{args:?}: {message}");
        assert!(!message.contains("panicked"), "{args:?}: {message}");
    }
}

#[test]
fn missing_data_directory_is_a_clear_error() {
    let output = softreg(&["train", "--data", "/nonexistent/softreg-data"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with("error: /nonexistent/softreg-data/train-images-idx3-ubyte: not found"),
        "{message}"
    );
}

#[test]
fn kernels_and_pixel_formats_print_the_same_curve() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let curve = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            data,
            "--epochs",
            "3",
            "--batch-size",
            "2",
        ];
        args.extend_from_slice(extra);
        let output = softreg(&args);
        assert!(output.status.success(), "{extra:?}: {}", stderr(&output));
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("epoch "))
            .map(|l| l.split("  (").next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let fused = curve(&[]);
    assert_eq!(fused.len(), 3);
    assert_eq!(curve(&["--pixels", "u8", "--threads", "2"]), fused);
    assert_eq!(curve(&["--kernel", "reference"]).len(), 3);
    let bad = softreg(&["train", "--kernel", "gpu"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--kernel"), "{}", stderr(&bad));
}

#[test]
fn bench_prints_peak_and_a_row_per_kernel() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let output = softreg(&["bench", "--data", data, "--epochs", "1", "--threads", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("f32 FMA peak ("), "{stdout}");
    for kernel in [
        "fused      f32",
        "fused      u8",
        "gemm       f32",
        "reference  f32",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(kernel))
            .unwrap_or_else(|| panic!("{stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let samples_per_s: f64 = fields[2].parse().unwrap();
        let percent: f64 = fields[5].trim_end_matches('%').parse().unwrap();
        assert!(samples_per_s > 0.0, "{row}");
        assert!((0.0..100.0).contains(&percent), "{row}");
    }
    assert!(stdout.contains("fused / gemm: "), "{stdout}");
}
