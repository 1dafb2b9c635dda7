//! Inputs, flags and outputs that could hurt: files that are not what they
//! claim (or not files at all), sizes that would exhaust memory, outputs that
//! would destroy something, closed pipes, models that do not fit, runs that
//! diverge. Each gets a defined behaviour and a clear message, never a panic,
//! a hang or an allocation the input asked for. (Malformed idx files are in
//! `data_loading.rs`.)

use crate::common;

use common::{softreg, stderr};

use std::fs;

use common::{idx_bytes, write_valid_dataset};
use softreg::data::{DataErrorKind, Dataset};

#[test]
fn a_directory_in_place_of_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let path = dir.path().join("train-labels-idx1-ubyte");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert_eq!(err.path, path);
    assert!(err.to_string().contains("not a regular file"), "{err}");
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

    // Far more threads than cores: one per core works, and the header says so.
    let output = run(&["--threads", "10000", "--epochs", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let header = String::from_utf8_lossy(&output.stdout);
    assert!(header.contains(" (10000 asked, "), "{header}");

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

// One section per class of hostile input (as issue 11 listed them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use softreg::model_file::{self, ModelFileErrorKind};

/// Runs `f` on another thread and fails the test if it has not returned
/// within a minute (a hang, which 07f0cbc had, must fail rather than block CI).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("hung for a minute")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// A PNG whose header claims `width x height` grey pixels, with no pixel data.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IEND", &[]);
    bytes
}

/// A trained-looking model file for the small data set (6 features).
fn small_model(dir: &Path, classes: usize, metadata: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("model.safetensors");
    fs::write(
        &path,
        common::model_file_with_metadata(classes, 6, metadata),
    )
    .unwrap();
    path
}

fn out_text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// 1. Memory bounded by what is sensible, never by what the input claims.

#[test]
fn a_picture_claiming_fifty_million_pixels_a_row_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model(dir.path(), 3, &[("image_shape", "2x3")]);
    let picture = dir.path().join("wide.png");
    fs::write(&picture, png_header_only(50_000_000, 1)).unwrap();
    let output = softreg(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--image",
        picture.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("wide.png") && err.contains("too large"),
        "{err}"
    );
}

#[test]
fn a_huge_model_file_is_refused_by_its_size_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.safetensors");
    fs::File::create(&path)
        .unwrap()
        .set_len(3_000_000_000)
        .unwrap();
    let err = model_file::load(&path).unwrap_err();
    assert!(err.to_string().contains("is 3.0 GB"), "{err}");
}

#[test]
fn model_metadata_is_bounded_at_load() {
    let long_name = format!("[{:?}, \"b\", \"c\"]", "x".repeat(1_000_000));
    let bytes = common::model_file_with_metadata(3, 6, &[("class_names", &long_name)]);
    let err = model_file::from_bytes(&bytes).unwrap_err();
    assert!(
        err.to_string()
            .contains("class_names[0] is 1000000 characters long"),
        "{err}"
    );

    let many = common::model_file_with_metadata(70_000, 1, &[]);
    let err = model_file::from_bytes(&many).unwrap_err();
    assert!(
        matches!(err, ModelFileErrorKind::TooManyClasses(70_000)),
        "{err}"
    );
}

#[test]
fn flags_cannot_drive_allocations() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    for epochs in ["1000000000000", "18446744073709551615"] {
        let output = softreg(&["train", "--data", data, "--epochs", epochs]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains("--epochs"), "{}", stderr(&output));
    }
    // A batch larger than the training set is the whole set, whatever its size.
    for batch in ["1000000000", "18446744073709551615"] {
        let output = softreg(&["train", "--data", data, "--batch-size", batch]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            out_text(&output).contains("batch 5,"),
            "{}",
            out_text(&output)
        );
    }
}

