//! Checkpoints, resume and warm starts, through the command line: a run
//! killed between epochs and resumed (with another thread count, and with
//! more epochs) ends bit for bit as the run never stopped; a checkpoint that
//! is damaged, truncated, not a checkpoint, or of another run is refused
//! with the file named and nothing written.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{curve, softreg, stderr};
use softreg::model_file;

/// `train` on the bundled data with `args`.
fn train(args: &[&str]) -> std::process::Output {
    let data = common::fashion_mnist_dir();
    let mut all = vec!["train", "--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    softreg(&all)
}

/// The settings of the run the resume tests interrupt: Adam, a step
/// schedule, images held out (so a best epoch is tracked) and patience that
/// does not run out.
const RUN: &[&str] = &[
    "--optimizer",
    "adam",
    "--lr",
    "0.01",
    "--schedule",
    "step:2,0.5",
    "--validation",
    "5000",
    "--patience",
    "10",
    "--epochs",
    "7",
];

/// Starts `train` with `args` and kills it (SIGKILL) once it has printed
/// `epochs` epoch lines.
fn kill_after(epochs: usize, args: &[&str]) {
    let data = common::fashion_mnist_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_softreg"))
        .args(["train", "--data", data.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    for line in stdout.lines() {
        seen += usize::from(line.unwrap().starts_with("epoch "));
        if seen == epochs {
            break;
        }
    }
    assert_eq!(seen, epochs, "the run printed fewer epochs");
    child.kill().unwrap();
    child.wait().unwrap();
}

fn weights(path: &Path) -> softreg::model::Model {
    model_file::load(path).unwrap().0
}

#[test]
fn a_run_killed_between_epochs_resumes_to_the_same_bits_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (full, resumed, checkpoint) = (path("full.st"), path("resumed.st"), path("run.ckpt"));

    let mut args = RUN.to_vec();
    args.extend(["--threads", "2", "--save", &full]);
    let uninterrupted = train(&args);
    assert!(uninterrupted.status.success(), "{}", stderr(&uninterrupted));
    let uninterrupted = curve(&uninterrupted.stdout);
    assert_eq!(uninterrupted.len(), 7);

    let mut args = RUN.to_vec();
    args.extend(["--threads", "2", "--checkpoint", &checkpoint]);
    kill_after(3, &args);

    // Resumed on one thread, going on writing the same checkpoint.
    let mut args = RUN.to_vec();
    args.extend(["--threads", "1", "--resume", &checkpoint]);
    args.extend(["--checkpoint", &checkpoint, "--save", &resumed]);
    let output = train(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let after: usize = text
        .split("after epoch ")
        .nth(1)
        .and_then(|rest| rest.lines().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no resume line: {text}"));
    assert!((3..7).contains(&after), "{text}");
    assert_eq!(curve(&output.stdout), uninterrupted[after..], "{text}");
    assert_eq!(weights(Path::new(&full)), weights(Path::new(&resumed)));
    // The model files are the same bytes: weights, best epoch and settings.
    assert_eq!(
        std::fs::read(&full).unwrap(),
        std::fs::read(&resumed).unwrap()
    );
    let summary = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("best epoch") || l.contains("final test acc"))
            .map(|l| l.split(" in ").next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let full_text = train(&[RUN, &["--threads", "2"]].concat());
    assert_eq!(
        summary(&text),
        summary(&String::from_utf8_lossy(&full_text.stdout))
    );
}

#[test]
fn a_finished_run_resumed_with_more_epochs_is_the_longer_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (long, checkpoint, resumed) = (path("long.st"), path("short.ckpt"), path("resumed.st"));
    let long_run = train(&["--epochs", "5", "--save", &long]);
    assert!(long_run.status.success(), "{}", stderr(&long_run));
    let short = train(&["--epochs", "3", "--checkpoint", &checkpoint]);
    assert!(short.status.success(), "{}", stderr(&short));
    let output = train(&["--epochs", "5", "--resume", &checkpoint, "--save", &resumed]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(curve(&output.stdout), curve(&long_run.stdout)[3..]);
    assert_eq!(weights(Path::new(&long)), weights(Path::new(&resumed)));
    // Nothing is left to train: the checkpoint's model, no epoch trained.
    let again = train(&["--epochs", "3", "--resume", &checkpoint]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(curve(&again.stdout).is_empty());
}

/// A checkpoint of a 2-epoch tutorial run, in `dir`.
fn tutorial_checkpoint(dir: &Path) -> std::path::PathBuf {
    let checkpoint = dir.join("run.ckpt");
    let output = train(&[
        "--epochs",
        "2",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    checkpoint
}

/// Resumes `checkpoint` with `args`, expecting a refusal with exit `code`
/// whose message says `says`, before the run begins: nothing printed, no
/// model written.
fn assert_resume_refused(checkpoint: &Path, args: &[&str], code: i32, says: &str) {
    let saved = checkpoint.with_extension("st");
    let mut all = vec!["--resume", checkpoint.to_str().unwrap()];
    all.extend(["--save", saved.to_str().unwrap()]);
    all.extend_from_slice(args);
    let output = train(&all);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {message}");
    assert!(message.contains(says), "{args:?}: {message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(output.stdout.is_empty(), "{args:?}: it began the run");
    assert!(!saved.exists(), "{args:?}: a model was written");
}

#[test]
fn a_checkpoint_of_other_settings_or_data_is_refused_naming_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = tutorial_checkpoint(dir.path());
    let name = checkpoint.display().to_string();
    for (args, says) in [
        (&["--lr", "0.2"][..], "lr is 0.1 there and 0.2 here"),
        (&["--seed", "1"][..], "seed is 0 there and 1 here"),
        (
            &["--batch-size", "100"][..],
            "batch_size is 256 there and 100 here",
        ),
        (
            &["--optimizer", "adam"][..],
            "optimizer is sgd there and adam here",
        ),
        (
            &["--validation", "100"][..],
            "validation is 0 there and 100 here",
        ),
        (
            &["--kernel", "gemm"][..],
            "kernel is fused there and gemm here",
        ),
        (&["--epochs", "1"][..], "has trained 2 epochs already"),
    ] {
        assert_resume_refused(&checkpoint, args, 2, &name);
        assert_resume_refused(&checkpoint, args, 2, says);
    }
    // The same settings on other data.
    let other = tempfile::tempdir().unwrap();
    common::write_valid_dataset(other.path(), false);
    let saved = dir.path().join("other.st");
    let output = softreg(&[
        "train",
        "--data",
        other.path().to_str().unwrap(),
        "--resume",
        checkpoint.to_str().unwrap(),
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("data_sha256 is "),
        "{}",
        stderr(&output)
    );
    assert!(!saved.exists());
}

#[test]
fn a_damaged_truncated_or_foreign_checkpoint_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = tutorial_checkpoint(dir.path());
    let bytes = std::fs::read(&checkpoint).unwrap();
    let bad = dir.path().join("bad.ckpt");
    let name = bad.display().to_string();
    // A flipped bit anywhere: in the header's length, its JSON, or the data.
    for at in [0, 3, 9, 40, bytes.len() / 2, bytes.len() - 1] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        std::fs::write(&bad, &damaged).unwrap();
        assert_resume_refused(&bad, &[], 1, &name);
    }
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    std::fs::write(&bad, &damaged).unwrap();
    assert_resume_refused(&bad, &[], 1, "damaged");
    for len in [0, 7, 100, bytes.len() - 1] {
        std::fs::write(&bad, &bytes[..len]).unwrap();
        assert_resume_refused(&bad, &[], 1, "not a checkpoint");
    }
    // A model file is a safetensors file, but not a checkpoint.
    std::fs::write(&bad, common::model_file_with_metadata(10, 784, &[])).unwrap();
    assert_resume_refused(&bad, &[], 1, "not a softreg checkpoint");
    assert_resume_refused(&dir.path().join("absent.ckpt"), &[], 1, "absent.ckpt");
}

#[test]
fn a_run_starts_from_a_saved_model_with_init() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (first, copy, warm, cold) = (path("a.st"), path("b.st"), path("c.st"), path("d.st"));
    let output = train(&["--epochs", "2", "--save", &first]);
    assert!(output.status.success(), "{}", stderr(&output));
    // No epoch: the model to start from, unchanged.
    let output = train(&["--epochs", "0", "--init", &first, "--save", &copy]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(weights(Path::new(&first)), weights(Path::new(&copy)));
    // One epoch from it beats one epoch from the seed's weights.
    let warm_run = train(&["--epochs", "1", "--init", &first, "--save", &warm]);
    let cold_run = train(&["--epochs", "1", "--save", &cold]);
    assert!(warm_run.status.success(), "{}", stderr(&warm_run));
    let loss = |output: &std::process::Output| -> f64 {
        let line = curve(&output.stdout)[0].clone();
        line.split("loss ").nth(1).unwrap()[..6].parse().unwrap()
    };
    assert!(
        loss(&warm_run) < loss(&cold_run) - 0.1,
        "{}",
        curve(&warm_run.stdout)[0]
    );
    let (_, info) = model_file::load(Path::new(&warm)).unwrap();
    let digest = weights(Path::new(&first)).digest();
    assert_eq!(info.training_setting("init_sha256"), Some(digest.as_str()));
    // A model of another shape is refused, naming the flag.
    let small = dir.path().join("small.st");
    std::fs::write(&small, common::model_file_with_metadata(10, 4, &[])).unwrap();
    let output = train(&["--init", small.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--init"), "{}", stderr(&output));
}
