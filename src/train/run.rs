//! The one epoch loop, for one model (`train`) or many (`sweep`): for each
//! epoch, the data order, the team's epoch with any [`Engine`], the
//! evaluation, the divergence policy and the caller's `on_epoch`. What `train`
//! and `sweep` do differently is a [`Policy`], not a second loop.

use std::time::Instant;

use std::ops::ControlFlow;

use super::config::{RunConfig, Setting};
use super::divergence::{Divergence, check_run_away};
use super::error::TrainError;
use super::history::{ModelEpoch, ModelRun, RunOutcome};
use super::schedule::Rates;
use super::state::{DataOrder, RunState};
use super::team::{Epoch, EpochSums, Team};
use super::update::Params;
use crate::compute::Compute;
use crate::data::Dataset;
use crate::eval::evaluate_models;
use crate::kernel::{Engine, EngineJob};
use crate::model::Model;

/// What an epoch callback returns: `()` to go on, or a [`ControlFlow`] whose
/// `Break` ends the run after that epoch (a caller with nowhere left to report
/// to, say), keeping what it trained so far.
pub trait EpochControl {
    /// Whether the run stops after this epoch.
    fn stops(self) -> bool;
}

impl EpochControl for () {
    fn stops(self) -> bool {
        false
    }
}

impl EpochControl for ControlFlow<()> {
    fn stops(self) -> bool {
        self.is_break()
    }
}

/// What a run does with a model that diverges, and when it scores the test
/// split.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Stop the run with an error (`train`), or drop the model and go on
    /// (`sweep`).
    pub stop_on_divergence: bool,
    /// Score the test split after every epoch (`train`), or once at the end
    /// (`sweep`).
    pub test_every_epoch: bool,
}

/// Called with the run's state after every epoch that leaves no model
/// running away, before the epoch is reported (so that what is reported can
/// be resumed from); an error stops the run.
pub(super) type OnState<'a> = &'a (dyn Fn(&RunState) -> Result<(), TrainError> + Sync);

/// A run of every model of `settings` on `data`.
pub(super) struct Run<'a> {
    pub data: &'a Dataset,
    pub config: &'a RunConfig,
    pub settings: &'a [Setting],
    pub data_seed: u64,
    pub policy: Policy,
    /// The weights every model starts from, rather than its seed's.
    pub init: Option<&'a Model>,
    /// The state to continue from, checked to be this run's.
    pub resume: Option<&'a RunState>,
    pub on_state: Option<OnState<'a>>,
    /// Whether pool threads beyond one per core join the team.
    pub oversubscribe: bool,
}

/// [`models`] with the engine, instruction set and plan of `compute`, on a
/// pool of its threads.
pub(super) fn models_with<C: EpochControl>(
    compute: &Compute,
    run: &Run<'_>,
    on_epoch: impl FnMut(usize, &[ModelRun], f64) -> C + Send,
    on_step: &(impl Fn(usize) + Sync),
) -> Result<RunOutcome, TrainError> {
    struct Job<'a, 'r, O, S> {
        run: &'a Run<'r>,
        on_epoch: O,
        on_step: &'a S,
    }
    impl<C: EpochControl, O: FnMut(usize, &[ModelRun], f64) -> C, S: Fn(usize) + Sync> EngineJob
        for Job<'_, '_, O, S>
    {
        type Output = Result<RunOutcome, TrainError>;
        fn run<E: Engine>(self, engine: &E) -> Self::Output {
            models(engine, self.run, self.on_epoch, self.on_step)
        }
    }
    let job = Job {
        run,
        on_epoch,
        on_step,
    };
    compute.run(job)?
}

