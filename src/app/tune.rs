//! Choosing the fused kernel's [`Plan`] by measurement: [`measure`] times
//! every candidate plan of an instruction set interleaved, on one thread, on
//! minibatches drawn from the whole training split as training reads them,
//! and [`choose`] picks the winner, which [`super::plan_cache`] keeps.

use std::time::Instant;

use crate::data::Split;
use crate::kernel::{ChunkSums, Isa, Plan, Scratch, Weights};
use crate::model::Model;
use crate::random::SeededRng;

use super::timing::{Spread, fused_minibatch};

/// One candidate's measured throughput (samples per second over its timed
/// runs).
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// The plan.
    pub plan: Plan,
    /// Samples per second: median, slowest and fastest run.
    pub rate: Spread,
}

/// Rounds of [`measure`]: each times every candidate once, in an order that
/// rotates from round to round, so that a change in the machine's speed hits
/// every candidate alike.
pub const ROUNDS: usize = 9;

/// Samples per timed run of one candidate: a third of Fashion-MNIST's
/// training split, about 10 ms at this kernel's speed.
const SAMPLES_PER_RUN: usize = 20_000;

/// Times every plan of `candidates` (one thread, `batch_size`-sample
/// minibatches of a fixed shuffle of `train`, as an epoch reads them) over
/// `rounds` interleaved rounds; the fastest median first.
pub fn measure(
    isa: Isa,
    train: &Split,
    classes: usize,
    batch_size: usize,
    candidates: &[Plan],
    rounds: usize,
) -> Vec<Timed> {
    let model = Model::init(train.images.features(), classes, &mut SeededRng::new(1));
    let mut order: Vec<usize> = (0..train.len()).collect();
    SeededRng::new(2).shuffle(&mut order);
    order.truncate(SAMPLES_PER_RUN);
    let weights: Vec<Weights> = candidates
        .iter()
        .map(|&plan| Weights::planned(isa, plan, &model))
        .collect();
    let mut sums = ChunkSums::new(model.features, model.classes);
    let mut scratch = Scratch::new(model.classes);
    let rounds = rounds.max(1);
    let mut rates = vec![Vec::with_capacity(rounds); candidates.len()];
    for round in 0..rounds {
        for i in 0..candidates.len() {
            let c = (i + round) % candidates.len();
            let start = Instant::now();
            for batch in order.chunks(batch_size.max(1)) {
                std::hint::black_box(fused_minibatch(
                    &weights[c],
                    train,
                    batch,
                    &mut sums,
                    &mut scratch,
                ));
            }
            rates[c].push(order.len() as f64 / start.elapsed().as_secs_f64());
        }
    }
    let mut timed: Vec<Timed> = candidates
        .iter()
        .zip(rates)
        .map(|(&plan, rates)| Timed {
            plan,
            rate: Spread::of(rates),
        })
        .collect();
    timed.sort_by(|a, b| b.rate.median.total_cmp(&a.rate.median));
    timed
}

/// How much faster than the default a candidate's median must be to be
/// chosen over it: less is within the noise of a shared machine, and the
/// default needs no file.
pub const MARGIN: f64 = 1.02;

/// The plan a measurement chooses: the fastest, unless it beats `default`
/// by less than [`MARGIN`] (or the default was not measured).
pub fn choose(timed: &[Timed], default: Plan) -> Plan {
    let rate = |plan: Plan| timed.iter().find(|t| t.plan == plan).map(|t| t.rate.median);
    match (timed.first(), rate(default)) {
        (Some(fastest), Some(default_rate)) if fastest.rate.median < MARGIN * default_rate => {
            default
        }
        (Some(fastest), _) => fastest.plan,
        (None, _) => default,
    }
}