#[test]
fn a_gzip_header_claiming_more_than_memory_is_refused_before_decompressing() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), true);
    // 2^31 images of 1000 x 1000: two petabytes claimed, a few bytes present.
    let bomb = idx_bytes(8, &[1 << 31, 1000, 1000], &[0; 64]);
    fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        common::gzip(&bomb),
    )
    .unwrap();
    let err = Dataset::load(dir.path(), Some(10)).unwrap_err();
    assert!(
        matches!(err.kind, DataErrorKind::TooLarge { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("2.1 PB") || err.to_string().contains("TB"),
        "{err}"
    );
    let left: Vec<String> = common::listing(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("train-images") || n.starts_with(".softreg"))
        .collect();
    assert_eq!(
        left,
        ["train-images-idx3-ubyte.gz"],
        "nothing written beside it"
    );
}

// 2. Only regular files are opened, and opening never blocks.

#[test]
fn fifos_in_place_of_inputs_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let labels = dir.path().join("train-labels-idx1-ubyte");
    fs::remove_file(&labels).unwrap();
    mkfifo(&labels);
    let data = dir.path().to_path_buf();
    let err = within_a_minute(move || Dataset::load(&data, Some(10)).unwrap_err());
    assert!(err.to_string().contains("named pipe"), "{err}");

    let model = dir.path().join("model.fifo");
    mkfifo(&model);
    let err = within_a_minute(move || model_file::load(&model).unwrap_err());
    assert!(err.to_string().contains("named pipe"), "{err}");

    let picture = dir.path().join("picture.fifo");
    mkfifo(&picture);
    let err =
        within_a_minute(move || softreg::app::user_image::prepare(&picture, (2, 3)).unwrap_err());
    assert!(err.contains("named pipe"), "{err}");
}

// 3. Output paths are safe.

#[test]
fn outputs_never_replace_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let target = dir.path().join("out.fifo");
    mkfifo(&target);
    let output = softreg(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--save",
        target.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("named pipe"),
        "{}",
        stderr(&output)
    );
    assert!(
        !out_text(&output).contains("epoch 1"),
        "refused before training"
    );
    assert!(is_fifo(&target), "the FIFO is still there");
}

#[test]
fn outputs_that_collide_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let same = dir.path().join("same.png");
    let same = same.to_str().unwrap();
    let output = softreg(&["train", "--data", data, "--save", same, "--plot", same]);
    assert_eq!(output.status.code(), Some(2), "two flags at fault");
    assert!(stderr(&output).contains("same file"), "{}", stderr(&output));
    assert!(!Path::new(same).exists());

    let model = small_model(dir.path(), 3, &[]);
    let before = fs::read(&model).unwrap();
    let m = model.to_str().unwrap();
    let output = softreg(&["predict", "--model", m, "--data", data, "--plot", m]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("same file"), "{}", stderr(&output));
    assert_eq!(fs::read(&model).unwrap(), before, "the model is untouched");

    let images = dir.path().join("train-images-idx3-ubyte");
    let output = softreg(&["train", "--data", data, "--plot", images.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("data file"), "{}", stderr(&output));
}

#[test]
fn an_output_that_cannot_be_written_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let too_long = dir.path().join(format!("{}.safetensors", "n".repeat(300)));
    let output = softreg(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--save",
        too_long.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--save"), "{}", stderr(&output));
    assert!(out_text(&output).is_empty(), "{}", out_text(&output));
}

#[test]
fn stale_temporaries_are_removed_and_links_written_through() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    let old_file = |name: &str| {
        let path = dir.path().join(name);
        fs::write(&path, b"two hours old").unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        path
    };
    let stale = old_file(".softreg-Abc123def456.partial");
    // Class 4 of issue 21: a user's own file that merely starts alike is
    // never touched, however old.
    let users = [
        ".softreg-settings.toml",
        ".softreg-Abc123def456",
        ".softreg-Abc123.partial",
    ]
    .map(old_file);
    let fresh = dir.path().join(".softreg-Live99Live99.partial");
    fs::write(&fresh, b"a run in progress").unwrap();
    let real = dir.path().join("real.safetensors");
    let link = dir.path().join("latest.safetensors");
    std::os::unix::fs::symlink("real.safetensors", &link).unwrap();
    let output = softreg(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--epochs",
        "1",
        "--save",
        link.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stale.exists(), "a stale temporary is removed");
    assert!(fresh.exists(), "a recent one may belong to a live run");
    for user in &users {
        assert!(user.exists(), "{} is not ours", user.display());
    }
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        model_file::load(&real).is_ok(),
        "the link's target holds the model"
    );
}

