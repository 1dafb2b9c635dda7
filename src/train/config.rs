//! What a first-order run is asked to do: each model's [`Setting`], what the
//! run shares ([`RunConfig`]), and the two runs, [`TrainConfig`] (one model)
//! and [`SweepConfig`] (many in one pass), each checked before it starts.

use super::TrainError;
use super::optimizer::Optimizer;
use super::schedule::Schedule;
use crate::compute::{Compute, MAX_MODELS};
use crate::data::Dataset;
use crate::kernel::Kernel;
use crate::model::Model;

/// The most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;

/// One model's settings: the unit `train` trains one of and `sweep` many.
/// The default is the tutorial's: plain SGD, learning rate 0.1, seed 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// How the mean gradient becomes a step.
    pub optimizer: Optimizer,
    /// The step size applied to the mean gradient of a minibatch.
    pub learning_rate: f32,
    /// The seed of the model's initial weights.
    pub seed: u64,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
}

impl Default for Setting {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::default(),
            learning_rate: 0.1,
            seed: 0,
            schedule: Schedule::Constant,
        }
    }
}

impl Setting {
    /// The model's settings as `key=value` pairs, as model files, `--json`
    /// and checkpoints record them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("lr", self.learning_rate.to_string()),
            ("seed", self.seed.to_string()),
        ];
        settings.extend(self.optimizer.settings());
        settings.extend(self.schedule.settings());
        settings
    }

    /// Refuses a learning rate or optimizer settings that cannot step.
    pub fn check(&self) -> Result<(), TrainError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(TrainError::LearningRate(self.learning_rate));
        }
        Ok(self.optimizer.check()?)
    }
}

/// What a run shares across its models. The default is the tutorial's: 5
/// epochs of minibatches of 256, nothing held out.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch; the last minibatch of an epoch may be smaller.
    pub batch_size: usize,
    /// Training images held out for validation: the last `validation` images
    /// of the training split, never trained on, scored after every epoch
    /// (`val acc`); 0 holds out nothing.
    pub validation: usize,
    /// Stop a model once this many epochs have passed without a better
    /// validation accuracy than its best epoch's ([`ModelRun::best`](super::ModelRun::best));
    /// `None` trains every epoch. Needs validation images.
    pub patience: Option<usize>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 256,
            validation: 0,
            patience: None,
        }
    }
}

impl RunConfig {
    /// The run's settings that shape its results, as `key=value` pairs:
    /// epochs, batch size, held-out images and patience.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("epochs", self.epochs.to_string()),
            ("batch_size", self.batch_size.to_string()),
            ("validation", self.validation.to_string()),
        ];
        if let Some(patience) = self.patience {
            settings.push(("patience", patience.to_string()));
        }
        settings
    }

    /// Refuses a run that cannot train on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        if self.batch_size == 0 {
            return Err(TrainError::BatchSize);
        }
        if self.epochs > MAX_EPOCHS {
            return Err(TrainError::Epochs(self.epochs));
        }
        if data.train.is_empty() {
            return Err(TrainError::EmptyTrainingSet);
        }
        match self.patience {
            Some(0) => return Err(TrainError::Patience),
            Some(_) if self.validation == 0 => return Err(TrainError::PatienceWithoutValidation),
            _ => {}
        }
        if self.validation >= data.train.len() {
            return Err(TrainError::Validation {
                held_out: self.validation,
                images: data.train.len(),
            });
        }
        Ok(())
    }

    /// The training images the run trains on: all but the held-out ones.
    pub fn trained_on(&self, data: &Dataset) -> usize {
        data.train.len().saturating_sub(self.validation)
    }

    /// Bytes a run of `models` models with `kernel` holds beyond the data:
    /// per model, its weights, two optimizer buffers and a row-major copy,
    /// the best epoch's weights when there is validation, and its gradient
    /// sums for every chunk of a minibatch.
    pub fn memory_needed(&self, data: &Dataset, kernel: Kernel, models: usize) -> u64 {
        let features = data.train.images.features();
        let parameters = (features + 1) * data.classes;
        let chunk_rows = kernel.chunk_rows(features, data.classes);
        let chunks = self.batch_rows(data).div_ceil(chunk_rows);
        let copies = 4 + usize::from(self.validation > 0) + chunks;
        (parameters as u64)
            .saturating_mul(4 * copies as u64)
            .saturating_mul(models as u64)
    }

    /// Refuses a run of `models` models whose weights and gradient sums
    /// ([`RunConfig::memory_needed`]) this process cannot be given now
    /// ([`crate::input::memory_shortfall`]): checked before any is allocated,
    /// for `train` and `sweep` alike.
    pub fn check_memory(
        &self,
        data: &Dataset,
        kernel: Kernel,
        models: usize,
    ) -> Result<(), TrainError> {
        let needed = self.memory_needed(data, kernel, models);
        match crate::input::memory_shortfall(needed) {
            Some(available) => Err(TrainError::OutOfMemory {
                models,
                batch_size: self.batch_size,
                needed,
                available,
            }),
            None => Ok(()),
        }
    }

    /// The rows of the run's largest minibatch: the batch size, but never
    /// more than the images trained on (buffers are sized by what the data
    /// can use, not by the flag).
    pub fn batch_rows(&self, data: &Dataset) -> usize {
        self.batch_size.min(self.trained_on(data))
    }
}

