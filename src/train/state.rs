//! A first-order run's state after an epoch: each model's weights, history
//! and optimizer buffers, and where the data order stands. The loop
//! ([`super::run`]) continues from it, and a checkpoint holds it.

use super::config::Setting;
use super::error::CheckpointErrorKind;
use super::history::ModelRun;
use super::update::Params;
use crate::kernel::Engine;
use crate::model::Model;
use crate::random::SeededRng;

/// Why a state cannot be the one a run continues from.
pub(super) fn malformed(what: impl Into<String>) -> CheckpointErrorKind {
    CheckpointErrorKind::Malformed(what.into())
}

/// The order of the training samples in every epoch: a shuffle per epoch of
/// the stream of `seed`, drawn after the normals of a model's initial weights
/// on the same stream. A model whose seed is the data's thus starts from
/// exactly the weights and sees exactly the orders of a one-stream run
/// (initialise, then shuffle), whatever other models train beside it.
pub struct DataOrder {
    rng: SeededRng,
    order: Vec<usize>,
}

impl DataOrder {
    /// The orders of the samples `0..samples` for models of `parameters`
    /// weights (features x classes), from `seed`.
    pub fn new(seed: u64, samples: usize, parameters: usize) -> Self {
        let mut rng = SeededRng::new(seed);
        rng.skip_normals(parameters as u64);
        Self {
            rng,
            order: (0..samples).collect(),
        }
    }

    /// The orders after `order`, drawn by the stream of `seed` from the
    /// word `words` on: where [`DataOrder::position`] left them.
    pub fn resumed(seed: u64, order: Vec<usize>, words: u128) -> Self {
        Self {
            rng: SeededRng::at_word(seed, words),
            order,
        }
    }

    /// The next epoch's order.
    pub fn next_epoch(&mut self) -> &[usize] {
        self.rng.shuffle(&mut self.order);
        &self.order
    }

    /// The last order and the position of the stream that draws the next.
    pub fn position(&self) -> (&[usize], u128) {
        (&self.order, self.rng.word_pos())
    }
}

/// A run's state after an epoch: what [`super::run`] continues from.
#[derive(Debug, Clone)]
pub struct RunState {
    /// Epochs completed.
    pub epochs: usize,
    /// Each model's weights, history and best epoch, with the optimizer
    /// buffers of those still training.
    pub models: Vec<ModelState>,
    /// The last epoch's data order.
    pub order: Vec<usize>,
    /// Where the data order's random stream stands ([`crate::random::SeededRng::word_pos`]).
    pub order_words: u128,
    /// Each epoch's training time and model-samples.
    pub epoch_times: Vec<(f64, usize)>,
}

/// One model of a [`RunState`].
#[derive(Debug, Clone)]
pub struct ModelState {
    /// Its weights, history and best epoch.
    pub swept: ModelRun,
    /// Whether it trains on (it has not stopped early).
    pub training: bool,
    /// Its optimizer's two buffers, row-major, when the optimizer has them
    /// and it trains on.
    pub moments: Option<[Model; 2]>,
}

impl RunState {
    /// The state before the first epoch: each model's initial weights (the
    /// run's `init`, or its seed's normals) and the data in its own order.
    pub(super) fn start(
        (settings, init): (&[Setting], Option<&Model>),
        data_seed: u64,
        (features, classes): (usize, usize),
        samples: usize,
    ) -> Self {
        let orders = DataOrder::new(data_seed, samples, features * classes);
        let (order, order_words) = orders.position();
        let models = settings
            .iter()
            .map(|&setting| ModelState {
                swept: ModelRun {
                    setting,
                    model: match init {
                        Some(model) => model.clone(),
                        None => Model::init(features, classes, &mut SeededRng::new(setting.seed)),
                    },
                    epochs: Vec::new(),
                    test: None,
                    diverged: None,
                    best: None,
                    stopped_early: false,
                },
                training: true,
                moments: None,
            })
            .collect();
        Self {
            epochs: 0,
            models,
            order: order.to_vec(),
            order_words,
            epoch_times: Vec::new(),
        }
    }

    /// The state after `epoch`: `models` as they stand, the optimizer
    /// buffers of the `live` ones, and where the data order is.
    pub(super) fn now<E: Engine>(
        engine: &E,
        (epoch, models): (usize, &[ModelRun]),
        live: &[(usize, Params<E::Weights>)],
        orders: &DataOrder,
        epoch_times: &[(f64, usize)],
    ) -> Self {
        let (order, order_words) = orders.position();
        let models = models
            .iter()
            .enumerate()
            .map(|(i, swept)| {
                let params = live.iter().find(|(j, _)| *j == i).map(|(_, p)| p);
                ModelState {
                    swept: swept.clone(),
                    training: params.is_some(),
                    moments: params
                        .and_then(|p| p.moments.as_ref())
                        .map(|[a, b]| [engine.model(a), engine.model(b)]),
                }
            })
            .collect();
        Self {
            epochs: epoch,
            models,
            order: order.to_vec(),
            order_words,
            epoch_times: epoch_times.to_vec(),
        }
    }
}

impl RunState {
    /// Refuses a state whose shapes do not fit a run of `settings` on
    /// `trained_on` samples (a checksummed file can still be forged).
    pub(super) fn check(
        &self,
        settings: &[Setting],
        trained_on: usize,
    ) -> Result<(), CheckpointErrorKind> {
        if self.models.len() != settings.len() {
            return Err(malformed(format!(
                "{} models for a run of {}",
                self.models.len(),
                settings.len()
            )));
        }
        let mut seen = vec![false; trained_on];
        if self.order.len() != trained_on
            || !self
                .order
                .iter()
                .all(|&i| i < trained_on && !std::mem::replace(&mut seen[i], true))
        {
            return Err(malformed(format!(
                "the data order is not an order of the {trained_on} samples trained on"
            )));
        }
        let shape = |m: &Model| (m.features, m.classes);
        let expected = shape(&self.models[0].swept.model);
        for (m, setting) in self.models.iter().zip(settings) {
            let shapes_agree = shape(&m.swept.model) == expected
                && m.swept.best.iter().all(|b| shape(&b.model) == expected)
                && m.moments.iter().flatten().all(|b| shape(b) == expected);
            if !shapes_agree {
                return Err(malformed("its weights differ in shape"));
            }
            let needs_moments = m.training && !setting.optimizer.is_plain_sgd();
            if needs_moments != m.moments.is_some() {
                return Err(malformed("its optimizer buffers do not fit the optimizer"));
            }
        }
        Ok(())
    }
}