// 4. Closed pipes and full disks are not crashes.

#[test]
fn a_closed_stdout_ends_output_quietly_and_the_model_is_still_saved() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let model = dir.path().join("model.safetensors");
    let data = dir.path().to_str().unwrap();
    let save = model.to_str().unwrap();
    let output = reading_one_byte(&["train", "--epochs", "3000", "--data", data, "--save", save]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(model_file::load(&model).is_ok());
}

#[test]
fn a_closed_stdout_with_nothing_to_save_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    for command in ["train", "sweep"] {
        // A million epochs would take minutes: stopping is what ends it.
        let args = [
            command,
            "--epochs",
            "1000000",
            "--validation",
            "1",
            "--data",
            data,
        ];
        let output = reading_one_byte(&args);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
    }
}

/// Runs softreg with `args`, reads one byte of its standard output and closes
/// the pipe, as `| head -c 1` does; waits for it to end.
fn reading_one_byte(args: &[&str]) -> std::process::Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_full_disk_on_stdout_is_an_error_not_a_panic() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let model = dir.path().join("model.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(["train", "--epochs", "2", "--data"])
        .arg(dir.path())
        .arg("--save")
        .arg(&model)
        .stdout(fs::File::options().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot write to standard output"),
        "{}",
        stderr(&output)
    );
    assert!(
        model_file::load(&model).is_ok(),
        "the model is saved regardless"
    );
}

// 5. What is loaded is checked.

#[test]
fn models_with_non_finite_or_overflowing_weights_are_refused() {
    use safetensors::tensor::{Dtype, TensorView};
    let file = |weight: Vec<f32>, bias: Vec<f32>| {
        let w: Vec<u8> = weight.iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensors = [
            (
                "weight",
                TensorView::new(Dtype::F32, vec![2, 3], &w).unwrap(),
            ),
            ("bias", TensorView::new(Dtype::F32, vec![2], &b).unwrap()),
        ];
        safetensors::serialize(tensors, None).unwrap()
    };
    let nan = file(vec![0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0], vec![0.0; 2]);
    match model_file::from_bytes(&nan).unwrap_err() {
        ModelFileErrorKind::NotFinite { name, index, .. } => {
            assert_eq!((name, index), ("weight", vec![1, 1]))
        }
        other => panic!("{other}"),
    }
    let inf_bias = file(vec![0.0; 6], vec![0.0, f32::INFINITY]);
    assert!(matches!(
        model_file::from_bytes(&inf_bias).unwrap_err(),
        ModelFileErrorKind::NotFinite { name: "bias", .. }
    ));
    let huge = file(vec![1e38, 1e38, 1e38, 0.0, 0.0, 0.0], vec![0.0; 2]);
    assert!(matches!(
        model_file::from_bytes(&huge).unwrap_err(),
        ModelFileErrorKind::LogitsOverflow { class: 0, .. }
    ));
}

#[test]
fn scoring_needs_only_the_test_files_and_blames_a_class_mismatch_on_the_model() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
    fs::remove_file(dir.path().join("train-labels-idx1-ubyte")).unwrap();
    let data = dir.path().to_str().unwrap();
    let model = small_model(dir.path(), 3, &[]);
    let output = softreg(&["eval", "--model", model.to_str().unwrap(), "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        out_text(&output).contains("(3 images)"),
        "{}",
        out_text(&output)
    );

    // Test labels go up to 2: a 2-class model does not fit them.
    let model = small_model(dir.path(), 2, &[]);
    let output = softreg(&["eval", "--model", model.to_str().unwrap(), "--data", data]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("model.safetensors has 2 classes")
            && err.contains("t10k-labels-idx1-ubyte labels image 0 as class 2"),
        "{err}"
    );
    assert!(!err.contains("train-labels"), "{err}");
}

