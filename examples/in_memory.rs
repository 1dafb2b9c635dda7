//! Train and predict on features held in memory, with no file and no flag:
//! three Gaussian blobs in 20 dimensions, a `Vec<f32>` of features and a
//! `Vec<u32>` of labels, through the library's façade (`softreg::arrays`).
//!
//! `cargo run --release --example in_memory`

use softreg::arrays::{self, ArrayError, Labelled, Samples};
use softreg::random::SeededRng;
use softreg::train::{RunConfig, TrainConfig};

const FEATURES: usize = 20;
const CLASSES: usize = 3;

/// `rows` samples of `CLASSES` blobs: class c's centre is 2 in feature c, 0
/// elsewhere, with unit normal noise.
fn blobs(rows: usize, rng: &mut SeededRng) -> (Vec<f32>, Vec<u32>) {
    let mut features = Vec::with_capacity(rows * FEATURES);
    let mut labels = Vec::with_capacity(rows);
    for i in 0..rows {
        let class = i % CLASSES;
        for f in 0..FEATURES {
            let centre = if f == class { 2.0 } else { 0.0 };
            features.push(rng.normal(centre, 1.0) as f32);
        }
        labels.push(class as u32);
    }
    (features, labels)
}

fn main() -> Result<(), ArrayError> {
    let mut rng = SeededRng::new(7);
    let (train_x, train_y) = blobs(3_000, &mut rng);
    let (test_x, test_y) = blobs(600, &mut rng);
    let train = Labelled::new(Samples::f32(&train_x, FEATURES)?, &train_y)?;
    let test = Labelled::new(Samples::f32(&test_x, FEATURES)?, &test_y)?;
    let config = TrainConfig {
        run: RunConfig {
            epochs: 10,
            batch_size: 64,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let trained = arrays::train(&train, Some(&test), &config)?;
    for epoch in &trained.epochs {
        let test = epoch.test.expect("a test split was given");
        println!(
            "epoch {}, loss {:.4}, test acc {:.3}",
            epoch.epoch, epoch.loss, test.accuracy
        );
    }
    let predicted = arrays::predict(&trained.model, &Samples::f32(&test_x, FEATURES)?)?;
    let correct = predicted
        .iter()
        .zip(&test_y)
        .filter(|(p, y)| p == y)
        .count();
    println!("predicted {correct} of {} test samples right", test_y.len());
    Ok(())
}
