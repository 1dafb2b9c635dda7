//! The thread team that computes an epoch's minibatches together, for one
//! model or many.
//!
//! A minibatch is cut into fixed chunks
//! ([`crate::kernel::Kernel::chunk_rows`] rows), and the models
//! still training into groups; a work item is one chunk for one group. Each
//! step, the team's threads claim the items one at a time (so a thread whose
//! vCPU runs slower for a while takes fewer, rather than being waited for)
//! and write each (chunk, model) pair's sums into its own buffer; the team
//! meets; the threads then claim the models one at a time and update each,
//! adding its chunk sums in chunk order; the team meets again before the next
//! minibatch reads the new weights. The chunks, the order of the sums and the
//! update do not depend on which thread computed what, so the weights are
//! bit-identical for any thread count. The threads stay in one rayon
//! broadcast for the whole epoch rather than being forked and joined (and put
//! to sleep and woken) for every minibatch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use super::barrier::SpinBarrier;
use super::config::Setting;
use super::divergence::Cause;
use super::optimizer::StepRule;
use super::update::{Params, reduce_and_apply};
use crate::compute::cores;
use crate::data::Split;
use crate::kernel::{ChunkSums, Engine};

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
/// chunk of `chunk_rows` rows, one [`ChunkSums`] per model.
pub(super) struct Team {
    sums: Vec<Vec<Mutex<ChunkSums>>>,
    chunk_rows: usize,
}