#[test]
fn class_names_are_printed_with_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let names = r#"["a\u001b]0;pwned\u0007", "b\u001b[2J", "c"]"#;
    let model = small_model(dir.path(), 3, &[("class_names", names)]);
    let m = model.to_str().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = softreg(&["eval", "--model", m, "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = out_text(&output);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains(r"a\u{1b}]0;pwned\u{7}"), "{text}");

    // Piped, the figure has no colour escapes at all (and so none a class
    // name could smuggle in).
    let output = softreg(&["predict", "--model", m, "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = out_text(&output);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains(r"a\u{1b}]0;pwned\u{7}"), "{text}");
}

#[test]
fn a_confusion_matrix_too_wide_for_a_terminal_is_left_to_json() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let model = small_model(dir.path(), 40, &[]);
    let m = model.to_str().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = softreg(&["eval", "--model", m, "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        out_text(&output).contains("not printed for 40 classes"),
        "{}",
        out_text(&output)
    );
    let output = softreg(&["eval", "--model", m, "--data", data, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["confusion"].as_array().unwrap().len(), 40);
}

#[test]
fn info_checks_the_files_training_reads() {
    let dir = compressed_copy();
    let data = dir.path().to_str().unwrap();
    let output = softreg(&["info", "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        out_text(&output).contains("Fashion-MNIST: yes"),
        "{}",
        out_text(&output)
    );
    // The decompressed cache is what training reads: edit it (keeping it
    // newer than its .gz) and the data set is no longer the canonical one.
    let cache = dir.path().join("t10k-labels-idx1-ubyte");
    let mut labels = fs::read(&cache).unwrap();
    labels[8] = (labels[8] + 1) % 10;
    fs::write(&cache, labels).unwrap();
    let output = softreg(&["info", "--data", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = out_text(&output);
    assert!(text.contains("Fashion-MNIST: no"), "{text}");
    assert!(
        text.contains("t10k-labels-idx1-ubyte  10008 bytes"),
        "{text}"
    );
}

// 6. Training that runs away is reported.

#[test]
fn a_run_whose_loss_explodes_is_an_error_and_writes_no_model() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let model = dir.path().join("model.safetensors");
    let output = softreg(&[
        "train",
        "--data",
        dir.path().to_str().unwrap(),
        "--lr",
        "1e30",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", out_text(&output));
    let err = stderr(&output);
    assert!(err.contains("diverged") && err.contains("--lr"), "{err}");
    let text = out_text(&output);
    assert!(
        text.contains("e2") || text.contains("e3"),
        "scientific notation: {text}"
    );
    assert!(!model.exists());
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
        (&["sweep", "--lr", "0.1,-1"][..], "--lr"),
        (&["sweep", "--lr", "0.1,0.1"][..], "--lr"),
        (&["sweep", "--seeds", "3-1"][..], "--seeds"),
        (&["sweep", "--seeds", "0-99999999999"][..], "--seeds"),
        (&["sweep", "--seeds", "x"][..], "--seeds"),
        (
            &["sweep", "--momentum", "0", "--nesterov"][..],
            "--nesterov",
        ),
        (&["sweep", "--optimizer", "sgd,lbfgs"][..], "--optimizer"),
        (&["sweep", "--validation", "0"][..], "--validation"),
        (&["sweep", "--epochs", "0"][..], "--epochs"),
        (&["train", "--nesterov"][..], "--nesterov"),
        (&["train", "--beta1", "0.9"][..], "--beta1"),
        (&["train", "--validation", "60000"][..], "--validation"),
        (&["train", "--plot", "curves.gif"][..], "--plot"),
        (&["train", "--isa", "mmx"][..], "--isa mmx"),
        (&["sweep", "--validation", "60000"][..], "--validation"),
        (
            &["sweep", "--seeds", "0-999", "--lr", "0.1,0.2"][..],
            "list fewer",
        ),
        (
            &[
                "sweep",
                "--save-best",
                "data/fashion-mnist/t10k-images-idx3-ubyte.gz",
            ][..],
            "--save-best",
        ),
    ] {
        let output = softreg(args);
        // A flag at fault exits 2, as clap's own refusals do; an output that
        // would replace an input is a file's fault (1).
        let expected = if flag == "--save-best" { 1 } else { 2 };
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(expected), "{args:?}: {message}");
        assert!(message.contains(flag), "{args:?}: {message}");
        assert!(!message.contains("panicked"), "{args:?}: {message}");
    }
}

#[test]
fn bad_model_files_and_outputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let output = softreg(&["eval", "--model", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing.safetensors"),
        "{}",
        stderr(&output)
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a model at all").unwrap();
    let output = softreg(&["eval", "--model", garbage.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a valid safetensors model file"),
        "{}",
        stderr(&output)
    );

    let nowhere = dir.path().join("no-dir").join("m.safetensors");
    let output = softreg(&["train", "--save", nowhere.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"));
}

#[test]
fn a_diverging_run_exits_non_zero_and_writes_nothing() {
    let data = tempfile::tempdir().unwrap();
    common::write_valid_dataset(data.path(), false);
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.safetensors");
    let plot = out.path().join("curves.png");
    let output = softreg(&[
        "train",
        "--data",
        data.path().to_str().unwrap(),
        "--lr",
        "3e38",
        "--batch-size",
        "1",
        "--save",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("training diverged at epoch 1, step ")
            && message.contains("lower the learning rate"),
        "{message}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("lr 3e38"),
        "the header shows the learning rate readably"
    );
    assert!(common::listing(out.path()).is_empty(), "no model, no plot");
}

#[test]
fn a_sweep_whose_every_model_diverges_exits_non_zero_and_writes_nothing() {
    let data = tempfile::tempdir().unwrap();
    common::write_valid_dataset(data.path(), false);
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("best.safetensors");
    let plot = out.path().join("sweep.png");
    let output = softreg(&[
        "sweep",
        "--data",
        data.path().to_str().unwrap(),
        "--lr",
        "1e38,3e38",
        "--batch-size",
        "1",
        "--validation",
        "1",
        "--save-best",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("every model diverged"), "{message}");
    assert!(message.contains("lower the learning rates"), "{message}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1e38") && stdout.contains("1/1"),
        "{stdout}"
    );
    for lr in ["1e38", "3e38"] {
        let line = format!("diverged: sgd lr {lr} seed 0 in epoch 1 (");
        assert!(stdout.contains(&line), "{stdout}");
    }
    assert!(common::listing(out.path()).is_empty(), "no model, no plot");
}

// Issue 21: the third round, one test per class.

/// Class 2: `bench` sizes nothing by its flags alone. A batch of a billion
/// rows is the training set, as in `train`, even under an address-space
/// limit (4 GB) that a buffer of a billion row indices would break.
#[test]
fn bench_sizes_no_buffer_by_its_batch_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let script = format!(
        "ulimit -v 4000000 && exec '{}' bench --data '{}' --batch-size 1000000000 --epochs 1 \
         --threads 1 --peak-lane-fmas 1000 --json",
        env!("CARGO_BIN_EXE_softreg"),
        dir.path().display()
    );
    let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["batch_size"], 5, "the whole training set: {json}");
}

/// Class 6: a setting is refused by every command that takes it, naming the
/// real cause: Adam's `--eps 0` (which makes 0 / 0 for a weight whose
/// gradient has been 0, not a learning rate too high), and SGD's momentum
/// with Adam alone in a sweep, as `train` refuses it.
#[test]
fn settings_are_refused_alike_by_every_command_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let adam = ["--data", data, "--epochs", "1", "--optimizer", "adam"];
    let output = softreg(&[&["train"], &adam[..], &["--eps", "0"]].concat());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("eps must be above 0"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("learning rate"),
        "{}",
        stderr(&output)
    );
    for flags in [&["--momentum", "0.5,0.9"][..], &["--nesterov"][..]] {
        let sweep = [&["sweep", "--validation", "2"], &adam[..], flags].concat();
        let swept = softreg(&sweep);
        let train = [&["train"], &adam[..], &flags[..1]].concat();
        let train = if flags[0] == "--momentum" {
            [&train[..], &["0.5"]].concat()
        } else {
            train
        };
        for (output, what) in [(swept, "sweep"), (softreg(&train), "train")] {
            assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
            assert!(
                stderr(&output).contains(&format!("{} is a flag of SGD", flags[0])),
                "{what}: {}",
                stderr(&output)
            );
        }
    }
}

/// Class 1: figure layout cannot wrap. A sweep map of a thousand learning
/// rates (cells narrower than the gap between them, which made a width
/// wrap around and the drawing hang) is drawn at once, labels thinned to
/// what fits.
#[test]
fn a_sweep_map_of_a_thousand_learning_rates_is_drawn_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..60 * 2).map(|i| (i % 7) as f32 - 3.0).collect();
    let labels: Vec<i64> = (0..60).map(|i| i % 2).collect();
    common::write_npy_dataset(dir.path(), &samples, 2, &labels);
    let lrs: Vec<String> = (1..=1000)
        .map(|i| format!("{}", f64::from(i) * 1e-4))
        .collect();
    let (data, plot) = (dir.path().to_path_buf(), dir.path().join("map.png"));
    let output = within_a_minute(move || {
        let (data, plot) = (data.to_str().unwrap(), plot.to_str().unwrap());
        let args = [
            "sweep",
            "--data",
            data,
            "--epochs",
            "1",
            "--validation",
            "10",
        ];
        softreg(&[&args[..], &["--lr", &lrs.join(","), "--plot", plot]].concat())
    });
    assert!(output.status.success(), "{}", stderr(&output));
    let picture = image::open(dir.path().join("map.png")).unwrap();
    assert!(picture.width() > 0);
}

/// Class 1: no figure is sized by a flag alone: `predict --count` shows at
/// most 1,000 images (a million made a figure of the whole test set, 583 MB
/// for Fashion-MNIST's 10,000, and more for a larger set).
#[test]
fn predict_count_is_bounded() {
    let output = softreg(&["predict", "--model", "m.safetensors", "--count", "1000000"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--count"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("at most 1000"),
        "{}",
        stderr(&output)
    );
}

/// Class 3: the memory check counts the limits the process really runs
/// under. Under an address-space limit of 1 GB (`ulimit -v`), a sweep whose
/// weights and gradients need 1.4 GB is refused with the figures, where it
/// used to pass the check on `MemAvailable` and abort on allocation.
#[test]
fn the_memory_check_counts_the_address_space_limit() {
    let data = common::fashion_mnist_dir();
    let lrs: Vec<String> = (1..=256)
        .map(|i| format!("{}", f64::from(i) * 1e-3))
        .collect();
    let script = format!(
        "ulimit -v 1000000 && exec '{}' sweep --data '{}' --lr {} --seeds 0-3 --batch-size 2560 \
         --epochs 1",
        env!("CARGO_BIN_EXE_softreg"),
        data.display(),
        lrs.join(",")
    );
    let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("1024 models with batches of 2560 need"),
        "{message}"
    );
    assert!(message.contains("lower --batch-size"), "{message}");

    // `train` too: one model of 20,000 features x 5,000 classes holds 2 GB of
    // weights, optimizer buffers and gradients (it used to abort allocating).
    let dir = tempfile::tempdir().unwrap();
    let features = 20_000;
    common::write_npy_dataset(dir.path(), &vec![0.5; 2 * features], features, &[0, 4999]);
    let script = format!(
        "ulimit -v 1000000 && exec '{}' train --data '{}' --epochs 1",
        env!("CARGO_BIN_EXE_softreg"),
        dir.path().display(),
    );
    let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("one model with batches of 256 needs 2.0 GB"),
        "{message}"
    );
}

// Class 5 of issue 21: interrupted runs and files changed under the reader.

/// The bundled data's compressed files copied into a fresh directory, so that
/// the first run there decompresses them.
fn compressed_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for stem in softreg::data::FILE_STEMS {
        let name = format!("{stem}.gz");
        fs::copy(
            common::fashion_mnist_dir().join(&name),
            dir.path().join(&name),
        )
        .unwrap();
    }
    dir
}

fn send_signal(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: `kill` on the pid of a child not yet waited for (so not reused).
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert!(sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH));
}

#[test]
fn a_run_interrupted_while_decompressing_leaves_no_litter() {
    let dir = compressed_copy();
    // SIGKILL cannot be caught: only a file with no name until it is whole
    // (O_TMPFILE) leaves nothing then. Where the file system has none, the
    // named temporary is removed on SIGINT and SIGTERM, and after an hour.
    let anonymous = softreg::output::PendingFile::create_in(dir.path())
        .unwrap()
        .is_anonymous();
    let mut signals = vec![libc::SIGINT, libc::SIGTERM];
    if anonymous {
        signals.push(libc::SIGKILL);
    } else {
        eprintln!(
            "no O_TMPFILE in {}: SIGKILL not tried",
            dir.path().display()
        );
    }
    let whole_size = |stem: &str| {
        fs::metadata(common::fashion_mnist_dir().join(stem))
            .unwrap()
            .len()
    };
    let mut cut_short = 0;
    for signal in signals {
        for delay_ms in [5, 20, 40, 70, 100, 140, 200] {
            for stem in softreg::data::FILE_STEMS {
                let _ = fs::remove_file(dir.path().join(stem));
            }
            let mut child = Command::new(env!("CARGO_BIN_EXE_softreg"))
                .args(["train", "--epochs", "1", "--data"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            send_signal(&child, signal);
            let status = child.wait().unwrap();
            let mut names: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| !name.ends_with(".gz"))
                .collect();
            names.sort();
            for name in &names {
                assert!(
                    softreg::data::FILE_STEMS.contains(&name.as_str()),
                    "signal {signal} after {delay_ms} ms ({status}) left {name}"
                );
                let size = fs::metadata(dir.path().join(name)).unwrap().len();
                assert_eq!(size, whole_size(name), "{name} is not whole");
            }
            if names.len() < softreg::data::FILE_STEMS.len() {
                cut_short += 1;
            }
        }
    }
    assert!(cut_short > 0, "no run was interrupted while decompressing");
}

#[test]
fn a_mapped_file_truncated_while_training_is_an_error_naming_it() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    for stem in softreg::data::FILE_STEMS {
        fs::copy(
            common::fashion_mnist_dir().join(stem),
            dir.path().join(stem),
        )
        .unwrap();
    }
    let images = dir.path().join("train-images-idx3-ubyte");
    let mut child = Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(["train", "--epochs", "10000", "--data"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.starts_with("epoch 1,")),
        "the run did not start training"
    );
    // What another process might do to a file it is rewriting in place.
    fs::OpenOptions::new()
        .write(true)
        .open(&images)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let output = within_a_minute(move || {
        for _ in lines.by_ref() {}
        child.wait_with_output().unwrap()
    });
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "{} changed while softreg was reading it",
            images.display()
        )),
        "{message}"
    );
}

/// Early stopping that cannot work is refused before training, naming the
/// flag: no patience at all, nothing held out to judge by, and a full-batch
/// fit (which has no epochs).
#[test]
fn impossible_early_stopping_is_refused_naming_the_flag() {
    for (args, says) in [
        (
            &["train", "--patience", "0", "--validation", "100"][..],
            "--patience 1",
        ),
        (
            &["train", "--patience", "2"][..],
            "--validation N, or leave out --patience",
        ),
        (
            &["sweep", "--patience", "2", "--validation", "0"][..],
            "--validation",
        ),
        (
            &["train", "--optimizer", "lbfgs", "--patience", "2"][..],
            "--patience",
        ),
    ] {
        common::assert_refused(&softreg(args), &args, says);
    }
}
