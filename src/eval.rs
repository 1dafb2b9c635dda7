//! Scoring a model on a labelled split: loss and accuracy with any kernel
//! ([`evaluate`]), of many models in one pass ([`evaluate_models`]), per-class
//! accuracy and the confusion matrix ([`Metrics`]), and label-free
//! probabilities.
//!
//! ```no_run
//! use softreg::{model_file, data::Dataset, eval::Metrics};
//! let (model, _) = model_file::load("model.safetensors".as_ref())?;
//! let data = Dataset::load("data/fashion-mnist".as_ref(), Some(model.classes))?;
//! let metrics = Metrics::compute(&model, data.test.as_ref().ok_or("no test split")?);
//! println!("accuracy {:.3}", metrics.accuracy());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::data::{self, DataError, Images, PixelFormat, Split};
use crate::kernel::blocking::EVAL_CHUNK_ROWS;
use crate::kernel::{self, Engine, EngineJob, Isa, Kernel, Plan, Weights};
use crate::model::Model;

/// Loss and accuracy of a model on a labelled split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

impl Evaluation {
    /// The figures of `n` rows from their chunks' summed losses and correct
    /// counts, added in chunk order.
    fn of_sums(chunks: impl Iterator<Item = (f64, usize)>, n: usize) -> Self {
        let (loss_sum, correct) = chunks.fold((0.0, 0), |(l, c), (pl, pc)| (l + pl, c + pc));
        Evaluation {
            loss: loss_sum / n as f64,
            accuracy: correct as f64 / n as f64,
        }
    }
}

/// The loss and accuracy of `model` on the consecutive images `range` of
/// `split`, computed by `kernel` in parallel on the current rayon pool, in
/// [`EVAL_CHUNK_ROWS`]-row chunks whose sums are added in order (so the
/// figures do not depend on the thread count).
pub fn evaluate(kernel: Kernel, model: &Model, split: &Split, range: Range<usize>) -> Evaluation {
    struct Alone<'a> {
        model: &'a Model,
        split: &'a Split,
        range: Range<usize>,
    }
    impl EngineJob for Alone<'_> {
        type Output = Evaluation;
        fn run<E: Engine>(self, engine: &E) -> Evaluation {
            evaluate_models(
                engine,
                &[&engine.weights(self.model)],
                self.split,
                self.range,
            )[0]
        }
    }
    let isa = Isa::best();
    kernel.run(
        isa,
        Plan::default_for(isa),
        Alone {
            model,
            split,
            range,
        },
    )
}

/// Loss and accuracy of each model (`weights`, in `engine`'s layout) on the
/// images `range` of `split`, in parallel on the current rayon pool over
/// [`EVAL_CHUNK_ROWS`]-row chunks; the fused engine scores all models in one
/// pass over the rows, each figure bit for bit what the model gets alone.
pub fn evaluate_models<E: Engine>(
    engine: &E,
    weights: &[&E::Weights],
    split: &Split,
    range: Range<usize>,
) -> Vec<Evaluation> {
    let (n, first) = (range.len(), range.start);
    let (images, labels) = (&split.images, split.labels.as_slice());
    let chunks = map_eval_chunks(n, |rows| {
        let rows = first + rows.start..first + rows.end;
        engine.loss_and_correct(weights, images, labels, rows)
    });
    (0..weights.len())
        .map(|m| Evaluation::of_sums(chunks.iter().map(|chunk| chunk[m]), n))
        .collect()
}

/// `f` on each [`EVAL_CHUNK_ROWS`]-row range of `0..n`, the ranges in parallel on
/// the current rayon pool, the results in row order.
pub fn map_eval_chunks<T: Send>(n: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    use rayon::prelude::*;
    (0..n.div_ceil(EVAL_CHUNK_ROWS))
        .into_par_iter()
        .map(|chunk| f(chunk * EVAL_CHUNK_ROWS..((chunk + 1) * EVAL_CHUNK_ROWS).min(n)))
        .collect()
}

/// A model's loss and predictions on a labelled split.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Mean cross-entropy loss.
    pub loss: f64,
    /// The number of classes.
    pub classes: usize,
    /// `confusion[truth * classes + predicted]`: how many samples of class
    /// `truth` the model assigns to `predicted`.
    pub confusion: Vec<usize>,
}