/// One training run: one model, with the engine `kernel`; the default is the
/// tutorial's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainConfig {
    /// Epochs, batches and validation.
    pub run: RunConfig,
    /// The model's optimizer, learning rate and seed (which also seeds the
    /// per-epoch shuffles).
    pub setting: Setting,
    /// The kernel and threads it computes with.
    pub compute: Compute,
    /// The weights to start from (a warm start), rather than the seed's
    /// normals; the seed still orders the data.
    pub init: Option<Model>,
}

impl TrainConfig {
    /// Every setting of the run as `key=value` pairs: the run's, the model's
    /// and the kernel with its instruction set and plan.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = self.run.settings();
        settings.extend(self.setting.settings());
        settings.push(("kernel", self.compute.describe()));
        if let Some(init) = &self.init {
            settings.push(("init_sha256", init.digest()));
        }
        settings
    }

    /// Refuses settings that cannot train on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        self.run.check(data)?;
        self.compute.check()?;
        self.setting.check()?;
        if let Some(init) = &self.init {
            let shape = (data.train.images.features(), data.classes);
            if (init.features, init.classes) != shape {
                return Err(TrainError::InitShape {
                    model: (init.features, init.classes),
                    data: shape,
                });
            }
        }
        self.run.check_memory(data, self.compute.kernel, 1)
    }
}

/// A sweep's models and what they share.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// Epochs, batches, and the held-out images every model is scored on
    /// after every epoch and ranked by.
    pub run: RunConfig,
    /// One entry per model.
    pub settings: Vec<Setting>,
    /// Seeds the per-epoch shuffles every model shares.
    pub data_seed: u64,
    /// The kernel and threads it computes with.
    pub compute: Compute,
}

impl SweepConfig {
    /// Refuses a sweep that cannot run on `data`, naming the setting.
    pub fn check(&self, data: &Dataset) -> Result<(), TrainError> {
        if self.settings.is_empty() {
            return Err(TrainError::NoModels);
        }
        if self.settings.len() > MAX_MODELS {
            return Err(TrainError::TooManyModels(self.settings.len()));
        }
        if self.run.epochs == 0 {
            return Err(TrainError::NothingToRank);
        }
        if self.run.validation == 0 {
            return Err(TrainError::NoValidation);
        }
        self.run.check(data)?;
        self.compute.check()?;
        (self.run).check_memory(data, self.compute.kernel, self.settings.len())?;
        self.settings.iter().try_for_each(Setting::check)
    }

    /// Bytes the sweep holds beyond the data ([`RunConfig::memory_needed`]).
    pub fn memory_needed(&self, data: &Dataset) -> u64 {
        (self.run).memory_needed(data, self.compute.kernel, self.settings.len())
    }
}

impl Default for SweepConfig {
    /// The tutorial's model, 10,000 images held out.
    fn default() -> Self {
        Self {
            run: RunConfig {
                validation: 10_000,
                ..RunConfig::default()
            },
            settings: vec![Setting::default()],
            data_seed: 0,
            compute: Compute::default(),
        }
    }
}
