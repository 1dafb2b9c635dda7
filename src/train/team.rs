//! The thread team that computes an epoch's minibatches together, and its
//! barrier.
//!
//! A minibatch is cut into fixed chunks of [`CHUNK_ROWS`] rows; thread `t` of a
//! team of `T` computes a contiguous run of them (chunks `t * n / T` to
//! `(t + 1) * n / T`), and every thread then adds all chunks' sums in chunk
//! order and applies the same update to its own copy of the weights. The
//! chunks, the order of the sums and the update do not depend on the team's
//! size, so the copies stay bit-identical to each other and to a one-thread
//! run. The threads meet once per minibatch: the chunk sums are double
//! buffered on the global step number, so a thread can start the next step's
//! chunks while another still reads this step's sums.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use super::CHUNK_ROWS;
use super::optimizer::Optimizer;
use super::sgd::{EpochSums, Params, Update, reduce_and_apply};
use crate::data::Split;
use crate::kernel::gemm::GemmScratch;
use crate::kernel::{self, ChunkSums, Isa, Scratch, Weights};
use crate::model::Model;

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

/// What one epoch of a chunked kernel runs on.
#[derive(Clone, Copy)]
pub(super) struct EpochRun<'a> {
    pub train: &'a Split,
    pub order: &'a [usize],
    pub batch_size: usize,
    /// Each model's optimizer and learning rate.
    pub settings: &'a [(Optimizer, f32)],
    /// Steps taken in the run before this epoch.
    pub steps_before: u64,
    /// Whether pool threads beyond one per core take part too.
    pub oversubscribe: bool,
}

/// A kernel the team can run on chunks: the weights it reads, and how it
/// computes a chunk's sums (gradient in the weights' own layout).
pub(super) trait ChunkKernel: Sync {
    /// The weights in the layout this kernel reads.
    type Weights: Clone + Send + Sync;

    /// The working space one thread reuses for every chunk it computes.
    type Scratch;

    /// Working space for `weights`' shape.
    fn scratch(&self, weights: &Self::Weights) -> Self::Scratch;

    /// The sums of the chunk `rows` for each model `weights[i]` into
    /// `sums[i]`, prefetching `ahead` (`chunk` is `(rows, ahead)`).
    fn step(
        &self,
        weights: &[&Self::Weights],
        train: &Split,
        chunk: (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut Self::Scratch,
    );

    /// The weights and the bias as flat slices, in the layout of the gradient.
    fn params(weights: &mut Self::Weights) -> (&mut [f32], &mut [f32]);

    /// The instruction set the update runs with.
    fn isa(&self, weights: &Self::Weights) -> Isa;
}

/// The fused kernel on packed weights.
pub(super) struct Fused;

impl ChunkKernel for Fused {
    type Weights = Weights;
    type Scratch = Scratch;

    fn scratch(&self, weights: &Weights) -> Scratch {
        Scratch::new(weights.classes())
    }

    fn step(
        &self,
        w: &[&Weights],
        train: &Split,
        chunk: (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut Scratch,
    ) {
        kernel::step_models(w, &train.images, &train.labels, chunk, sums, scratch);
    }

    fn params(weights: &mut Weights) -> (&mut [f32], &mut [f32]) {
        (weights.packed.values_mut(), &mut weights.bias)
    }

    fn isa(&self, weights: &Weights) -> Isa {
        weights.isa()
    }
}

/// The GEMM baseline on row-major weights, its softmax pass compiled for the
/// instruction set.
pub(super) struct Gemm(pub Isa);

impl ChunkKernel for Gemm {
    type Weights = Model;
    type Scratch = GemmScratch;

    fn scratch(&self, model: &Model) -> GemmScratch {
        GemmScratch::new(model.features, model.classes, CHUNK_ROWS)
    }

    /// One model after another: the baseline has no shared pass.
    fn step(
        &self,
        models: &[&Model],
        train: &Split,
        (rows, _): (&[usize], &[usize]),
        sums: &mut [&mut ChunkSums],
        scratch: &mut GemmScratch,
    ) {
        let (images, labels) = (&train.images, &train.labels[..]);
        for (m, sums) in models.iter().zip(sums) {
            kernel::gemm::step(self.0, m, images, labels, rows, sums, scratch);
        }
    }

