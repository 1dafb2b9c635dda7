//! The one epoch loop, for one model (`train`) or many (`sweep`): for each
//! epoch, the data order, the team's epoch with any [`Engine`], the
//! evaluation, the divergence policy and the caller's `on_epoch`. What `train`
//! and `sweep` do differently is a [`Policy`], not a second loop.

use std::time::Instant;

use std::ops::ControlFlow;

use super::config::{RunConfig, Setting};
use super::divergence::{Cause, Divergence, check_run_away};
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
    let mut state = Loop::begin(engine, run);
    for epoch in state.done + 1..=run.config.epochs {
        if state.live.is_empty() {
            break;
        }
        let (seconds, run_away) = state.epoch(epoch, on_step)?;
        if let (Some(on_state), None) = (run.on_state, &run_away) {
            on_state(&state.now(epoch))?;
        }
        let stop = on_epoch(epoch, &state.models, seconds).stops();
        if let Some(cause) = run_away {
            return Err(TrainError::Diverged(Divergence { epoch, cause }));
        }
        if stop {
            break;
        }
    }
    Ok(state.finish())
}

/// The loop's state between epochs: every model's record, the parameters
/// of those still training (`live`, by index), the data order, each model's
/// rates, the team and the epochs' times.
struct Loop<'a, 'r, E: Engine> {
    engine: &'a E,
    run: &'a Run<'r>,
    models: Vec<ModelRun>,
    live: Vec<(usize, Params<E::Weights>)>,
    orders: DataOrder,
    rates: Vec<Rates>,
    team: Team,
    /// Epochs done before this call (a resumed run's).
    done: usize,
    /// Minibatch steps taken so far in the whole run.
    steps_before: u64,
    epoch_times: Vec<(f64, usize)>,
}

