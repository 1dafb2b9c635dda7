//! What the file system can do to softreg: writers killed or refused midway,
//! unreadable files, read-only directories, files replaced or changed under it.
//! Each case has a defined outcome: the previous file intact, or a fallback, or
//! a clear error naming the file.
#![cfg(target_os = "linux")]

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::{image_file, label_file, listing, softreg, stderr, write_valid_dataset};
use softreg::data::{Dataset, Row};

const IMAGES: &str = "train-images-idx3-ubyte";

/// Writes a data set of 28x28 images whose train image file (50 KB raw, 64
/// images) is far larger than the file size limit the tests below set.
fn write_dataset(dir: &Path, gz: bool) {
    let labels: Vec<u8> = (0..64).map(|i| (i % 10) as u8).collect();
    let files = [
        image_file(64, 28, 28),
        label_file(&labels),
        image_file(10, 28, 28),
        label_file(&labels[..10]),
    ];
    common::write_dataset(dir, files, gz);
}

/// The epoch lines of a training run, without their timings.
fn curve(output: &Output) -> Vec<String> {
    common::curve(&output.stdout)
}

/// How a child process meets the file size limit: `SIGXFSZ` ignored makes a
/// write past the limit fail with `EFBIG`; its default action kills the process.
#[derive(Clone, Copy)]
enum AtTheLimit {
    WriteFails,
    Killed,
}

/// Runs softreg with `args` under a file size limit of 8 blocks.
fn softreg_with_file_size_limit(at_the_limit: AtTheLimit, args: &[&str]) -> Output {
    let trap = match at_the_limit {
        AtTheLimit::WriteFails => "trap '' XFSZ;",
        AtTheLimit::Killed => "",
    };
    // `ulimit -f` counts 512-byte blocks in dash and 1024-byte blocks in bash:
    // either way far below the files written here.
    Command::new("sh")
        .arg("-c")
        .arg(format!("{trap} ulimit -f 8 && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_softreg"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_model_save_that_fails_midway_leaves_the_previous_model_intact() {
    let data = tempfile::tempdir().unwrap();
    write_dataset(data.path(), false);
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.safetensors");
    let (data_arg, model_arg) = (data.path().to_str().unwrap(), model.to_str().unwrap());
    let train = |seed: &'static str| {
        [
            "train", "--data", data_arg, "--epochs", "1", "--seed", seed, "--save", model_arg,
        ]
    };
    assert!(softreg(&train("1")).status.success());
    let before = fs::read(&model).unwrap();
    assert!(before.len() > 16 * 1024, "the model must exceed the limit");

    let failed = softreg_with_file_size_limit(AtTheLimit::WriteFails, &train("2"));
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(
        message.contains(model_arg) && message.contains("File too large"),
        "{message}"
    );
    assert_eq!(fs::read(&model).unwrap(), before);
    assert_eq!(
        listing(out.path()),
        ["model.safetensors"],
        "no temporary file left"
    );

    let killed = softreg_with_file_size_limit(AtTheLimit::Killed, &train("3"));
    assert_eq!(killed.status.signal(), Some(25), "killed by SIGXFSZ");
    assert_eq!(fs::read(&model).unwrap(), before);
}

#[test]
fn a_picture_write_that_fails_midway_leaves_the_previous_picture_intact() {
    let data = tempfile::tempdir().unwrap();
    write_dataset(data.path(), false);
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.safetensors");
    let picture = out.path().join("predictions.png");
    let (data_arg, model_arg) = (data.path().to_str().unwrap(), model.to_str().unwrap());
    let train = [
        "train", "--data", data_arg, "--epochs", "1", "--save", model_arg,
    ];
    assert!(softreg(&train).status.success());
    let predict = |count: &'static str| {
        [
            "predict",
            "--model",
            model_arg,
            "--data",
            data_arg,
            "--count",
            count,
            "--plot",
            picture.to_str().unwrap(),
        ]
    };
    assert!(softreg(&predict("9")).status.success());
    let before = fs::read(&picture).unwrap();
    assert!(before.len() > 8 * 1024, "the picture must exceed the limit");

    let failed = softreg_with_file_size_limit(AtTheLimit::WriteFails, &predict("10"));
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        stderr(&failed).contains("predictions.png"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(fs::read(&picture).unwrap(), before);
    assert_eq!(
        listing(out.path()),
        ["model.safetensors", "predictions.png"]
    );

    let killed = softreg_with_file_size_limit(AtTheLimit::Killed, &predict("10"));
    assert_eq!(killed.status.signal(), Some(25), "killed by SIGXFSZ");
    assert_eq!(fs::read(&picture).unwrap(), before);
}

#[test]
fn a_cache_that_cannot_be_written_falls_back_to_memory() {
    let raw = tempfile::tempdir().unwrap();
    write_dataset(raw.path(), false);
    let gz = tempfile::tempdir().unwrap();
    write_dataset(gz.path(), true);
    let train = |dir: &Path, limit: Option<AtTheLimit>| {
        let args = ["train", "--epochs", "2", "--data", dir.to_str().unwrap()];
        let output = match limit {
            Some(limit) => softreg_with_file_size_limit(limit, &args),
            None => softreg(&args),
        };
        assert!(output.status.success(), "{}", stderr(&output));
        curve(&output)
    };
    let expected = train(raw.path(), None);
    assert_eq!(expected.len(), 2);

    assert_eq!(train(gz.path(), Some(AtTheLimit::WriteFails)), expected);
    assert!(
        listing(gz.path())
            .iter()
            .all(|n| n != IMAGES && !n.starts_with('.')),
        "no image cache and no temporary file: {:?}",
        listing(gz.path())
    );

    assert_eq!(train(gz.path(), None), expected);
    assert!(listing(gz.path()).iter().any(|n| n == IMAGES));
}

#[test]
fn a_cache_writer_killed_midway_leaves_no_cache_and_the_next_run_works() {
    let gz = tempfile::tempdir().unwrap();
    write_dataset(gz.path(), true);
    let args = [
        "train",
        "--epochs",
        "1",
        "--data",
        gz.path().to_str().unwrap(),
    ];
    let killed = softreg_with_file_size_limit(AtTheLimit::Killed, &args);
    assert_eq!(killed.status.signal(), Some(25), "killed by SIGXFSZ");
    assert!(
        !gz.path().join(IMAGES).exists(),
        "a half-written cache must never take the cache's name"
    );
    let next = softreg(&args);
    assert!(next.status.success(), "{}", stderr(&next));
    let cached = fs::read(gz.path().join(IMAGES)).unwrap();
    assert_eq!(cached, image_file(64, 28, 28));
}

#[test]
fn a_cache_older_than_its_gz_is_decompressed_again() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), true);
    let raw = dir.path().join(IMAGES);
    let mut stale = image_file(5, 2, 3);
    for pixel in &mut stale[16..] {
        *pixel ^= 0xff;
    }
    fs::write(&raw, &stale).unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&raw)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();

    let data = Dataset::load_as(dir.path(), Some(10), softreg::data::PixelFormat::U8).unwrap();
    let Row::U8(first) = data.train.images.row(0) else {
        panic!("u8 pixels asked for");
    };
    assert_eq!(first, &image_file(5, 2, 3)[16..22], "the .gz's pixels");
    assert_eq!(
        fs::read(&raw).unwrap(),
        image_file(5, 2, 3),
        "cache rewritten"
    );
}

