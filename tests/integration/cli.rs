//! The `softreg` binary in normal use, command by command, run as a user
//! would: what each prints and writes. Bad input and flags are in
//! `hostile.rs`, the idx format in `data_loading.rs`.

use crate::common;

use std::fs;

use common::{image_file, label_file, softreg, stderr};

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
        lines[0].contains("5 train / 3 test images of 2x3, 3 classes"),
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
        common::curve(&output.stdout)
    };
    let fused = curve(&[]);
    assert_eq!(fused.len(), 3);
    // The default is byte pixels: f32 pixels and another thread count print the same.
    assert_eq!(curve(&["--pixels", "f32", "--threads", "2"]), fused);
    assert_eq!(curve(&["--kernel", "reference"]).len(), 3);
    assert_eq!(curve(&["--isa", "scalar"]).len(), 3);
    let bad = softreg(&["train", "--kernel", "gpu"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--kernel"), "{}", stderr(&bad));
}

#[test]
fn bench_prints_peak_and_a_row_per_kernel() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let bench = ["bench", "--data", data, "--epochs", "1", "--threads", "1"];
    let tiny_peak = ["--peak-lane-fmas", "1000000"];
    let output = softreg(&[&bench[..], &tiny_peak].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("f32 FMA peak ("), "{stdout}");
    assert!(stdout.contains("\nplan: "), "{stdout}");
    assert!(stdout.contains("candidate plans"), "{stdout}");
    for kernel in [
        "fused      u8",
        "fused      f32",
        "gemm       f32",
        "reference  f32",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(kernel))
            .unwrap_or_else(|| panic!("{stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[2], "1", "{row}");
        let samples_per_s: f64 = fields[3].parse().unwrap();
        let percent: f64 = fields[6].trim_end_matches('%').parse().unwrap();
        // Measured figures: their format is checked, never their size.
        assert!(samples_per_s.is_finite() && percent.is_finite(), "{row}");
    }
    assert!(stdout.contains("fused / gemm: "), "{stdout}");
    assert!(stdout.contains("sweep, u8 pixels, 1 thread ("), "{stdout}");
    for models in ["1", "8", "40"] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(models))
            .unwrap_or_else(|| panic!("no sweep row for {models} models: {stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert!(fields[1].parse::<f64>().unwrap().is_finite(), "{row}");
        assert!(fields[4].ends_with('%'), "{row}");
    }
    assert!(
        stdout.contains("fused kernel alone (f32 rows in cache"),
        "{stdout}"
    );

    let output = softreg(&[&bench[..], &tiny_peak, &["--json"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["threads"], 1);
    assert_eq!(json["training"].as_array().unwrap().len(), 4, "{json}");
    assert_eq!(json["training"][3]["kernel"], "reference", "{json}");
    assert!(json["training"][0]["of_peak"].is_f64(), "{json}");
    let row = &json["training"][0];
    let (min, median, max) = (
        row["samples_per_s_min"].as_f64().unwrap(),
        row["samples_per_s"].as_f64().unwrap(),
        row["samples_per_s_max"].as_f64().unwrap(),
    );
    assert!(min <= median && median <= max, "{row}");
    assert!(json["busy"].is_boolean(), "{json}");
    assert_eq!(json["sweep"][2]["models"], 40, "{json}");
}

/// `bench --features D --classes K` measures both kernels on random features
/// of that shape beside sgemm, names the kernel `auto` picks, and refuses a
/// half-given or impossible shape.
#[test]
fn bench_measures_any_shape_beside_sgemm() {
    let shape = [
        "bench",
        "--features",
        "30",
        "--classes",
        "7",
        "--epochs",
        "1",
    ];
    let quick = ["--threads", "1", "--peak-lane-fmas", "1000000"];
    let output = softreg(&[&shape[..], &quick].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("30 features, 7 classes") && stdout.contains("--kernel auto runs fused"),
        "{stdout}"
    );
    assert!(stdout.contains("\nsgemm (matrixmultiply)"), "{stdout}");
    for kernel in ["fused", "gemm"] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kernel))
            .unwrap_or_else(|| panic!("{stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[1], "1", "{row}");
        // Measured figures: their format is checked, never their size.
        assert!(fields[6].ends_with('x'), "{row}");
        assert!(fields[2].parse::<f64>().unwrap().is_finite(), "{row}");
    }
    let output = softreg(&[&shape[..], &quick, &["--json"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (json["features"].as_u64(), json["classes"].as_u64()),
        (Some(30), Some(7))
    );
    assert_eq!(json["training"].as_array().unwrap().len(), 2, "{json}");
    assert!(json["training"][1]["of_sgemm"].is_f64(), "{json}");
    assert!(json["sgemm_gflops"].is_f64(), "{json}");

    for (args, named) in [
        (&["bench", "--features", "30"][..], "--classes"),
        (
            &["bench", "--features", "0", "--classes", "3"][..],
            "--features",
        ),
        (
            &["bench", "--features", "9", "--classes", "3", "--data", "x"][..],
            "--data",
        ),
        (
            &["bench", "--features", "100000", "--classes", "3"][..],
            "--features",
        ),
    ] {
        let refused = softreg(args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&refused).contains(named),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
}

#[test]
fn a_saved_model_evaluates_to_the_accuracy_train_printed() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let model = dir.path().join("model.safetensors");
    let model = model.to_str().unwrap();
    let trained = softreg(&[
        "train",
        "--data",
        data,
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--save",
        model,
    ]);
    assert!(trained.status.success(), "{}", stderr(&trained));
    let stdout = String::from_utf8(trained.stdout).unwrap();
    let final_acc = stdout
        .lines()
        .find_map(|l| l.split("final test acc ").nth(1))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    assert!(stdout.contains("model saved to"), "{stdout}");

    let eval = softreg(&["eval", "--model", model, "--data", data]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let report = String::from_utf8(eval.stdout).unwrap();
    assert!(
        report.contains(&format!("test acc {final_acc} (3 images)")),
        "{report}"
    );
    // Classes from the data (labels 0 to 2), named by number: the data is not
    // Fashion-MNIST.
    assert!(
        report.contains("\n2 ")
            && !report.contains("Ankle boot")
            && report.contains("confusion matrix"),
        "{report}"
    );

    let json = softreg(&["eval", "--model", model, "--data", data, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["type"], "metrics");
    assert_eq!(
        format!("{:.3}", value["test_acc"].as_f64().unwrap()),
        final_acc
    );
    assert_eq!(value["confusion"].as_array().unwrap().len(), 3);
    assert_eq!(value["classes"][2]["name"], "2");
}

#[test]
fn train_json_prints_one_object_per_epoch_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let output = softreg(&["train", "--data", data, "--epochs", "2", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let header = &lines[0];
    assert_eq!(header["type"], "header");
    assert_eq!(header["train"], 5);
    assert_eq!(header["settings"]["lr"], 0.1, "the decimal given: {header}");
    assert_eq!(header["settings"]["epochs"], 2, "a number: {header}");
    for (i, epoch) in lines[1..3].iter().enumerate() {
        assert_eq!(epoch["type"], "epoch");
        assert_eq!(epoch["epoch"], i + 1);
        assert_eq!(epoch["lr"], 0.1, "the decimal given: {epoch}");
        for field in ["loss", "train_acc", "test_acc", "seconds", "samples_per_s"] {
            assert!(epoch[field].is_number(), "{field} in {epoch}");
        }
    }
    assert_eq!(lines[3]["type"], "summary");
    assert_eq!(lines[3]["epochs"], 2);
}

#[test]
fn info_recognises_the_bundled_files_and_not_others() {
    let bundled = common::fashion_mnist_dir();
    let output = softreg(&["info", "--data", bundled.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        report.matches("canonical Fashion-MNIST").count(),
        4,
        "{report}"
    );
    assert!(
        report.contains("train: 60000 images, test: 10000 images, 28x28 pixels"),
        "{report}"
    );
    let boots = report
        .lines()
        .find(|l| l.trim_start().starts_with("9 Ankle boot"))
        .unwrap();
    assert!(boots.ends_with("6000 /   1000"), "{report}");
    assert!(report.contains("Fashion-MNIST: yes"), "{report}");
    let output = softreg(&["info", "--data", bundled.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["fashion_mnist"], true, "{json}");
    assert_eq!(json["train"]["images"], 60_000, "{json}");
    assert_eq!(json["test"]["class_counts"][9], 1_000, "{json}");
    assert_eq!(json["files"].as_array().unwrap().len(), 4, "{json}");

    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), true);
    let output = softreg(&["info", "--data", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("train: 5 images, test: 3 images, 2x3 pixels"),
        "{report}"
    );
    assert!(report.contains("Fashion-MNIST: no"), "{report}");
}

#[test]
fn train_plot_writes_a_png_of_the_curves() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let plot = dir.path().join("curves.png");
    let data = dir.path().to_str().unwrap();
    let output = softreg(&[
        "train",
        "--data",
        data,
        "--epochs",
        "4",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let image = image::open(&plot).unwrap().to_rgb8();
    assert!(image.width() > 800 && image.height() > 300);
    // All three series are drawn in their colours.
    for colour in [
        softreg::app::figures::curves::LOSS,
        softreg::app::figures::curves::TRAIN_ACC,
        softreg::app::figures::curves::TEST_ACC,
    ] {
        let pixels = image.pixels().filter(|p| p.0 == colour).count();
        assert!(pixels > 50, "{colour:?}: {pixels} pixels");
    }
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
fn optimizer_settings_are_saved_and_zero_epochs_save_the_initial_model() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let model = dir.path().join("adam.safetensors");
    let output = softreg(&[
        "train",
        "--data",
        data,
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--weight-decay",
        "0.001",
        "--epochs",
        "1",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("optimizer adam beta1 0.9"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let (_, info) = softreg::model_file::load(&model).unwrap();
    for (key, value) in [
        ("optimizer", "adam"),
        ("beta2", "0.999"),
        ("weight_decay", "0.001"),
    ] {
        assert!(
            info.training
                .contains(&(key.to_string(), value.to_string())),
            "{key} in {:?}",
            info.training
        );
    }

    // Zero epochs: the initial weights, to start another framework from.
    let initial = dir.path().join("initial.safetensors");
    let output = softreg(&[
        "train",
        "--data",
        data,
        "--epochs",
        "0",
        "--seed",
        "7",
        "--classes",
        "10",
        "--save",
        initial.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (saved, _) = softreg::model_file::load(&initial).unwrap();
    let expected = softreg::model::Model::init(6, 10, &mut softreg::random::SeededRng::new(7));
    assert_eq!(saved, expected);

    // Flags of the other optimizer, and Nesterov without momentum, are refused.
    for flags in [
        &["--optimizer", "adam", "--momentum", "0.9"][..],
        &["--beta1", "0.8"][..],
        &["--nesterov"][..],
    ] {
        let mut args = vec!["train", "--data", data];
        args.extend_from_slice(flags);
        let output = softreg(&args);
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let err = stderr(&output);
        assert!(
            err.contains("--") || err.contains("momentum"),
            "{flags:?}: {err}"
        );
    }
}

#[test]
fn validation_is_reported_in_text_and_json_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let text = softreg(&[
        "train",
        "--data",
        data,
        "--epochs",
        "2",
        "--validation",
        "2",
    ]);
    assert!(text.status.success(), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("3 train + 2 validation / 3 test images"),
        "{stdout}"
    );
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 2, "{stdout}");
    assert!(
        epoch_lines.iter().all(|l| l.contains(", val acc ")),
        "{stdout}"
    );
    assert!(stdout.contains("\nbest epoch "), "{stdout}");
    for (flags, expect_val) in [(&["--validation", "2"][..], true), (&[][..], false)] {
        let mut args = vec!["train", "--data", data, "--epochs", "1", "--json"];
        args.extend_from_slice(flags);
        let output = softreg(&args);
        let first = String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let epoch: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(epoch.get("val_acc").is_some(), expect_val, "{first}");
        assert_eq!(epoch.get("val_loss").is_some(), expect_val, "{first}");
    }
}

#[test]
fn sweep_prints_a_ranked_table_draws_and_saves_the_best_model() {
    let dir = tempfile::tempdir().unwrap();
    let (plot, best) = (dir.path().join("sweep.png"), dir.path().join("best.st"));
    let data = common::fashion_mnist_dir();
    let output = softreg(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--lr",
        "0.03,0.3",
        "--momentum",
        "0,0.5",
        "--seeds",
        "4-5",
        "--epochs",
        "2",
        "--plot",
        plot.to_str().unwrap(),
        "--save-best",
        best.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("50000 train + 10000 validation")
            && lines[0].contains("8 models (2 lr x 2 momentum x 2 seeds)"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("epoch 1: 8 models, 0 diverged; best val acc "));
    assert!(lines[2].starts_with("epoch 2: "));
    assert!(lines[3].starts_with(
        "8 models, 4 configurations ranked by their best epoch's validation accuracy"
    ));
    assert!(lines[4].starts_with("rank  optimizer"));
    let val_acc = |row: &str| {
        row.split_whitespace()
            .nth(5)
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let ranked: Vec<f64> = lines[5..9].iter().map(|row| val_acc(row)).collect();
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{stdout}");
    assert!(
        lines[5..9].iter().all(|row| row.ends_with("0/2")),
        "{stdout}"
    );
    assert!(lines[9].starts_with("best model: sgd lr "), "{stdout}");
    assert!(lines[10].starts_with("trained 8 models in "), "{stdout}");
    assert!(fs::metadata(&plot).unwrap().len() > 1000);
    let (model, info) = softreg::model_file::load(&best).unwrap();
    assert!(model.is_finite());
    let setting = |key| info.training_setting(key).unwrap();
    assert!(setting("selected_by").contains("8-model sweep"));
    assert!(["0.03", "0.3"].contains(&setting("lr")));
    assert!(["4", "5"].contains(&setting("seed")));
    assert_eq!(setting("optimizer"), "sgd");
}

#[test]
fn sweep_json_prints_one_object_per_model_and_a_summary_naming_the_best() {
    let data = common::fashion_mnist_dir();
    let output = softreg(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.01,1e30",
        "--weight-decay",
        "0,0.001",
        "--epochs",
        "1",
        "--validation",
        "5000",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1 + 8 + 1);
    assert_eq!(lines[0]["type"], "header");
    let (models, summary) = (&lines[1..9], &lines[9]);
    for m in models {
        for key in [
            "optimizer",
            "lr",
            "momentum",
            "nesterov",
            "weight_decay",
            "seed",
            "loss",
            "val_acc",
            "test_acc",
            "test_loss",
            "diverged",
        ] {
            assert!(m.get(key).is_some(), "{key} in {m}");
        }
        let diverged = !m["diverged"].is_null();
        assert_eq!(diverged, m["val_acc"].is_null(), "{m}");
        if diverged {
            assert_eq!(m["diverged"]["epoch"], 1, "{m}");
            let cause = m["diverged"]["cause"].as_str().unwrap();
            assert!(["loss", "weight", "run-away loss"].contains(&cause), "{m}");
        }
        if m["lr"] == 0.01 {
            assert!(!diverged, "{m}");
            assert!(m["test_acc"].as_f64().unwrap() > 0.6, "{m}");
        }
    }
    assert_eq!(models[0]["lr"], 0.01);
    assert_eq!(models[1]["weight_decay"], 0.001);
    assert!(models[4]["momentum"].is_null(), "Adam has no momentum");
    assert_eq!(summary["type"], "summary");
    assert!(models.iter().all(|m| m["type"] == "model"));
    assert_eq!(summary["models"], 8);
    assert!(summary["seconds"].as_f64().unwrap() > 0.0);
    assert!(summary["model_samples_per_s"].as_f64().unwrap() > 0.0);
    let top = models
        .iter()
        .filter_map(|m| m["val_acc"].as_f64())
        .fold(0.0, f64::max);
    assert_eq!(summary["best"]["val_acc"].as_f64(), Some(top));
}

/// `tune` times the candidate plans and saves the chosen one in the cache
/// directory; `train` then names it in its header; `--plan` and
/// `SOFTREG_PLAN` override it, and bad ones are flag errors naming
/// themselves; a damaged saved plan is passed over with a warning.
#[test]
fn tune_saves_a_plan_train_uses_and_plan_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    common::write_valid_dataset(dir.path(), false);
    let data = dir.path().to_str().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str], plan: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_softreg"));
        command
            .args(args)
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("SOFTREG_PLAN");
        if let Some(plan) = plan {
            command.env("SOFTREG_PLAN", plan);
        }
        command.output().unwrap()
    };
    let tuned = run(&["tune", "--data", data, "--rounds", "1", "--json"], None);
    assert!(tuned.status.success(), "{}", stderr(&tuned));
    let json: serde_json::Value = serde_json::from_slice(&tuned.stdout).unwrap();
    let chosen = json["chosen"].as_str().unwrap().to_string();
    let candidates = json["candidates"].as_array().unwrap();
    assert!(
        candidates.iter().any(|c| c["plan"] == chosen.as_str()),
        "{json}"
    );
    let saved = std::path::PathBuf::from(json["saved_to"].as_str().unwrap());
    assert!(saved.starts_with(cache.path().join("softreg")), "{json}");
    assert!(saved.is_file());

    let header = |output: &std::process::Output| {
        assert!(output.status.success(), "{}", stderr(output));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        stdout.lines().next().unwrap_or_default().to_string()
    };
    let train = ["train", "--data", data, "--epochs", "1"];
    assert!(header(&run(&train, None)).contains(&format!("({chosen})")));
    let flagged = [&train[..], &["--plan", "narrow,block=all,prefetch=3"]].concat();
    let line = header(&run(&flagged, Some("wide,block=2K,prefetch=5")));
    assert!(line.contains("(narrow,block=all,prefetch=3)"), "{line}");
    let line = header(&run(&train, Some("wide,block=2K,prefetch=5")));
    assert!(line.contains("(wide,block=2K,prefetch=5)"), "{line}");

    let bad_flag = run(
        &[&train[..], &["--plan", "wide,block=1,prefetch=5"]].concat(),
        None,
    );
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(
        stderr(&bad_flag).contains("--plan"),
        "{}",
        stderr(&bad_flag)
    );
    let bad_variable = run(&train, Some("square"));
    assert_eq!(bad_variable.status.code(), Some(2));
    assert!(
        stderr(&bad_variable).contains("SOFTREG_PLAN"),
        "{}",
        stderr(&bad_variable)
    );

    std::fs::write(&saved, "{\"plan\": 3}").unwrap();
    let damaged = run(&train, None);
    assert!(damaged.status.success(), "{}", stderr(&damaged));
    assert!(stderr(&damaged).contains("warning"), "{}", stderr(&damaged));
    assert!(stderr(&damaged).contains(saved.to_str().unwrap()));
}

/// `--patience` stops a validated run, `--save` keeps the best epoch and says
/// which, and the JSON summary carries the settings and the best epoch.
#[test]
fn train_with_patience_saves_the_best_epoch_and_the_summary_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("best.st");
    let data = common::fashion_mnist_dir();
    let args = |json: bool| {
        let mut args = vec![
            "train",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "30",
            "--validation",
            "10000",
            "--patience",
            "1",
            "--save",
            saved.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        softreg(&args)
    };
    let output = args(true);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (epochs, summary) = lines[1..].split_at(lines.len() - 2);
    let summary = &summary[0];
    assert_eq!(summary["stopped_early"], true, "{stdout}");
    assert_eq!(summary["epochs"], epochs.len());
    let best = summary["best_epoch"].as_u64().unwrap() as usize;
    assert_eq!(epochs.len(), best + 1, "{stdout}");
    assert_eq!(summary["best_val_acc"], epochs[best - 1]["val_acc"]);
    assert_eq!(summary["best_test_acc"], epochs[best - 1]["test_acc"]);
    let settings = &summary["settings"];
    for (key, value) in [
        ("epochs", serde_json::json!(30)),
        ("validation", serde_json::json!(10000)),
        ("patience", serde_json::json!(1)),
        ("lr", serde_json::json!(0.1)),
        ("optimizer", serde_json::json!("sgd")),
        ("batch_size", serde_json::json!(256)),
        ("seed", serde_json::json!(0)),
    ] {
        assert_eq!(settings[key], value, "{key}: {stdout}");
    }
    let (_, info) = softreg::model_file::load(&saved).unwrap();
    assert_eq!(
        info.training_setting("epoch"),
        Some(best.to_string().as_str())
    );
    assert_eq!(info.training_setting("patience"), Some("1"));

    let text = args(false);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!("best epoch {best}, val acc ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("(epoch {best}, the best by validation accuracy)")),
        "{text}"
    );
}

/// `sweep --save-best` saves the best model's best epoch, as its JSON says.
#[test]
fn sweep_save_best_saves_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("best.st");
    let data = common::fashion_mnist_dir();
    let output = softreg(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--lr",
        "0.3,3",
        "--epochs",
        "3",
        "--json",
        "--save-best",
        saved.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let best = &summary["best"];
    assert_eq!(best["epochs_trained"], 3, "{stdout}");
    let epoch = best["epoch"].as_u64().unwrap();
    assert!((1..=3).contains(&epoch), "{stdout}");
    let (_, info) = softreg::model_file::load(&saved).unwrap();
    assert_eq!(
        info.training_setting("epoch"),
        Some(epoch.to_string().as_str())
    );
    assert_eq!(
        info.training_setting("val_acc"),
        Some(best["val_acc"].to_string().as_str())
    );
}
