//! The order of a fit of many penalties: every model from zero in lockstep,
//! or along the path, strongest penalty first, each next one from near the
//! previous optimum.

use std::sync::Arc;

use super::config::{FitConfig, Start};
use super::lbfgs::{Lbfgs, Preconditioner};

/// A model being fitted: its solver (once it started), its preconditioner,
/// its penalty's λ, and f32 weights in the engine's layout to evaluate its
/// trial points with.
pub(super) struct Member<W> {
    pub solver: Option<Lbfgs>,
    pub preconditioner: Option<Arc<dyn Preconditioner>>,
    pub lambda: f64,
    pub weights: W,
}

/// Every model solving, and every model once the fit ends, has started.
pub(super) const STARTED: &str = "a solving model has started";

impl<W> Member<W> {
    fn done(&self) -> bool {
        self.solver.as_ref().is_some_and(|s| s.stopped().is_some())
    }
}

/// The models solving in the next pass: every one not done when all start
/// from zero; on a path, the first not done in `path` order, started when
/// it comes up, near its predecessor's optimum ([`predicted_start`]; the
/// path's first starts from zero).
pub(super) fn solving<W>(
    members: &mut [Member<W>],
    config: &FitConfig,
    path: &[usize],
) -> Vec<usize> {
    if config.start == Start::Zero {
        return (0..members.len()).filter(|&m| !members[m].done()).collect();
    }
    let Some(at) = path.iter().position(|&m| !members[m].done()) else {
        return Vec::new();
    };
    let m = path[at];
    if members[m].solver.is_none() {
        let p = path[at - 1];
        let previous = members[p].solver.as_ref().expect("done before");
        let x0 = match at.checked_sub(2).map(|q| path[q]) {
            Some(q) => {
                let before = members[q].solver.as_ref().expect("done before");
                let lambdas = [members[q].lambda, members[p].lambda, members[m].lambda];
                predicted_start([before.x(), previous.x()], lambdas)
            }
            None => previous.x().to_vec(),
        };
        let solver = Lbfgs::preconditioned(x0, config.solver, members[m].preconditioner.clone());
        members[m].solver = Some(solver);
    }
    vec![m]
}

/// Where a model on the path starts: on the line through the previous two
/// optima `[before, previous]` (of λ `lambdas[0]` and `lambdas[1]`),
/// extended in log λ to its own λ `lambdas[2]`, at most one previous gap
/// beyond `previous` (the secant predictor of numerical continuation: the
/// optimum moves smoothly with log λ, and a grid of strengths is most often
/// even in it).
fn predicted_start([before, previous]: [&[f64]; 2], lambdas: [f64; 3]) -> Vec<f64> {
    let [q, p, m] = lambdas;
    let along = (m / p).ln() / (p / q).ln();
    let along = if along.is_nan() {
        0.0
    } else {
        along.clamp(0.0, 1.0)
    };
    previous
        .iter()
        .zip(before)
        .map(|(x, b)| x + along * (x - b))
        .collect()
}