impl Team {
    /// Sums for `models` models of `features` x `classes` and minibatches of
    /// at most `batch_rows` rows cut into chunks of `chunk_rows`.
    pub fn new(
        (features, classes): (usize, usize),
        models: usize,
        (batch_rows, chunk_rows): (usize, usize),
    ) -> Self {
        let chunks = batch_rows.div_ceil(chunk_rows);
        let sums = (0..chunks)
            .map(|_| {
                (0..models)
                    .map(|_| Mutex::new(ChunkSums::new(features, classes)))
                    .collect()
            })
            .collect();
        Self { sums, chunk_rows }
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
        assert!(self.sums.iter().all(|c| c.len() >= models.len()));
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
            chunk_rows: self.chunk_rows,
            members: &members,
            barrier: SpinBarrier::new(team),
            team,
            compute_claimed: AtomicUsize::new(0),
            update_claimed: AtomicUsize::new(0),
        };
        let steps = epoch.order.len().div_ceil(epoch.batch_size);
        rayon::broadcast(|thread| {
            let me = thread.index();
            if me >= team {
                return;
            }
            let mut scratch = {
                let member = members[0].read().expect(POISONED);
                engine.scratch(&member.0.weights, self.chunk_rows)
            };
            for step in 0..steps {
                shared.compute_chunks(step, &mut scratch);
                shared.barrier.wait();
                if me == 0 {
                    shared.compute_claimed.store(0, Ordering::Relaxed);
                }
                shared.update_models(step);
                shared.barrier.wait();
                if me == 0 {
                    shared.update_claimed.store(0, Ordering::Relaxed);
                }
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
    sums: &'a [Vec<Mutex<ChunkSums>>],
    chunk_rows: usize,
    members: &'a [Member<E::Weights>],
    barrier: SpinBarrier,
    team: usize,
    /// Work items of the step's compute phase claimed so far (reset by
    /// thread 0 in the update phase).
    compute_claimed: AtomicUsize,
    /// Models of the step's update phase claimed so far (reset by thread 0
    /// in the next compute phase).
    update_claimed: AtomicUsize,
}

impl<E: Engine> Shared<'_, E> {
    /// The minibatch of step `step`.
    fn batch(&self, step: usize) -> &[usize] {
        let (order, size) = (self.epoch.order, self.epoch.batch_size);
        &order[(step * size).min(order.len())..((step + 1) * size).min(order.len())]
    }

    /// Step `step`'s chunks for every model still training, claimed by the
    /// team's threads one work item (a chunk for a group of models) at a
    /// time: each (chunk, model) pair's sums into its own buffer, whichever
    /// thread computes them.
    fn compute_chunks(&self, step: usize, scratch: &mut E::Scratch) {
        let rows = self.batch(step);
        let chunks = rows.len().div_ceil(self.chunk_rows);
        let next = (step + 1) * self.epoch.batch_size < self.epoch.order.len();
        let next = next.then(|| self.batch(step + 1));
        let reading: Vec<_> = self
            .members
            .iter()
            .map(|m| m.read().expect(POISONED))
            .collect();
        // Only the models still training: every thread sees the same
        // outcomes, so they agree on which those are.
        let training: Vec<usize> = (0..reading.len())
            .filter(|&m| reading[m].1.is_ok())
            .collect();
        let group = group_size(training.len(), chunks, self.team);
        let groups = training.len().div_ceil(group);
        let items = chunks * groups;
        loop {
            let item = self.compute_claimed.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            let (c, g) = (item / groups, item % groups);
            let models = &training[g * group..((g + 1) * group).min(training.len())];
            let ahead = ahead_of((rows, self.chunk_rows), item + self.team, groups, next);
            let weights: Vec<_> = models.iter().map(|&m| &reading[m].0.weights).collect();
            let mut guards: Vec<_> = models
                .iter()
                .map(|&m| self.sums[c][m].lock().expect(POISONED))
                .collect();
            let mut sums: Vec<&mut ChunkSums> = guards.iter_mut().map(|g| &mut **g).collect();
            let chunk = chunk_of(rows, self.chunk_rows, c);
            let train = self.epoch.train;
            self.engine
                .step(&weights, train, (chunk, ahead), &mut sums, scratch);
        }
    }

    /// The models updated from step `step`'s chunk sums, claimed by the
    /// team's threads one at a time: each model's sums grow by the
    /// minibatch's, or it is marked diverged; a model already diverged is
    /// left alone.
    fn update_models(&self, step: usize) {
        let rows = self.batch(step).len();
        let used = &self.sums[..rows.div_ceil(self.chunk_rows)];
        let t = self.epoch.steps_before + step as u64 + 1;
        loop {
            let m = self.update_claimed.fetch_add(1, Ordering::Relaxed);
            if m >= self.members.len() {
                break;
            }
            let mut member = self.members[m].write().expect(POISONED);
            let (params, outcome) = &mut *member;
            let Ok((loss_sum, correct)) = outcome else {
                continue;
            };
            let setting = &self.epoch.settings[m];
            let rule = StepRule::new(setting.optimizer, setting.learning_rate, t);
            let guards: Vec<_> = used.iter().map(|c| c[m].lock().expect(POISONED)).collect();
            let chunk_sums: Vec<&ChunkSums> = guards.iter().map(|g| &**g).collect();
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

/// Chunk `c` of the minibatch `rows` cut into chunks of `chunk_rows`.
fn chunk_of(rows: &[usize], chunk_rows: usize, c: usize) -> &[usize] {
    &rows[(c * chunk_rows).min(rows.len())..((c + 1) * chunk_rows).min(rows.len())]
}

/// The rows of work item `item` (of `groups` model groups per chunk of
/// `chunk_rows`) of the minibatch `rows`, or past its last item, of the
/// `next` minibatch: a guess at what the thread computes next, to prefetch.
fn ahead_of<'a>(
    (rows, chunk_rows): (&'a [usize], usize),
    item: usize,
    groups: usize,
    next: Option<&'a [usize]>,
) -> &'a [usize] {
    let items = rows.len().div_ceil(chunk_rows) * groups;
    match next {
        _ if item < items => chunk_of(rows, chunk_rows, item / groups),
        Some(next) => chunk_of(next, chunk_rows, (item - items) / groups),
        None => &[],
    }
}

/// Models per work item: as many as leave each of the `team` threads about
/// eight items a step of `chunks` chunks, so that a thread that runs slower
/// for a while is waited for by at most one small item.
fn group_size(models: usize, chunks: usize, team: usize) -> usize {
    let per_chunk = (ITEMS_PER_THREAD * team).div_ceil(chunks.max(1));
    (models / per_chunk).max(1)
}

/// The work items each thread of a team gets a step, about.
const ITEMS_PER_THREAD: usize = 8;

#[cfg(test)]
mod tests {
    use super::{ITEMS_PER_THREAD, ahead_of, chunk_of, group_size};
    use crate::kernel::blocking::CHUNK_ROWS;

    /// Groups cover every model, and a team gets enough items to share out
    /// (one model per item when there are too few models for that).
    #[test]
    fn groups_leave_every_thread_several_items() {
        for models in [1, 2, 7, 40, 1024] {
            for chunks in [1, 4, 16] {
                for team in [1, 2, 8] {
                    let group = group_size(models, chunks, team);
                    let items = chunks * models.div_ceil(group);
                    assert!(group >= 1 && group <= models);
                    assert!(
                        group == 1 || items >= ITEMS_PER_THREAD * team,
                        "{models} models, {chunks} chunks, {team} threads: {items} items"
                    );
                }
            }
        }
    }

    /// The rows ahead of an item are its chunk's in this minibatch, then the
    /// next minibatch's, then none.
    #[test]
    fn the_rows_ahead_follow_the_items_into_the_next_minibatch() {
        let rows: Vec<usize> = (0..3 * CHUNK_ROWS - 5).collect();
        let next: Vec<usize> = (1000..1000 + 2 * CHUNK_ROWS).collect();
        let (groups, cut) = (2, (&rows[..], CHUNK_ROWS));
        let chunk = |rows, c| chunk_of(rows, CHUNK_ROWS, c);
        assert_eq!(ahead_of(cut, 0, groups, Some(&next)), chunk(&rows, 0));
        assert_eq!(ahead_of(cut, 5, groups, Some(&next)), chunk(&rows, 2));
        assert_eq!(chunk(&rows, 2).len(), CHUNK_ROWS - 5);
        assert_eq!(ahead_of(cut, 6, groups, Some(&next)), chunk(&next, 0));
        assert_eq!(ahead_of(cut, 9, groups, Some(&next)), chunk(&next, 1));
        assert!(ahead_of(cut, 6, groups, None).is_empty());
        assert!(ahead_of(cut, 20, groups, Some(&next)).is_empty());
    }
}
