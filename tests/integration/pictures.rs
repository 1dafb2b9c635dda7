//! The predictions figure, the terminal view and classifying the user's pictures.

use crate::common;

use std::fs;

use common::softreg;

use softreg::app::figures::predictions::{self, CORRECT, GridLayout, WRONG};
use softreg::data::{Dataset, Images, Split};
use softreg::model_file::{self, ModelInfo};
use softreg::train::{Param, RunConfig, TrainConfig, train};

fn names() -> Vec<String> {
    softreg::data::fashion_mnist::CLASS_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Pixels of `colour` inside the rectangle.
fn count_colour(image: &image::RgbImage, rect: (u32, u32, u32, u32), colour: [u8; 3]) -> usize {
    let (x, y, w, h) = rect;
    (y..y + h)
        .flat_map(|py| (x..x + w).map(move |px| (px, py)))
        .filter(|&(px, py)| image.get_pixel(px, py).0 == colour)
        .count()
}

#[test]
fn wrong_predictions_are_drawn_in_the_wrong_colour() {
    let pixels: Vec<f32> = (0..4 * 28 * 28).map(|i| (i % 7) as f32 / 7.0).collect();
    let split = Split {
        images: Images::from_f32(28, 28, &pixels),
        labels: vec![9, 2, 2, 5],
    };
    let predicted = [9, 0, 2, 7];
    let (canvas, layout) = predictions::figure(&split, &predicted, &names());
    let image = canvas.image();
    assert_eq!(
        (image.width(), image.height()),
        (2 * layout.cell.0, 2 * layout.cell.1)
    );
    for (k, right) in [(0, true), (1, false), (2, true), (3, false)] {
        let rect = layout.predicted_label(k);
        let (good, bad) = (
            count_colour(image, rect, CORRECT),
            count_colour(image, rect, WRONG),
        );
        if right {
            assert!(
                good > 20 && bad == 0,
                "cell {k}: {good} correct, {bad} wrong pixels"
            );
        } else {
            assert!(
                bad > 20 && good == 0,
                "cell {k}: {good} correct, {bad} wrong pixels"
            );
        }
    }
    let text = predictions::terminal(&split, &predicted, &names(), true);
    assert_eq!(
        text.matches('\u{2580}').count(),
        4 * 14 * 28,
        "two pixels per half block"
    );
    assert!(text.contains("Ankle boot") && text.contains("Sneaker"));
    let plain = predictions::terminal(&split, &predicted, &names(), false);
    assert!(!plain.contains('\u{1b}'), "no escapes without colour");
    assert_eq!(plain.matches("x ").count(), 2, "the two wrong ones marked");
    assert!(plain.contains("Ankle boot") && plain.contains("Sneaker"));
}

/// A model trained for one epoch on the bundled data, saved in `dir`.
fn trained_model(dir: &std::path::Path, data: &Dataset) -> std::path::PathBuf {
    let config = TrainConfig {
        run: RunConfig {
            epochs: 1,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let trained = train(data, &config, |_| {}).unwrap();
    let path = dir.join("model.safetensors");
    model_file::save(&path, &trained.model, &ModelInfo::fashion_mnist((28, 28))).unwrap();
    path
}

#[test]
fn predict_writes_the_grid_and_classifies_pictures_like_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::load(&common::fashion_mnist_dir(), Some(10)).unwrap();
    let model_path = trained_model(dir.path(), &data);
    let model = model_path.to_str().unwrap();
    let data_dir = common::fashion_mnist_dir();
    let data_arg = data_dir.to_str().unwrap();

    let out = dir.path().join("predictions.png");
    let output = softreg(&[
        "predict",
        "--model",
        model,
        "--data",
        data_arg,
        "--plot",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = image::open(&out).unwrap();
    let layout = GridLayout::new(9, (28, 28), "Ankle boot".len().max("T-shirt/top".len()));
    assert_eq!(
        (png.width(), png.height()),
        (3 * layout.cell.0, 3 * layout.cell.1)
    );

    let (loaded, _) = model_file::load(&model_path).unwrap();
    let expected = predictions::predict_first(&loaded, data.test.as_ref().unwrap(), 3);
    for (k, &guess) in expected.iter().enumerate() {
        let row = data.test.as_ref().unwrap().images.row_f32(k);
        let bytes: Vec<u8> = row.iter().map(|&v| (v * 255.0).round() as u8).collect();
        let dark = dir.path().join(format!("item{k}.png"));
        image::GrayImage::from_raw(28, 28, bytes.clone())
            .unwrap()
            .save(&dark)
            .unwrap();
        // The same picture on a white ground, upscaled and in colour, as a user's
        // photo would be: it is inverted and resized back.
        let light = dir.path().join(format!("item{k}-light.jpg"));
        let inverted =
            image::GrayImage::from_raw(28, 28, bytes.iter().map(|b| 255 - b).collect()).unwrap();
        let big =
            image::imageops::resize(&inverted, 112, 112, image::imageops::FilterType::Nearest);
        image::DynamicImage::ImageLuma8(big)
            .to_rgb8()
            .save(&light)
            .unwrap();

        let name = &softreg::data::fashion_mnist::CLASS_NAMES[guess];
        let output = softreg(&[
            "predict",
            "--model",
            model,
            "--image",
            dark.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let top = stdout.split(": ").nth(1).unwrap();
        assert!(
            top.starts_with(name),
            "image {k}: {stdout} (expected {name})"
        );
        assert_eq!(top.matches('%').count(), 3, "{stdout}");

        let output = softreg(&[
            "predict",
            "--model",
            model,
            "--image",
            light.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("(inverted)"), "{stdout}");
    }

    // The same predictions as JSON, one object per image; a JPEG figure is
    // JPEG bytes under its JPEG name.
    let jpeg = dir.path().join("predictions.jpg");
    let output = softreg(&[
        "predict",
        "--model",
        model,
        "--data",
        data_arg,
        "--count",
        "3",
        "--json",
        "--plot",
        jpeg.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (k, line) in lines.iter().enumerate() {
        assert_eq!(line["predicted"], expected[k], "{line}");
        assert_eq!(
            line["label"],
            data.test.as_ref().unwrap().labels[k],
            "{line}"
        );
    }
    assert_eq!(
        &fs::read(&jpeg).unwrap()[..2],
        [0xff, 0xd8],
        "a JPEG's first bytes"
    );

    let output = softreg(&["predict", "--model", model, "--image", "/nonexistent.png"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent.png"));
}

/// The sweep figure: the best configuration's curve in the first line colour,
/// and the heat map's cells shaded from the lowest (white) to the highest
/// (strong blue) validation accuracy.
#[test]
fn the_sweep_figure_draws_the_best_curve_and_shades_the_map() {
    use softreg::app::figures::sweep::{LINES, draw, shade};
    use softreg::eval::Evaluation;
    use softreg::model::Model;
    use softreg::random::SeededRng;
    use softreg::train::{Grid, ModelEpoch, ModelRun, RunOutcome};
    let grid = Grid {
        learning_rates: vec![0.1, 1.0],
        params: vec![(
            "weight_decay",
            vec![Param::Number(0.0), Param::Number(1e-4)],
        )],
        ..Grid::default()
    };
    let models: Vec<ModelRun> = grid
        .settings()
        .into_iter()
        .enumerate()
        .map(|(i, setting)| ModelRun {
            setting,
            model: Model::init(4, 10, &mut SeededRng::new(0)),
            epochs: (0..3)
                .map(|e| ModelEpoch {
                    loss: 1.0,
                    train_acc: 0.5,
                    learning_rate: 0.1,
                    validation: Some(Evaluation {
                        loss: 1.0,
                        accuracy: 0.5 + 0.05 * (i + e) as f64,
                    }),
                    test: None,
                })
                .collect(),
            test: None,
            diverged: None,
            best: None,
            stopped_early: false,
        })
        .collect();
    let swept = RunOutcome {
        models,
        train_seconds: 1.0,
        model_samples: 1,
        epoch_times: vec![],
    };
    let image = draw(&swept).image().clone();
    let whole = (0, 0, image.width(), image.height());
    assert!(count_colour(&image, whole, LINES[0]) > 50, "the best curve");
    assert!(
        count_colour(&image, whole, shade(1.0)) > 1000,
        "the best cell"
    );
    assert!(
        count_colour(&image, whole, shade(0.0)) > 1000,
        "the worst cell"
    );
}
