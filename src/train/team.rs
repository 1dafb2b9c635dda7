//! The thread team that computes an epoch's minibatches together, for one
//! model or many.
//!
//! A minibatch is cut into fixed chunks of [`CHUNK_ROWS`] rows. Each step,
//! thread `t` of a team of `T` computes a contiguous run of the chunks
//! (`t * n / T` to `(t + 1) * n / T`) for every model still training; the team
//! meets; thread `t` then updates its share of the models, adding each model's
//! chunk sums in chunk order; the team meets again before the next minibatch
//! reads the new weights. The chunks, the order of the sums and the update do
//! not depend on the team's size, so the weights are bit-identical for any
//! thread count. The threads stay in one rayon broadcast for the whole epoch
//! rather than being forked and joined (and put to sleep and woken) for every
//! minibatch.

use std::ops::Range;
use std::sync::RwLock;

use super::Setting;
use super::barrier::SpinBarrier;
use super::divergence::Cause;
use super::optimizer::StepRule;
use super::update::{Params, reduce_and_apply};
use crate::data::Split;
use crate::kernel::blocking::CHUNK_ROWS;
use crate::kernel::{ChunkSums, Engine};

/// The most worker threads per core a training pool gets. Threads beyond the
/// cores only add overhead, and thousands of idle rayon workers looking for work
/// starve the working ones, so larger requests are capped.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The size of the worker pool for a requested thread count (`None`: one per
/// core), at most [`MAX_THREADS_PER_CORE`] per core.
pub fn pool_size(requested: Option<usize>) -> usize {
    let cores = cores();
    requested
        .unwrap_or(cores)
        .clamp(1, cores * MAX_THREADS_PER_CORE)
}

/// The threads of a pool of `pool` that compute an epoch whose minibatches
/// have `chunks` chunks: at most one per chunk, and at most one per core
/// unless `oversubscribe` (a thread beyond the cores only steals time from a
/// working one).
pub fn team_size(pool: usize, chunks: usize, oversubscribe: bool) -> usize {
    let cap = if oversubscribe { usize::MAX } else { cores() };
    pool.min(chunks).min(cap).max(1)
}

/// An epoch's summed loss and correct count, or why the model diverged.
pub(super) type EpochSums = Result<(f64, usize), Cause>;

/// What one epoch trains on.
pub(super) struct Epoch<'a> {
    pub train: &'a Split,
    /// The training samples in this epoch's order.
    pub order: &'a [usize],
    pub batch_size: usize,
    /// Each model's settings.
    pub settings: &'a [Setting],
    /// Steps taken in the run before this epoch.
    pub steps_before: u64,
    /// Whether pool threads beyond one per core take part too.
    pub oversubscribe: bool,
}

/// A model as the team holds it: its parameters and its sums so far (or
/// where it diverged).
type Member<W> = RwLock<(Params<W>, EpochSums)>;

/// The chunk sums of one minibatch, allocated once for the whole run: per
/// chunk, one [`ChunkSums`] per model.
pub(super) struct Team {
    sums: Vec<RwLock<Vec<ChunkSums>>>,
}

impl Team {
    /// Sums for `models` models of `features` x `classes` and minibatches of
    /// at most `batch_rows` rows.
    pub fn new((features, classes): (usize, usize), models: usize, batch_rows: usize) -> Self {
        let chunks = batch_rows.div_ceil(CHUNK_ROWS);
        let sums = (0..chunks)
            .map(|_| RwLock::new(vec![ChunkSums::new(features, classes); models]))
            .collect();
        Self { sums }
    }

    /// One epoch of every model of `models` (each with its own
    /// `epoch.settings`) with `engine`, in one pass over the data per step, on
    /// the threads of the current rayon pool ([`team_size`] of them take
    /// part). Returns each model's sums; a model that diverges stops updating
    /// there while the others go on.
    pub fn run_epoch<E: Engine>(
        &mut self,
        engine: &E,
        epoch: &Epoch<'_>,
        models: &mut [Params<E::Weights>],
        progress: &(impl Fn(usize) + Sync),
    ) -> Vec<EpochSums> {
        assert_eq!(
            epoch.settings.len(),
            models.len(),
            "settings for every model"
        );
        assert!(
            self.sums
                .iter()
                .all(|c| c.read().is_ok_and(|s| s.len() >= models.len()))
        );
        let team = team_size(
            rayon::current_num_threads(),
            self.sums.len(),
            epoch.oversubscribe,
        );
        let members: Vec<Member<E::Weights>> = models
            .iter()
            .map(|params| RwLock::new((params.clone(), Ok((0.0, 0)))))
            .collect();
        let shared = Shared {
            engine,
            epoch,
            sums: &self.sums,
            members: &members,
            barrier: SpinBarrier::new(team),
            team,
        };
        let steps = epoch.order.len().div_ceil(epoch.batch_size);
        rayon::broadcast(|thread| {
            let me = thread.index();
            if me >= team {
                return;
            }
            let mut scratch = {
                let member = members[0].read().expect(POISONED);
                engine.scratch(&member.0.weights, CHUNK_ROWS)
            };
            for step in 0..steps {
                shared.compute_my_chunks(me, step, &mut scratch);
                shared.barrier.wait();
                shared.update_my_models(me, step);
                shared.barrier.wait();
                if me == 0 {
                    let batch = epoch.batch_size;
                    progress(((step + 1) * batch).min(epoch.order.len()));
                }
                if shared.all_diverged() {
                    break;
                }
            }
        });
        models
            .iter_mut()
            .zip(members)
            .map(|(model, member)| {
                let (trained, outcome) = member.into_inner().expect(POISONED);
                *model = trained;
                outcome
            })
            .collect()
    }
}