    fn params(model: &mut Model) -> (&mut [f32], &mut [f32]) {
        (&mut model.weights, &mut model.bias)
    }

    fn isa(&self, _: &Model) -> Isa {
        self.0
    }
}

/// The chunk sums every thread of the team reads, allocated once for the
/// whole run: two sets (this step's and the next's) of, per chunk of the
/// largest minibatch, one [`ChunkSums`] per model.
pub(super) struct SharedSums {
    sets: [Vec<RwLock<Vec<ChunkSums>>>; 2],
}

impl SharedSums {
    /// Sums for `models` models of `model`'s shape.
    pub fn new(model: &Model, models: usize, batch_size: usize) -> Self {
        let chunks = batch_size.div_ceil(CHUNK_ROWS);
        let set = || {
            (0..chunks)
                .map(|_| {
                    let sums = ChunkSums::new(model.features, model.classes);
                    RwLock::new(vec![sums; models])
                })
                .collect()
        };
        Self {
            sets: [set(), set()],
        }
    }

    /// One epoch of SGD with `kernel` for every model of `models` (each with
    /// its own `run.settings`), in one pass over the data, on the threads of
    /// the current rayon pool: at most one thread per chunk of a minibatch
    /// and, unless `run.oversubscribe`, one per core take part (any other pool
    /// threads sit this out, since spinning threads beyond the core count only
    /// steal time from working ones). They stay in one rayon broadcast for the
    /// whole epoch, rather than being forked and joined (and put to sleep and
    /// woken) for every minibatch.
    ///
    /// One model: every thread applies the update to its own copy of the
    /// weights, and the threads meet once per minibatch. Several: the models
    /// are shared, each thread updates its share of them, and the threads meet
    /// again before the next minibatch reads them (one update of each model
    /// in all, rather than one per thread). Either way each model's update
    /// reads the same sums in the same order, so the weights do not depend on
    /// the team.
    ///
    /// Returns each model's sums; a model that diverges stops updating there
    /// while the others go on.
    pub fn run_epoch<K: ChunkKernel>(
        &mut self,
        kernel: &K,
        run: &EpochRun<'_>,
        models: &mut [Params<K::Weights>],
        progress: &(impl Fn(usize) + Sync),
    ) -> Vec<EpochSums> {
        let EpochRun {
            train,
            order,
            batch_size,
            settings,
            steps_before,
            oversubscribe,
        } = *run;
        assert_eq!(settings.len(), models.len(), "settings for every model");
        assert!(
            self.sets[0]
                .iter()
                .all(|c| { c.read().is_ok_and(|sums| sums.len() >= models.len()) })
        );
        let sets = &self.sets;
        let team = team_size(rayon::current_num_threads(), sets[0].len(), oversubscribe);
        let barrier = SpinBarrier::new(team);
        let member = |params: &Params<K::Weights>| RwLock::new((params.clone(), Ok((0.0, 0))));
        let split = models.len() > 1;
        let shared: Vec<Member<K::Weights>> = if split {
            models.iter().map(member).collect()
        } else {
            Vec::new()
        };
        let start = &*models;
        let finished: Mutex<Option<Vec<Member<K::Weights>>>> = Mutex::new(None);
        let steps = order.len().div_ceil(batch_size);
        let batch =
            |step: usize| &order[step * batch_size..((step + 1) * batch_size).min(order.len())];
        let poisoned = "no thread panics in a kernel";
        rayon::broadcast(|thread| {
            let me = thread.index();
            if me >= team {
                return;
            }
            let local: Vec<Member<K::Weights>> = if split {
                Vec::new()
            } else {
                start.iter().map(member).collect()
            };
            let members = if split { &shared[..] } else { &local[..] };
            let updates = if split {
                share(me, team, members.len())
            } else {
                0..members.len()
            };
            let mut scratch = kernel.scratch(&members[0].read().expect(poisoned).0.weights);
            for step in 0..steps {
                let rows = batch(step);
                let chunks = rows.len().div_ceil(CHUNK_ROWS);
                let set = &sets[step % 2];
                let mine = share(me, team, chunks);
                {
                    let reading: Vec<_> =
                        members.iter().map(|m| m.read().expect(poisoned)).collect();
                    for c in mine.clone() {
                        let next = (step + 1 < steps).then(|| batch(step + 1));
                        let (chunk, ahead) = chunk_and_ahead(rows, c, mine.end, next, (me, team));
                        let mut sums = set[c].write().expect(poisoned);
                        // Only the models still training: every thread sees the
                        // same outcomes, so they agree on which those are.
                        let (weights, mut sums): (Vec<_>, Vec<_>) = reading
                            .iter()
                            .zip(sums.iter_mut())
                            .filter(|(m, _)| m.1.is_ok())
                            .map(|(m, sums)| (&m.0.weights, sums))
                            .unzip();
                        kernel.step(&weights, train, (chunk, ahead), &mut sums, &mut scratch);
                    }
                }
                barrier.wait();
                let used: Vec<_> = set[..chunks]
                    .iter()
                    .map(|c| c.read().expect(poisoned))
                    .collect();
                let t = steps_before + step as u64 + 1;
                for m in updates.clone() {
                    let (optimizer, lr) = settings[m];
                    let update = Update { optimizer, lr, t };
                    let chunk_sums: Vec<&ChunkSums> = used.iter().map(|c| &c[m]).collect();
                    let mut member = members[m].write().expect(poisoned);
                    apply(kernel, &mut member, &chunk_sums, (rows.len(), update, step));
                }
                drop(used);
                if split {
                    // The next minibatch reads every model's new weights.
                    barrier.wait();
                }
                if me == 0 {
                    progress((step * batch_size + rows.len()).min(order.len()));
                }
                if members.iter().all(|m| m.read().expect(poisoned).1.is_err()) {
                    break;
                }
            }
            if me == 0 {
                let result = if split { Vec::new() } else { local };
                *finished.lock().expect("only thread 0 finishes") = Some(result);
            }
        });
        let local = finished
            .into_inner()
            .expect("no thread panics holding the result")
            .expect("thread 0 always takes part");
        let members = if split { shared } else { local };
        let mut sums = Vec::with_capacity(members.len());
        for (model, member) in models.iter_mut().zip(members) {
            let (trained, outcome) = member.into_inner().expect(poisoned);
            *model = trained;
            sums.push(outcome);
        }
        sums
    }
}

/// A model as the team holds it: its parameters and its sums so far (or
/// where it diverged).
type Member<W> = RwLock<(Params<W>, EpochSums)>;

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
        Some(next) => chunk(next, share(me, team, next.len().div_ceil(CHUNK_ROWS)).start),
        None => &[],
    };
    (chunk(rows, c), ahead)
}

/// One model's update from the chunks' sums (`step` is `(rows, update,
/// 0-based step)`): its sums grow by the minibatch's, or it is marked
/// diverged; a model already diverged is left alone.
fn apply<K: ChunkKernel>(
    kernel: &K,
    (params, outcome): &mut (Params<K::Weights>, EpochSums),
    chunk_sums: &[&ChunkSums],
    (rows, update, step): (usize, Update, usize),
) {
    let Ok((loss_sum, correct)) = outcome else {
        return;
    };
    match reduce_and_apply(kernel, params, chunk_sums, rows, update, step) {
        Ok((l, c)) => {
            *loss_sum += l;
            *correct += c;
        }
        Err(divergence) => *outcome = Err(divergence),
    }
}

/// The chunks thread `me` of a team of `team` computes out of `chunks`.
fn share(me: usize, team: usize, chunks: usize) -> std::ops::Range<usize> {
    me * chunks / team..(me + 1) * chunks / team
}

/// A barrier for a team that meets many times a millisecond: it spins, then
/// yields (so that more threads than cores still make progress), and never
/// sleeps in the kernel, whose wake-up latency would dominate a short step.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Returns once all `threads` threads have called `wait` for this generation.
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 2_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}
