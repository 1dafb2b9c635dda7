//! The library's façade on arrays in memory: train, fit, sweep, score and
//! predict on row-major features a caller already holds (a binding's NumPy
//! arrays, a Rust program's `Vec<f32>`), with labels as class indices. No
//! file, flag or terminal is involved; the command line is one client of the
//! same calls ([`crate::train`], [`crate::fit`], [`crate::eval`]).
//!
//! ```
//! use softreg::arrays::{self, Labelled, Samples};
//! use softreg::train::TrainConfig;
//!
//! // Two classes on a line: x < 0 is class 0, x > 0 class 1.
//! let features: Vec<f32> = (0..200).map(|i| (i as f32 - 99.5) / 50.0).collect();
//! let labels: Vec<u32> = features.iter().map(|&x| u32::from(x > 0.0)).collect();
//! let train = Labelled::new(Samples::f32(&features, 1)?, &labels)?;
//! let trained = arrays::train(&train, None, &TrainConfig::default())?;
//! let predicted = arrays::predict(&trained.model, &Samples::f32(&[-1.0, 1.0], 1)?)?;
//! assert_eq!(predicted, [0, 1]);
//! # Ok::<(), softreg::arrays::ArrayError>(())
//! ```
//!
//! The arrays are borrowed for the call and copied once into the engine's
//! aligned buffers; byte features ([`Samples::u8`]) are pixel values, read
//! as `p / 255` as the idx files' are.

use thiserror::Error;

use crate::data::{Dataset, Images, Label, MAX_CLASSES, Split};
use crate::eval::{self, Evaluation};
use crate::fit::{self, Fit, FitConfig, FitError, FitIteration};
use crate::kernel::Kernel;
use crate::model::Model;
use crate::train::{self, ModelRun, RunOutcome, SweepConfig, TrainConfig, TrainError, Trained};

/// Row-major features of `rows` samples of `features` values each.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    values: Values<'a>,
    features: usize,
}

/// The values of [`Samples`], as the caller holds them.
#[derive(Debug, Clone, Copy)]
enum Values<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
}

/// Samples with one class index each.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    samples: Samples<'a>,
    labels: &'a [Label],
}

/// Arrays that cannot be trained on or scored, or a run that failed.
#[derive(Debug, Error)]
pub enum ArrayError {
    /// No features per sample.
    #[error("samples need at least one feature")]
    NoFeatures,
    /// Values that do not fill whole samples.
    #[error("{values} values are not whole samples of {features} features")]
    NotWholeSamples { values: usize, features: usize },
    /// Another count of labels than of samples.
    #[error("{labels} labels for {samples} samples: one label per sample")]
    LabelCount { labels: usize, samples: usize },
    /// A label at or above the class count.
    #[error("sample {index} is labelled {label}, but there are {classes} classes")]
    Label {
        index: usize,
        label: Label,
        classes: usize,
    },
    /// More classes than a model may have.
    #[error("{0} classes are more than the {MAX_CLASSES} a model may have")]
    TooManyClasses(usize),
    /// Test samples of another width than the training samples, or samples
    /// of another width than a model takes.
    #[error("the samples have {found} features where {expected} are expected")]
    Features { expected: usize, found: usize },
    /// Training could not run or had to stop.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A fit could not run.
    #[error(transparent)]
    Fit(#[from] FitError),
}

impl<'a> Samples<'a> {
    /// Samples of `features` f32 values each, row-major in `values`.
    pub fn f32(values: &'a [f32], features: usize) -> Result<Self, ArrayError> {
        Self::new(Values::F32(values), values.len(), features)
    }

    /// Samples of `features` byte pixels each (read as `p / 255`), row-major
    /// in `values`.
    pub fn u8(values: &'a [u8], features: usize) -> Result<Self, ArrayError> {
        Self::new(Values::U8(values), values.len(), features)
    }

    fn new(values: Values<'a>, len: usize, features: usize) -> Result<Self, ArrayError> {
        if features == 0 {
            return Err(ArrayError::NoFeatures);
        }
        if !len.is_multiple_of(features) {
            return Err(ArrayError::NotWholeSamples {
                values: len,
                features,
            });
        }
        Ok(Self { values, features })
    }

    /// The number of samples.
    pub fn rows(&self) -> usize {
        match self.values {
            Values::F32(v) => v.len() / self.features,
            Values::U8(v) => v.len() / self.features,
        }
    }