#[test]
fn a_gz_dated_in_the_future_is_decompressed_once() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), true);
    let gz = dir.path().join(format!("{IMAGES}.gz"));
    let tomorrow = SystemTime::now() + Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(&gz)
        .unwrap()
        .set_modified(tomorrow)
        .unwrap();
    let raw = dir.path().join(IMAGES);
    let first = Dataset::load(dir.path(), Some(10)).unwrap();
    let cache = fs::metadata(&raw).unwrap();
    assert_eq!(
        cache.modified().unwrap(),
        tomorrow,
        "the copy has its source's date"
    );
    let second = Dataset::load(dir.path(), Some(10)).unwrap();
    assert_eq!(second, first);
    assert_eq!(
        fs::metadata(&raw).unwrap().ino(),
        cache.ino(),
        "the cache was reused, not written again"
    );
}

#[test]
fn files_changed_after_loading_do_not_change_the_loaded_data() {
    let dir = tempfile::tempdir().unwrap();
    write_valid_dataset(dir.path(), false);
    let data = Dataset::load(dir.path(), Some(10)).unwrap();
    let pixels = data.train.images.f32_pixels().unwrap().to_vec();
    let labels = data.train.labels.clone();

    fs::write(dir.path().join(IMAGES), vec![0xff; 8]).unwrap();
    fs::File::options()
        .write(true)
        .open(dir.path().join("train-labels-idx1-ubyte"))
        .unwrap()
        .set_len(0)
        .unwrap();
    for name in listing(dir.path()) {
        fs::remove_file(dir.path().join(name)).unwrap();
    }

    assert_eq!(data.train.images.f32_pixels().unwrap(), &pixels[..]);
    assert_eq!(data.train.labels, labels);
}

/// A copy of the softreg binary that any user may run, and a directory for
/// test files that any user may enter.
struct Unprivileged {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Unprivileged {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.path().join("softreg");
        fs::copy(env!("CARGO_BIN_EXE_softreg"), &binary).unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir, binary }
    }

    /// A directory inside this one holding the small valid data set, raw or
    /// gzipped, with permissions `mode`.
    fn data_dir(&self, gz: bool, mode: u32) -> PathBuf {
        let data = self.dir.path().join("data");
        fs::create_dir(&data).unwrap();
        write_valid_dataset(&data, gz);
        fs::set_permissions(&data, fs::Permissions::from_mode(mode)).unwrap();
        data
    }

    /// Runs softreg as a user without root's right to ignore permissions: as
    /// `nobody` through `setpriv` when the tests run as root, as the current
    /// user otherwise.
    fn softreg(&self, args: &[&str]) -> Output {
        let uid = Command::new("id").arg("-u").output().unwrap();
        let mut command = if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            c.arg(&self.binary);
            c
        } else {
            Command::new(&self.binary)
        };
        command
            .args(args)
            .output()
            .expect("running as root, these tests need setpriv (util-linux) to drop root")
    }
}

#[test]
fn an_unreadable_file_is_a_clear_error_naming_it() {
    let user = Unprivileged::new();
    let data = user.data_dir(false, 0o755);
    let unreadable = data.join(IMAGES);
    fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000)).unwrap();

    let output = user.softreg(&["train", "--epochs", "1", "--data", data.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(unreadable.to_str().unwrap()) && message.contains("Permission denied"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn a_read_only_data_directory_is_decompressed_in_memory() {
    let user = Unprivileged::new();
    let data = user.data_dir(true, 0o555);
    let before = listing(&data);

    let output = user.softreg(&["train", "--epochs", "1", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(curve(&output).len(), 1);
    assert_eq!(listing(&data), before, "nothing written");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
}