/// Trains every model of `run` with `engine` on the current rayon pool,
/// calling `on_epoch(epoch, models, seconds)` after each epoch with every
/// model so far and the epoch's training time, and `on_step(samples)` with
/// the training samples of the run done so far.
pub(super) fn models<E: Engine, C: EpochControl>(
    engine: &E,
    run: &Run<'_>,
    mut on_epoch: impl FnMut(usize, &[ModelRun], f64) -> C,
    on_step: &(impl Fn(usize) + Sync),
) -> Result<RunOutcome, TrainError> {
    let (data, policy, config) = (run.data, run.policy, run.config);
    let train = &data.train;
    let (features, classes) = (train.images.features(), data.classes);
    let trained_on = config.trained_on(data);
    let held_out = trained_on..train.len();
    let begin = match run.resume {
        Some(state) => state.clone(),
        None => RunState::start(
            (run.settings, run.init),
            run.data_seed,
            (features, classes),
            trained_on,
        ),
    };
    let mut orders = DataOrder::resumed(run.data_seed, begin.order, begin.order_words);
    let mut models: Vec<ModelRun> = Vec::new();
    let mut live: Vec<(usize, Params<E::Weights>)> = Vec::new();
    for (i, (state, &setting)) in begin.models.into_iter().zip(run.settings).enumerate() {
        if state.training {
            let weights = engine.weights(&state.swept.model);
            let zeros = || engine.weights(&Model::zeros(features, classes));
            let moments = match state.moments {
                Some([first, second]) => Some([engine.weights(&first), engine.weights(&second)]),
                None => (!setting.optimizer.is_plain_sgd()).then(|| [zeros(), zeros()]),
            };
            live.push((i, Params { weights, moments }));
        }
        models.push(ModelRun {
            setting,
            ..state.swept
        });
    }
    let batch_rows = config.batch_rows(data);
    let chunk_rows = engine.kernel().chunk_rows(features, classes);
    let mut team = Team::new((features, classes), models.len(), (batch_rows, chunk_rows));
    // The rates and steps of the epochs done, replayed.
    let done = begin.epochs;
    let mut rates: Vec<Rates> = models
        .iter()
        .map(|m| {
            let mut rates = Rates::new(m.setting.schedule, m.setting.learning_rate);
            (0..done).for_each(|_| _ = rates.next_rate());
            rates
        })
        .collect();
    let steps_per_epoch = trained_on.div_ceil(config.batch_size) as u64;
    let mut epoch_times = begin.epoch_times;
    let mut steps_before = done as u64 * steps_per_epoch;
    for epoch in done + 1..=config.epochs {
        if live.is_empty() {
            break;
        }
        let order = orders.next_epoch();
        let start = Instant::now();
        let (indices, mut params): (Vec<usize>, Vec<_>) = live.drain(..).unzip();
        // Each model's setting with the rate its schedule gives this epoch.
        let settings: Vec<Setting> = indices
            .iter()
            .map(|&i| Setting {
                learning_rate: rates[i].next_rate(),
                ..models[i].setting
            })
            .collect();
        let epoch_run = Epoch {
            train,
            order,
            batch_size: config.batch_size,
            settings: &settings,
            steps_before,
            oversubscribe: run.oversubscribe,
        };
        let done_before = (epoch - 1).saturating_mul(trained_on);
        let progress = |samples: usize| on_step(done_before + samples);
        let sums = team.run_epoch(engine, &epoch_run, &mut params, &progress);
        let seconds = start.elapsed().as_secs_f64();
        // A model that diverged computed the minibatches up to the one it
        // diverged at.
        let computed = |sums: &EpochSums| match sums {
            Ok(_) => trained_on,
            Err(cause) => {
                let steps = cause.step().unwrap_or(0);
                steps.saturating_mul(config.batch_size).min(trained_on)
            }
        };
        epoch_times.push((seconds, sums.iter().map(computed).sum()));
        steps_before += steps_per_epoch;
        // Every model that finished the epoch, scored in one pass over the
        // held-out rows (and the test rows, if every epoch).
        let finished: Vec<&E::Weights> = params
            .iter()
            .zip(&sums)
            .filter(|(_, sums)| sums.is_ok())
            .map(|(p, _)| &p.weights)
            .collect();
        let score = |split, range| evaluate_models(engine, &finished, split, range);
        let mut validations = (config.validation > 0)
            .then(|| score(train, held_out.clone()).into_iter())
            .into_iter()
            .flatten();
        let mut tests = policy
            .test_every_epoch
            .then_some(data.test.as_ref())
            .flatten()
            .map(|test| score(test, 0..test.len()).into_iter())
            .into_iter()
            .flatten();
        let mut run_away = None;
        let outcomes = indices.into_iter().zip(params).zip(sums).zip(&settings);
        for (((i, params), sums), setting) in outcomes {
            let swept = &mut models[i];
            swept.model = engine.model(&params.weights);
            let cause = match sums {
                Err(cause) if policy.stop_on_divergence => {
                    return Err(TrainError::Diverged(Divergence { epoch, cause }));
                }
                Err(cause) => Some(cause),
                Ok((loss_sum, correct)) => {
                    let loss = loss_sum / trained_on as f64;
                    swept.epochs.push(ModelEpoch {
                        loss,
                        train_acc: correct as f64 / trained_on as f64,
                        learning_rate: setting.learning_rate,
                        validation: validations.next(),
                        test: tests.next(),
                    });
                    swept.stopped_early =
                        swept.track_best(epoch, config.patience) && epoch < config.epochs;
                    check_run_away(loss, classes).err()
                }
            };
            match cause {
                Some(cause) if policy.stop_on_divergence => run_away = Some(cause),
                Some(cause) => swept.diverged = Some(Divergence { epoch, cause }),
                None if swept.stopped_early => {}
                None => live.push((i, params)),
            }
        }
        if let (Some(on_state), None) = (run.on_state, &run_away) {
            on_state(&RunState::now(
                engine,
                (epoch, &models),
                &live,
                &orders,
                &epoch_times,
            ))?;
        }
        let stop = on_epoch(epoch, &models, seconds).stops();
        if let Some(cause) = run_away {
            return Err(TrainError::Diverged(Divergence { epoch, cause }));
        }
        if stop {
            break;
        }
    }
    // Every model that did not diverge is scored on the test split with the
    // weights of its chosen epoch (the best, when images are held out).
    let scored: Vec<usize> = (0..models.len())
        .filter(|&i| models[i].diverged.is_none())
        .collect();
    let tests = if policy.test_every_epoch {
        scored
            .iter()
            .map(|&i| models[i].chosen().and_then(|e| e.test))
            .collect()
    } else {
        match &data.test {
            Some(test) => {
                let weights: Vec<E::Weights> = scored
                    .iter()
                    .map(|&i| engine.weights(models[i].chosen_model()))
                    .collect();
                let weights: Vec<&E::Weights> = weights.iter().collect();
                let tests = evaluate_models(engine, &weights, test, 0..test.len());
                tests.into_iter().map(Some).collect::<Vec<_>>()
            }
            None => vec![None; scored.len()],
        }
    };
    for (&i, test) in scored.iter().zip(tests) {
        models[i].test = test;
    }
    Ok(RunOutcome {
        models,
        train_seconds: epoch_times.iter().map(|&(seconds, _)| seconds).sum(),
        model_samples: epoch_times.iter().map(|&(_, samples)| samples).sum(),
        epoch_times,
    })
}
