//! The façade on arrays in memory: what a binding or a Rust program calls
//! with its own `Vec<f32>` and labels, with no file and no flag.

use softreg::arrays::{self, ArrayError, Labelled, Samples};
use softreg::data::{Dataset, Images, Split};
use softreg::fit::{FitConfig, Penalty};
use softreg::random::SeededRng;
use softreg::train::{self, RunConfig, TrainConfig};

/// Three Gaussian blobs in 12 dimensions, class c centred at 3 in feature c.
fn blobs(rows: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = SeededRng::new(seed);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for i in 0..rows {
        let class = i % 3;
        for f in 0..12 {
            let centre = if f == class { 3.0 } else { 0.0 };
            features.push(rng.normal(centre, 1.0) as f32);
        }
        labels.push(class as u32);
    }
    (features, labels)
}

/// Training on a `Vec<f32>` through the façade is training on the same
/// values as a data set (the same bits), and its predictions are the
/// argmax of its probabilities, which sum to 1 per sample; separable blobs
/// are learnt (test accuracy above 0.95).
#[test]
fn a_program_trains_and_predicts_on_vectors_in_memory() {
    let (x, y) = blobs(1_500, 1);
    let (tx, ty) = blobs(300, 2);
    let train = Labelled::new(Samples::f32(&x, 12).unwrap(), &y).unwrap();
    let test = Labelled::new(Samples::f32(&tx, 12).unwrap(), &ty).unwrap();
    let config = TrainConfig {
        run: RunConfig {
            epochs: 4,
            batch_size: 50,
            ..RunConfig::default()
        },
        ..TrainConfig::default()
    };
    let trained = arrays::train(&train, Some(&test), &config).unwrap();
    let split = |x: &[f32], y: &[u32]| Split {
        images: Images::from_f32(1, 12, x),
        labels: y.to_vec(),
    };
    let data = Dataset {
        train: split(&x, &y),
        test: Some(split(&tx, &ty)),
        classes: 3,
        class_names: vec!["0".into(), "1".into(), "2".into()],
    };
    let direct = train::train(&data, &config, |_| {}).unwrap();
    assert_eq!(trained.model, direct.model, "the same bits as a data set");
    let last = trained.epochs.last().unwrap().test.unwrap();
    assert!(last.accuracy > 0.95, "test accuracy {}", last.accuracy);

    let samples = Samples::f32(&tx, 12).unwrap();
    let probabilities = arrays::predict_proba(&trained.model, &samples).unwrap();
    let predicted = arrays::predict(&trained.model, &samples).unwrap();
    assert_eq!(probabilities.len(), 300 * 3);
    for (p, &class) in probabilities.chunks(3).zip(&predicted) {
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
        assert!(p.iter().all(|&q| q <= p[class as usize]));
    }
    let correct = predicted.iter().zip(&ty).filter(|(p, y)| p == y).count();
    let scored = arrays::evaluate(&trained.model, &test).unwrap();
    assert!((scored.accuracy - correct as f64 / 300.0).abs() < 1e-12);
}

/// A fit on the arrays lands on a finite optimum that predicts the blobs.
#[test]
fn a_fit_on_arrays_reaches_its_optimum() {
    let (x, y) = blobs(600, 3);
    let train = Labelled::new(Samples::f32(&x, 12).unwrap(), &y).unwrap();
    let config = FitConfig {
        penalties: vec![Penalty::C(1.0)],
        ..FitConfig::default()
    };
    let fitted = arrays::fit(&train, None, &config, |_| {}).unwrap();
    let model = &fitted.models[0];
    assert!(model.last.gradient_max <= config.solver.gtol, "converged");
    let predicted = arrays::predict(&model.model, &Samples::f32(&x, 12).unwrap()).unwrap();
    let correct = predicted.iter().zip(&y).filter(|(p, y)| p == y).count();
    assert!(correct > 570, "{correct} of 600");
}

/// Arrays that do not fit are refused with the reason, before any work.
#[test]
fn arrays_that_do_not_fit_are_refused_by_name() {
    let x = [0.0f32; 10];
    assert!(matches!(
        Samples::f32(&x, 3),
        Err(ArrayError::NotWholeSamples {
            values: 10,
            features: 3
        })
    ));
    assert!(matches!(Samples::f32(&x, 0), Err(ArrayError::NoFeatures)));
    let samples = Samples::f32(&x, 5).unwrap();
    assert!(matches!(
        Labelled::new(samples, &[0, 1, 2]),
        Err(ArrayError::LabelCount {
            labels: 3,
            samples: 2
        })
    ));
    let train = Labelled::new(samples, &[0, 1]).unwrap();
    let wide = [0.0f32; 12];
    let test = Labelled::new(Samples::f32(&wide, 6).unwrap(), &[0, 1]).unwrap();
    assert!(matches!(
        arrays::dataset(&train, Some(&test), None),
        Err(ArrayError::Features {
            expected: 5,
            found: 6
        })
    ));
    assert!(matches!(
        arrays::dataset(&train, None, Some(1)),
        Err(ArrayError::Label {
            index: 1,
            label: 1,
            classes: 1
        })
    ));
    let model = softreg::model::Model::zeros(4, 2);
    assert!(matches!(
        arrays::predict(&model, &samples),
        Err(ArrayError::Features {
            expected: 4,
            found: 5
        })
    ));
}