impl<'a, 'r, E: Engine> Loop<'a, 'r, E> {
    /// The state the run starts from: its resumed state, or each model's
    /// initial weights and the first data order; the rates of the epochs
    /// done replayed.
    fn begin(engine: &'a E, run: &'a Run<'r>) -> Self {
        let (data, config) = (run.data, run.config);
        let (features, classes) = (data.train.images.features(), data.classes);
        let trained_on = config.trained_on(data);
        let begin = match run.resume {
            Some(state) => state.clone(),
            None => RunState::start(
                (run.settings, run.init),
                run.data_seed,
                (features, classes),
                trained_on,
            ),
        };
        let orders = DataOrder::resumed(run.data_seed, begin.order, begin.order_words);
        let mut models: Vec<ModelRun> = Vec::new();
        let mut live = Vec::new();
        for (i, (state, &setting)) in begin.models.into_iter().zip(run.settings).enumerate() {
            if state.training {
                let weights = engine.weights(&state.swept.model);
                let zeros = || engine.weights(&Model::zeros(features, classes));
                let moments = match state.moments {
                    Some([first, second]) => {
                        Some([engine.weights(&first), engine.weights(&second)])
                    }
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
        let team = Team::new((features, classes), models.len(), (batch_rows, chunk_rows));
        let done = begin.epochs;
        let rates = (models.iter())
            .map(|m| {
                let mut rates = Rates::new(m.setting.schedule, m.setting.learning_rate);
                (0..done).for_each(|_| _ = rates.next_rate());
                rates
            })
            .collect();
        let steps_per_epoch = trained_on.div_ceil(config.batch_size) as u64;
        Self {
            engine,
            run,
            models,
            live,
            orders,
            rates,
            team,
            done,
            steps_before: done as u64 * steps_per_epoch,
            epoch_times: begin.epoch_times,
        }
    }

    /// Trains epoch `epoch` of every live model, scores those that finished
    /// it, and records it in their history: the epoch's training time, and
    /// the loss that ran away when the policy stops the run on it (a model
    /// that diverged mid-epoch stops the run at once, as an error).
    fn epoch(
        &mut self,
        epoch: usize,
        on_step: &(impl Fn(usize) + Sync),
    ) -> Result<(f64, Option<Cause>), TrainError> {
        let (engine, run) = (self.engine, self.run);
        let (data, policy, config) = (run.data, run.policy, run.config);
        let train = &data.train;
        let trained_on = config.trained_on(data);
        let order = self.orders.next_epoch();
        let start = Instant::now();
        let (indices, mut params): (Vec<usize>, Vec<_>) = self.live.drain(..).unzip();
        // Each model's setting with the rate its schedule gives this epoch.
        let settings: Vec<Setting> = (indices.iter())
            .map(|&i| Setting {
                learning_rate: self.rates[i].next_rate(),
                ..self.models[i].setting
            })
            .collect();
        let epoch_run = Epoch {
            train,
            order,
            batch_size: config.batch_size,
            settings: &settings,
            steps_before: self.steps_before,
            oversubscribe: run.oversubscribe,
        };
        let done_before = (epoch - 1).saturating_mul(trained_on);
        let progress = |samples: usize| on_step(done_before + samples);
        let sums = (self.team).run_epoch(engine, &epoch_run, &mut params, &progress);
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
        (self.epoch_times).push((seconds, sums.iter().map(computed).sum()));
        self.steps_before += trained_on.div_ceil(config.batch_size) as u64;
        // Every model that finished the epoch, scored in one pass over the
        // held-out rows (and the test rows, if every epoch).
        let finished: Vec<&E::Weights> = (params.iter().zip(&sums))
            .filter(|(_, sums)| sums.is_ok())
            .map(|(p, _)| &p.weights)
            .collect();
        let score = |split, range| evaluate_models(engine, &finished, split, range);
        let mut validations = (config.validation > 0)
            .then(|| score(train, trained_on..train.len()).into_iter())
            .into_iter()
            .flatten();
        let mut tests = (policy.test_every_epoch.then_some(data.test.as_ref()))
            .flatten()
            .map(|test| score(test, 0..test.len()).into_iter())
            .into_iter()
            .flatten();
        let mut run_away = None;
        let outcomes = indices.into_iter().zip(params).zip(sums).zip(&settings);
        for (((i, params), sums), setting) in outcomes {
            let model = &mut self.models[i];
            model.model = engine.model(&params.weights);
            let cause = match sums {
                Err(cause) if policy.stop_on_divergence => {
                    return Err(TrainError::Diverged(Divergence { epoch, cause }));
                }
                Err(cause) => Some(cause),
                Ok((loss_sum, correct)) => {
                    let loss = loss_sum / trained_on as f64;
                    model.epochs.push(ModelEpoch {
                        loss,
                        train_acc: correct as f64 / trained_on as f64,
                        learning_rate: setting.learning_rate,
                        validation: validations.next(),
                        test: tests.next(),
                    });
                    model.stopped_early =
                        model.track_best(epoch, config.patience) && epoch < config.epochs;
                    check_run_away(loss, data.classes).err()
                }
            };
            match cause {
                Some(cause) if policy.stop_on_divergence => run_away = Some(cause),
                Some(cause) => model.diverged = Some(Divergence { epoch, cause }),
                None if model.stopped_early => {}
                None => self.live.push((i, params)),
            }
        }
        Ok((seconds, run_away))
    }

    /// The run's state after `epoch`, as a checkpoint holds it.
    fn now(&self, epoch: usize) -> RunState {
        let state = (epoch, &self.models[..]);
        RunState::now(
            self.engine,
            state,
            &self.live,
            &self.orders,
            &self.epoch_times,
        )
    }

    /// The outcome: every model that did not diverge scored on the test
    /// split with the weights of its chosen epoch (the best, when images are
    /// held out).
    fn finish(self) -> RunOutcome {
        let Loop {
            engine,
            run,
            mut models,
            epoch_times,
            ..
        } = self;
        let scored: Vec<usize> = (0..models.len())
            .filter(|&i| models[i].diverged.is_none())
            .collect();
        let tests = match (run.policy.test_every_epoch, &run.data.test) {
            (true, _) => (scored.iter())
                .map(|&i| models[i].chosen().and_then(|e| e.test))
                .collect(),
            (false, Some(test)) => {
                let weights: Vec<E::Weights> = (scored.iter())
                    .map(|&i| engine.weights(models[i].chosen_model()))
                    .collect();
                let weights: Vec<&E::Weights> = weights.iter().collect();
                let tests = evaluate_models(engine, &weights, test, 0..test.len());
                tests.into_iter().map(Some).collect::<Vec<_>>()
            }
            (false, None) => vec![None; scored.len()],
        };
        for (&i, test) in scored.iter().zip(tests) {
            models[i].test = test;
        }
        RunOutcome {
            models,
            train_seconds: epoch_times.iter().map(|&(seconds, _)| seconds).sum(),
            model_samples: epoch_times.iter().map(|&(_, samples)| samples).sum(),
            epoch_times,
        }
    }
}