impl Metrics {
    /// Evaluates `model` on `split` with the fused kernel on the current rayon
    /// pool, in the same chunks as training's evaluation (so the accuracy is the
    /// one `train` reports).
    pub fn compute(model: &Model, split: &Split) -> Self {
        let n = split.len();
        let weights = Weights::new(Isa::best(), model);
        let chunks = map_eval_chunks(n, |rows| {
            let mut predicted = vec![0; rows.len()];
            let (images, labels) = (&split.images, split.labels.as_slice());
            let (loss, _) = kernel::loss_correct_and_predictions(
                &weights,
                images,
                labels,
                rows,
                &mut predicted,
            );
            (loss, predicted)
        });
        let classes = model.classes;
        let mut confusion = vec![0; classes * classes];
        let mut loss_sum = 0.0;
        let predictions = chunks.iter().flat_map(|(loss, predicted)| {
            loss_sum += loss;
            predicted.iter()
        });
        for (&truth, &predicted) in split.labels.iter().zip(predictions) {
            confusion[(truth as usize) * classes + predicted] += 1;
        }
        Self {
            loss: loss_sum / n as f64,
            classes,
            confusion,
        }
    }

    /// The number of samples.
    pub fn samples(&self) -> usize {
        self.confusion.iter().sum()
    }

    /// The fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f64 / self.samples() as f64
    }

    /// How many samples of class `truth` were predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> usize {
        self.confusion[truth * self.classes + predicted]
    }

    /// The samples of class `truth`.
    pub fn class_samples(&self, truth: usize) -> usize {
        self.confusion[truth * self.classes..(truth + 1) * self.classes]
            .iter()
            .sum()
    }

    /// The fraction of class `truth` classified correctly; `None` without samples.
    pub fn class_accuracy(&self, truth: usize) -> Option<f64> {
        let total = self.class_samples(truth);
        (total > 0).then(|| self.count(truth, truth) as f64 / total as f64)
    }
}

/// Each class's probability for every image of `rows`, no labels needed: the
/// fused kernel's logits with a softmax in f64 (these figures are for people,
/// so they are computed in f64 rather than with training's f32 softmax). One vector of `classes`
/// probabilities per image.
pub fn probabilities(model: &Model, images: &Images, rows: Range<usize>) -> Vec<Vec<f64>> {
    let logits = kernel::logits(&Weights::new(Isa::best(), model), images, rows);
    logits
        .chunks_exact(model.classes)
        .map(|z| {
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f64> = z.iter().map(|&v| f64::from(v - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.iter().map(|e| e / sum).collect()
        })
        .collect()
}

/// Why a model cannot be scored on a data directory.
#[derive(Debug, Error)]
pub enum ScoringError {
    /// The test files could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The data directory has no test split to score on.
    #[error(
        "{} has no test split (test_x.npy and test_y.npy): there is nothing to score; \
         train with --validation N to score held-out images",
        .0.display()
    )]
    NoTestSplit(PathBuf),
    /// A test label has no class in the model.
    #[error(
        "{} has {classes} classes, but {} labels image {index} as class {label}: the model was \
         trained for other data",
        model.display(),
        labels.display()
    )]
    ClassMismatch {
        model: PathBuf,
        classes: usize,
        labels: PathBuf,
        index: usize,
        label: crate::data::Label,
    },
    /// The test images have another pixel count than the model's features.
    #[error(
        "{} takes {}x{} images ({features} features) but {} holds {}x{} images",
        model.display(), model_shape.0, model_shape.1, dir.display(), data_shape.0, data_shape.1
    )]
    ShapeMismatch {
        model: PathBuf,
        model_shape: (usize, usize),
        features: usize,
        dir: PathBuf,
        data_shape: (usize, usize),
    },
}

/// The test split of `dir` for the model at `model_path` (whose images are
/// `image_shape`): only the test files are read, and a label the model has no
/// class for, or images of another size, are blamed on the mismatch between
/// the two.
pub fn test_split_for(
    dir: &Path,
    (model_path, model): (&Path, &Model),
    image_shape: (usize, usize),
) -> Result<Split, ScoringError> {
    if !data::Source::of(dir).has_test() {
        return Err(ScoringError::NoTestSplit(dir.to_path_buf()));
    }
    let test = data::load_test(dir, PixelFormat::F32)?;
    if let Some((index, label)) = test.highest_label()
        && label as usize >= model.classes
    {
        return Err(ScoringError::ClassMismatch {
            model: model_path.to_path_buf(),
            classes: model.classes,
            labels: data::Source::of(dir).labels_file(data::SplitName::Test),
            index,
            label,
        });
    }
    if test.images.features() != model.features {
        return Err(ScoringError::ShapeMismatch {
            model: model_path.to_path_buf(),
            model_shape: image_shape,
            features: model.features,
            dir: dir.to_path_buf(),
            data_shape: test.images.shape(),
        });
    }
    Ok(test)
}

/// The item with the highest validation accuracy, the first of equals;
/// items without one are passed over.
pub fn best_by_validation<T>(items: impl Iterator<Item = (T, Option<f64>)>) -> Option<T> {
    items
        .filter_map(|(item, accuracy)| Some((item, accuracy?)))
        .fold(
            None,
            |best: Option<(T, f64)>, (item, accuracy)| match best {
                Some((_, top)) if top >= accuracy => best,
                _ => Some((item, accuracy)),
            },
        )
        .map(|(item, _)| item)
}
