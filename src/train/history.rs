//! The record of a run: each model's epochs, its best epoch and how it
//! ended ([`ModelRun`]), the run's ([`RunOutcome`]), and what `train` reports
//! of its one model ([`EpochReport`], [`Trained`]).

use super::config::Setting;
use super::divergence::Divergence;
use crate::eval::Evaluation;
use crate::model::Model;

/// One epoch of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEpoch {
    /// Mean training loss over the epoch's minibatches (before each update).
    pub loss: f64,
    /// Training accuracy accumulated over the epoch's minibatches.
    pub train_acc: f64,
    /// The learning rate the epoch trained with (its schedule's).
    pub learning_rate: f32,
    /// Loss and accuracy on the held-out validation images after the epoch,
    /// when some are held out (a sweep always holds some out).
    pub validation: Option<Evaluation>,
    /// Loss and accuracy on the test set after the epoch, when the run scores
    /// it every epoch (`train` does, a sweep only at the end).
    pub test: Option<Evaluation>,
}

/// One model's run: its settings, weights, epochs and how it ended, for
/// `train` and `sweep` alike.
#[derive(Debug, Clone)]
pub struct ModelRun {
    /// Its settings.
    pub setting: Setting,
    /// Its weights after the last epoch, or where it diverged.
    pub model: Model,
    /// One entry per epoch it completed.
    pub epochs: Vec<ModelEpoch>,
    /// Loss and accuracy on the test set of the chosen epoch's weights
    /// ([`ModelRun::chosen`]); `None` for a model that diverged.
    pub test: Option<Evaluation>,
    /// Where and why the model diverged, if it did.
    pub diverged: Option<Divergence>,
    /// Its best epoch so far, when images are held out.
    pub best: Option<BestEpoch>,
    /// Whether it stopped before the run's last epoch because its validation
    /// accuracy had not improved for the run's patience.
    pub stopped_early: bool,
}

/// A model's best epoch: the highest validation accuracy, the earliest of
/// equals, with the weights it ended with.
#[derive(Debug, Clone)]
pub struct BestEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// The weights after that epoch.
    pub model: Model,
}

impl ModelRun {
    /// Validation accuracy of the chosen epoch, unless the model diverged.
    pub fn val_acc(&self) -> Option<f64> {
        Some(self.chosen()?.validation?.accuracy)
    }

    /// The epoch the model is ranked and saved by, unless it diverged: its
    /// best by validation accuracy, or the last when nothing is held out.
    pub fn chosen(&self) -> Option<&ModelEpoch> {
        match (&self.diverged, &self.best) {
            (Some(_), _) => None,
            (None, Some(best)) => self.epochs.get(best.epoch - 1),
            (None, None) => self.epochs.last(),
        }
    }

    /// The chosen epoch's number (1-based), unless the model diverged.
    pub fn chosen_epoch(&self) -> Option<usize> {
        self.chosen()?;
        Some(self.best.as_ref().map_or(self.epochs.len(), |b| b.epoch))
    }

    /// The chosen epoch's weights (the last weights for a model that
    /// diverged).
    pub fn chosen_model(&self) -> &Model {
        match (&self.diverged, &self.best) {
            (None, Some(best)) => &best.model,
            _ => &self.model,
        }
    }

    /// Records epoch `epoch`, just appended to [`ModelRun::epochs`] with
    /// the weights [`ModelRun::model`] holds, as the best if its validation
    /// accuracy beats the best so far, and says whether `patience` epochs
    /// have now passed since the best.
    pub(super) fn track_best(&mut self, epoch: usize, patience: Option<usize>) -> bool {
        let accuracy = |e: &ModelEpoch| e.validation.map(|v| v.accuracy);
        let Some(latest) = self.epochs.last().and_then(accuracy) else {
            return false;
        };
        let top = self
            .best
            .as_ref()
            .and_then(|b| accuracy(&self.epochs[b.epoch - 1]));
        if top.is_none_or(|top| latest > top) {
            self.best = Some(BestEpoch {
                epoch,
                model: self.model.clone(),
            });
        }
        let since = epoch - self.best.as_ref().map_or(epoch, |b| b.epoch);
        patience.is_some_and(|patience| since >= patience)
    }
}

/// The outcome of a run of one model or many.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One entry per setting, in the order of [`super::SweepConfig::settings`].
    pub models: Vec<ModelRun>,
    /// Wall time of the training steps, evaluation excluded.
    pub train_seconds: f64,
    /// Training samples computed, summed over models (a model trained on
    /// 50,000 samples for 5 epochs adds 250,000; one that diverged, the
    /// samples up to the minibatch it diverged at).
    pub model_samples: usize,
    /// Each epoch's training time and model-samples, in the same terms.
    pub epoch_times: Vec<(f64, usize)>,
}

impl RunOutcome {
    /// The model with the highest final validation accuracy (the first of
    /// equals), among those that did not diverge.
    pub fn best(&self) -> Option<&ModelRun> {
        crate::eval::best_by_validation(self.models.iter().map(|m| (m, m.val_acc())))
    }

    /// Training throughput summed over models.
    pub fn model_samples_per_second(&self) -> f64 {
        self.model_samples as f64 / self.train_seconds
    }

    /// Each epoch's training throughput summed over models.
    pub fn epoch_rates(&self) -> Vec<f64> {
        self.epoch_times
            .iter()
            .map(|&(seconds, samples)| samples as f64 / seconds)
            .collect()
    }
}

/// What one epoch achieved and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (before each update).
    pub loss: f64,
    /// Training accuracy accumulated over the epoch's minibatches.
    pub train_acc: f64,
    /// Loss and accuracy on the test split after the epoch, when the data
    /// set has one.
    pub test: Option<Evaluation>,
    /// Loss and accuracy on the held-out validation images after the epoch,
    /// when some are held out.
    pub validation: Option<Evaluation>,
    /// The learning rate the epoch trained with (the schedule's).
    pub learning_rate: f32,
    /// Training samples in the epoch.
    pub samples: usize,
    /// Wall time of the epoch's training steps, evaluation excluded.
    pub train_seconds: f64,
}

impl EpochReport {
    /// Training throughput of the epoch.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.train_seconds
    }
}

/// The trained model with its per-epoch history.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The final model.
    pub model: Model,
    /// One report per epoch.
    pub epochs: Vec<EpochReport>,
    /// The epoch of the highest validation accuracy, with its weights, when
    /// images were held out.
    pub best: Option<BestEpoch>,
    /// Whether the run stopped before its last epoch because validation
    /// accuracy had not improved for `patience` epochs.
    pub stopped_early: bool,
}

impl Trained {
    /// The model to keep and its epoch: the best epoch's when there is one,
    /// else the final (no epoch when none trained).
    pub fn chosen(&self) -> (&Model, Option<&EpochReport>) {
        match &self.best {
            Some(best) => (&best.model, self.epochs.get(best.epoch - 1)),
            None => (&self.model, self.epochs.last()),
        }
    }
}