    /// Values per sample.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The samples as the engine holds them: one row of `features` per image.
    fn images(&self) -> Images {
        match self.values {
            Values::F32(v) => Images::from_f32(1, self.features, v),
            Values::U8(v) => Images::from_u8(1, self.features, v),
        }
    }
}

impl<'a> Labelled<'a> {
    /// `samples` with `labels`, one class index per sample.
    pub fn new(samples: Samples<'a>, labels: &'a [Label]) -> Result<Self, ArrayError> {
        if labels.len() != samples.rows() {
            return Err(ArrayError::LabelCount {
                labels: labels.len(),
                samples: samples.rows(),
            });
        }
        Ok(Self { samples, labels })
    }

    /// The class count the labels imply: the largest label + 1.
    pub fn classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |&l| l as usize + 1)
    }

    fn split(&self, classes: usize) -> Result<Split, ArrayError> {
        if let Some((index, &label)) =
            (self.labels.iter().enumerate()).find(|&(_, &label)| label as usize >= classes)
        {
            return Err(ArrayError::Label {
                index,
                label,
                classes,
            });
        }
        Ok(Split {
            images: self.samples.images(),
            labels: self.labels.to_vec(),
        })
    }
}

/// The data set of `train` and `test` for `classes` classes (by default the
/// largest label of either + 1), refused with the reason if they do not fit
/// together.
pub fn dataset(
    train: &Labelled<'_>,
    test: Option<&Labelled<'_>>,
    classes: Option<usize>,
) -> Result<Dataset, ArrayError> {
    let implied = train.classes().max(test.map_or(0, Labelled::classes));
    let classes = classes.unwrap_or(implied).max(1);
    if classes > MAX_CLASSES {
        return Err(ArrayError::TooManyClasses(classes));
    }
    if let Some(test) = test {
        same_width(train.samples.features(), &test.samples)?;
    }
    Ok(Dataset {
        train: train.split(classes)?,
        test: test.map(|t| t.split(classes)).transpose()?,
        classes,
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    })
}

fn same_width(expected: usize, samples: &Samples<'_>) -> Result<(), ArrayError> {
    match samples.features() {
        found if found == expected => Ok(()),
        found => Err(ArrayError::Features { expected, found }),
    }
}

/// Trains one model on `train` as `config` says ([`train::train`]), scoring
/// `test` after every epoch when given.
pub fn train(
    train: &Labelled<'_>,
    test: Option<&Labelled<'_>>,
    config: &TrainConfig,
) -> Result<Trained, ArrayError> {
    let data = dataset(train, test, None)?;
    Ok(train::train(&data, config, |_| {})?)
}

/// Trains every model of `config` in one pass over `train`
/// ([`train::sweep()`]), ranked by the held-out rows.
pub fn sweep(
    train: &Labelled<'_>,
    test: Option<&Labelled<'_>>,
    config: &SweepConfig,
) -> Result<RunOutcome, ArrayError> {
    let data = dataset(train, test, None)?;
    Ok(train::sweep(
        &data,
        config,
        |_: usize, _: &[ModelRun]| {},
        |_| {},
    )?)
}

/// Fits one model per penalty of `config` to its optimum on `train`
/// ([`fit::fit`]), calling `on_iteration` after every iteration.
pub fn fit(
    train: &Labelled<'_>,
    test: Option<&Labelled<'_>>,
    config: &FitConfig,
    on_iteration: impl FnMut(&FitIteration) + Send,
) -> Result<Fit, ArrayError> {
    let data = dataset(train, test, None)?;
    Ok(fit::fit(&data, config, on_iteration)?)
}

/// The loss and accuracy of `model` on `samples`.
pub fn evaluate(model: &Model, samples: &Labelled<'_>) -> Result<Evaluation, ArrayError> {
    same_width(model.features, &samples.samples)?;
    let split = samples.split(model.classes)?;
    let rows = 0..split.len();
    Ok(eval::evaluate(Kernel::Fused, model, &split, rows))
}

/// Each sample's class probabilities under `model`, row-major (`rows x
/// classes`).
pub fn predict_proba(model: &Model, samples: &Samples<'_>) -> Result<Vec<f32>, ArrayError> {
    same_width(model.features, samples)?;
    let images = samples.images();
    let probabilities = eval::probabilities(model, &images, 0..samples.rows());
    Ok(probabilities.iter().flatten().map(|&p| p as f32).collect())
}

/// Each sample's most probable class under `model` (the first of equals).
pub fn predict(model: &Model, samples: &Samples<'_>) -> Result<Vec<Label>, ArrayError> {
    let probabilities = predict_proba(model, samples)?;
    Ok(probabilities
        .chunks_exact(model.classes)
        .map(|p| {
            let best = p
                .iter()
                .enumerate()
                .fold(0, |best, (c, &v)| if v > p[best] { c } else { best });
            best as Label
        })
        .collect())
}