/// The message of a poisoned lock: a thread panicked in a kernel.
const POISONED: &str = "no thread panics in a kernel";

/// What the team's threads share during an epoch.
struct Shared<'a, E: Engine> {
    engine: &'a E,
    epoch: &'a Epoch<'a>,
    sums: &'a [RwLock<Vec<ChunkSums>>],
    members: &'a [Member<E::Weights>],
    barrier: SpinBarrier,
    team: usize,
}

impl<E: Engine> Shared<'_, E> {
    /// The minibatch of step `step`.
    fn batch(&self, step: usize) -> &[usize] {
        let (order, size) = (self.epoch.order, self.epoch.batch_size);
        &order[(step * size).min(order.len())..((step + 1) * size).min(order.len())]
    }

    /// Thread `me`'s chunks of step `step`'s minibatch, for every model still
    /// training: each chunk's sums into its own buffer.
    fn compute_my_chunks(&self, me: usize, step: usize, scratch: &mut E::Scratch) {
        let rows = self.batch(step);
        let mine = chunks_of(me, self.team, rows.len().div_ceil(CHUNK_ROWS));
        let next = (step + 1) * self.epoch.batch_size < self.epoch.order.len();
        let next = next.then(|| self.batch(step + 1));
        let reading: Vec<_> = self
            .members
            .iter()
            .map(|m| m.read().expect(POISONED))
            .collect();
        for c in mine.clone() {
            let (chunk, ahead) = chunk_and_ahead(rows, c, mine.end, next, (me, self.team));
            let mut sums = self.sums[c].write().expect(POISONED);
            // Only the models still training: every thread sees the same
            // outcomes, so they agree on which those are.
            let (weights, mut sums): (Vec<_>, Vec<_>) = reading
                .iter()
                .zip(sums.iter_mut())
                .filter(|(m, _)| m.1.is_ok())
                .map(|(m, sums)| (&m.0.weights, sums))
                .unzip();
            let train = self.epoch.train;
            self.engine
                .step(&weights, train, (chunk, ahead), &mut sums, scratch);
        }
    }

    /// Thread `me`'s share of the models updated from step `step`'s chunk
    /// sums: each model's sums grow by the minibatch's, or it is marked
    /// diverged; a model already diverged is left alone.
    fn update_my_models(&self, me: usize, step: usize) {
        let rows = self.batch(step).len();
        let used: Vec<_> = self.sums[..rows.div_ceil(CHUNK_ROWS)]
            .iter()
            .map(|c| c.read().expect(POISONED))
            .collect();
        let t = self.epoch.steps_before + step as u64 + 1;
        for m in chunks_of(me, self.team, self.members.len()) {
            let mut member = self.members[m].write().expect(POISONED);
            let (params, outcome) = &mut *member;
            let Ok((loss_sum, correct)) = outcome else {
                continue;
            };
            let setting = &self.epoch.settings[m];
            let rule = StepRule::new(setting.optimizer, setting.learning_rate, t);
            let chunk_sums: Vec<&ChunkSums> = used.iter().map(|c| &c[m]).collect();
            let Params { weights, moments } = params;
            let moments = moments.as_mut().map(|[a, b]| [E::params(a), E::params(b)]);
            let isa = self.engine.isa();
            match reduce_and_apply(
                isa,
                E::params(weights),
                moments,
                &chunk_sums,
                (rows, rule, step),
            ) {
                Ok((l, c)) => {
                    *loss_sum += l;
                    *correct += c;
                }
                Err(cause) => *outcome = Err(cause),
            }
        }
    }

    /// Whether every model has diverged (the same answer on every thread
    /// after a meeting).
    fn all_diverged(&self) -> bool {
        self.members
            .iter()
            .all(|m| m.read().expect(POISONED).1.is_err())
    }
}

/// Chunk `c` of the minibatch `rows`, and the chunk the same thread computes
/// after it (to prefetch): its next chunk `c + 1` if it has one before `end`,
/// else its first chunk of the `next` minibatch (thread `me` of `team`), else
/// none.
fn chunk_and_ahead<'a>(
    rows: &'a [usize],
    c: usize,
    end: usize,
    next: Option<&'a [usize]>,
    (me, team): (usize, usize),
) -> (&'a [usize], &'a [usize]) {
    let chunk = |rows: &'a [usize], c: usize| {
        &rows[(c * CHUNK_ROWS).min(rows.len())..((c + 1) * CHUNK_ROWS).min(rows.len())]
    };
    let ahead = match next {
        _ if c + 1 < end => chunk(rows, c + 1),
        Some(next) => chunk(
            next,
            chunks_of(me, team, next.len().div_ceil(CHUNK_ROWS)).start,
        ),
        None => &[],
    };
    (chunk(rows, c), ahead)
}

/// The share of `n` chunks (or models) that thread `me` of a team of `team`
/// takes: `me * n / team` to `(me + 1) * n / team`.
fn chunks_of(me: usize, team: usize, n: usize) -> Range<usize> {
    me * n / team..(me + 1) * n / team
}
