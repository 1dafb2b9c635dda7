//! L-BFGS, as scipy's `L-BFGS-B` runs it on a problem without bounds (the
//! solver behind scikit-learn's `LogisticRegression`): a history of 10
//! curvature pairs, a line search that ends on the strong Wolfe conditions
//! (c1 = 1e-4, c2 = 0.9), the first step of length 1/‖g‖ and every later one
//! tried at 1, and scipy's stops: the largest gradient component at most
//! `gtol` (`pgtol`), a relative objective reduction at most `ftol`, or
//! `max_iter` iterations.
//!
//! It is written ask-and-tell ([`Lbfgs::point`] asks for the objective and
//! gradient at a point, [`Lbfgs::tell`] gives them) rather than calling a
//! closure, so that one pass over the data can evaluate many solvers, each at
//! its own trial point: a sweep of regularisation strengths in lockstep
//! (`sweep --from-zero`), or along a path, each from near the last. The
//! L-BFGS crates at hand (argmin's among them) own the loop and call the
//! objective themselves, which rules that out.
//!
//! The line search is Nocedal and Wright's (Numerical Optimization, 2nd ed.,
//! algorithms 3.5 and 3.6): extrapolate until the step brackets an
//! acceptable one, then shrink the bracket with safeguarded cubic
//! interpolation. Near the optimum the decrease a step makes falls below the
//! objective's rounding (a full-batch loss summed in f32 rows), so, as Hager
//! and Zhang's CG_DESCENT does, a step also counts as decreasing enough when
//! its slope says so and the objective is within its rounding of the start.
//! It accepts the same steps as scipy's Moré-Thuente search (both end on the
//! strong Wolfe conditions), though not always the same one.
//!
//! A [`Preconditioner`] M, when given, replaces the identity scipy starts
//! each direction from: the solver is then L-BFGS in the coordinates where M
//! is the identity (z = Lᵀx for M = L Lᵀ), every inner product it takes
//! (the two-loop's, the first step's length, the scaling γ, the test that
//! keeps a pair) measured in them. Its stops stay those of the objective as
//! posed: the gradient's largest component, not the preconditioned one's.
//!
//! One concept, one file, longer than most: the solver, its line search and
//! its tests (about a third of the file) read together, as matrixmultiply's
//! kernels do; split, each half would need the other to be understood.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;

use crate::linalg::{axpy, dot};

/// The sufficient-decrease constant of the Wolfe conditions.
const C1: f64 = 1e-4;
/// The curvature constant of the strong Wolfe conditions.
const C2: f64 = 0.9;
/// Hager and Zhang's approximate sufficient decrease: a step whose slope is
/// at most (1 − 2δ) of the starting one in magnitude lowers the objective by
/// δ α |φ'(0)| to second order, which the gradient tells when the objective's
/// own rounding hides it. δ:
const APPROXIMATE_DELTA: f64 = 0.1;
/// ... trusted only while the objective is within this of its starting
/// value, relatively: the size of the objective's rounding that the
/// approximate test stands in for.
const APPROXIMATE_WITHIN: f64 = 1e-7;

/// An approximation M of the objective's Hessian, fixed for a whole
/// minimisation, that L-BFGS starts each direction from.
pub trait Preconditioner: Debug + Send + Sync {
    /// `v ← M⁻¹ v`.
    fn solve(&self, v: &mut [f64]);
}

/// How the solver runs and when it stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsSettings {
    /// Curvature pairs kept (scipy's `maxcor`).
    pub history: usize,
    /// Stop when every gradient component is at most this in absolute value
    /// (scipy's `pgtol`, scikit-learn's `tol`).
    pub gtol: f64,
    /// Stop when an iteration lowers the objective by at most this, relative
    /// to `max(|f|, |f_new|, 1)` (scipy's `ftol`).
    pub ftol: f64,
    /// Stop after this many iterations (accepted steps).
    pub max_iter: usize,
    /// Objective evaluations one line search may take (scipy's `maxls`).
    pub max_line_search: usize,
}

impl Default for LbfgsSettings {
    /// scikit-learn's `LogisticRegression(solver="lbfgs")`: `tol` 1e-4,
    /// `max_iter` 100, scipy's `maxcor` 10, and the `ftol` (64 machine
    /// epsilons) and `maxls` (50) it passes.
    fn default() -> Self {
        Self {
            history: 10,
            gtol: 1e-4,
            ftol: 64.0 * f64::EPSILON,
            max_iter: 100,
            max_line_search: 50,
        }
    }
}

/// Why the solver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbfgsStop {
    /// Every gradient component is at most `gtol`.
    Converged,
    /// An iteration lowered the objective by at most `ftol`, relatively.
    ObjectiveStalled,
    /// `max_iter` iterations, not converged.
    MaxIterations,
    /// No step along the steepest descent direction lowers the objective:
    /// the objective's own rounding is larger than what is left to gain.
    LineSearchFailed,
    /// The objective or gradient at the starting point is not finite.
    NotFinite,
}

/// What [`Lbfgs::tell`] did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbfgsProgress {
    /// The line search wants another point: evaluate [`Lbfgs::point`].
    Searching,
    /// An iteration ended (a step was accepted, or the start was evaluated);
    /// evaluate [`Lbfgs::point`] next.
    Iterated,
    /// The solver stopped; [`Lbfgs::x`] is where.
    Stopped(LbfgsStop),
}

/// A point of the line search: the step, the objective and its slope along
/// the direction.
#[derive(Debug, Clone)]
struct Sample {
    step: f64,
    f: f64,
    slope: f64,
    gradient: Vec<f64>,
    /// Whether it decreases the objective enough by the objective's value
    /// (rather than only by its slope, the approximate test).
    exact: bool,
}

/// The line search under way along the current direction.
#[derive(Debug)]
struct Search {
    /// The objective and slope at step 0 (the current iterate).
    f0: f64,
    slope0: f64,
    /// The step being evaluated.
    step: f64,
    /// The last step tried while extrapolating (step 0 at first).
    previous: Sample,
    /// Once bracketed: the best step so far (it decreases the objective
    /// enough), and the other end of the bracket.
    bracket: Option<(Sample, Sample)>,
    evaluations: usize,
}

/// One curvature pair: the step `s`, the gradient change `y`, 1/(s·y) and
/// y·M⁻¹y.
#[derive(Debug)]
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
    yy: f64,
}

/// An L-BFGS solver in the middle of a minimisation.
#[derive(Debug)]
pub struct Lbfgs {
    settings: LbfgsSettings,
    /// The current iterate, its objective and gradient (valid once the
    /// starting point was told).
    x: Vec<f64>,
    f: f64,
    gradient: Vec<f64>,
    pairs: VecDeque<Pair>,
    direction: Vec<f64>,
    /// ‖s‖ of the last accepted step.
    last_step: f64,
    /// The point to evaluate next.
    trial: Vec<f64>,
    /// None until the starting point was told, and after a stop.
    search: Option<Search>,
    iterations: usize,
    evaluations: usize,
    stopped: Option<LbfgsStop>,
    /// M, when not the identity.
    preconditioner: Option<Arc<dyn Preconditioner>>,
}

impl Lbfgs {
    /// A solver starting at `x0`, which it asks for first.
    pub fn new(x0: Vec<f64>, settings: LbfgsSettings) -> Self {
        Self::preconditioned(x0, settings, None)
    }

    /// A solver starting at `x0` whose directions start from M⁻¹ rather
    /// than the identity, with M = `preconditioner` when there is one.
    pub fn preconditioned(
        x0: Vec<f64>,
        settings: LbfgsSettings,
        preconditioner: Option<Arc<dyn Preconditioner>>,
    ) -> Self {
        Self {
            settings,
            trial: x0.clone(),
            x: x0,
            f: f64::NAN,
            gradient: Vec::new(),
            pairs: VecDeque::new(),
            direction: Vec::new(),
            last_step: 0.0,
            search: None,
            iterations: 0,
            evaluations: 0,
            stopped: None,
            preconditioner,
        }
    }

    /// The point whose objective and gradient the solver needs next.
    pub fn point(&self) -> &[f64] {
        &self.trial
    }

    /// The current iterate: the best point accepted so far.
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// The objective at [`Lbfgs::x`].
    pub fn objective(&self) -> f64 {
        self.f
    }

    /// The gradient at [`Lbfgs::x`].
    pub fn gradient(&self) -> &[f64] {
        &self.gradient
    }

    /// The largest gradient component at [`Lbfgs::x`], in absolute value.
    pub fn gradient_max(&self) -> f64 {
        max_abs(&self.gradient)
    }

    /// Iterations (accepted steps) so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Objective evaluations so far.
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// The length of the last accepted step, ‖s‖.
    pub fn last_step(&self) -> f64 {
        self.last_step
    }

    /// Why the solver stopped, once it has.
    pub fn stopped(&self) -> Option<LbfgsStop> {
        self.stopped
    }

    /// The objective `f` and its gradient at [`Lbfgs::point`].
    pub fn tell(&mut self, f: f64, gradient: &[f64]) -> LbfgsProgress {
        assert!(self.stopped.is_none(), "a stopped solver asks for nothing");
        assert_eq!(
            gradient.len(),
            self.x.len(),
            "a gradient for every variable"
        );
        self.evaluations += 1;
        let Some(mut search) = self.search.take() else {
            return self.start(f, gradient);
        };
        search.evaluations += 1;
        let slope = dot(gradient, &self.direction);
        let mut sample = Sample {
            step: search.step,
            f: if f.is_finite() { f } else { f64::INFINITY },
            slope,
            gradient: gradient.to_vec(),
            exact: false,
        };
        let within = APPROXIMATE_WITHIN * search.f0.abs();
        let approximate = sample.f <= search.f0 + within
            && sample.slope <= (1.0 - 2.0 * APPROXIMATE_DELTA) * -search.slope0;
        sample.exact = sample.f <= search.f0 + C1 * sample.step * search.slope0;
        let sufficient = sample.exact || approximate;
        let curvature = sample.slope.abs() <= -C2 * search.slope0;
        match search.bracket.take() {
            None => {
                let first = search.previous.step == 0.0;
                if !sufficient || (!first && !approximate && sample.f >= search.previous.f) {
                    let low = search.previous.clone();
                    search.bracket = Some((low, sample));
                } else if curvature {
                    return self.accept(sample);
                } else if sample.slope >= 0.0 {
                    let high = search.previous.clone();
                    search.bracket = Some((sample, high));
                } else {
                    search.step = sample.step * 2.0;
                    search.previous = sample;
                }
            }
            Some((mut low, mut high)) => {
                if !sufficient || (!approximate && sample.f >= low.f) {
                    high = sample;
                } else {
                    if curvature {
                        return self.accept(sample);
                    }
                    if sample.slope * (high.step - low.step) >= 0.0 {
                        high = low;
                    }
                    low = sample;
                }
                search.bracket = Some((low, high));
            }
        }
        if let Some((low, high)) = &search.bracket {
            let width = (high.step - low.step).abs();
            if search.evaluations >= self.settings.max_line_search
                || width <= f64::EPSILON * low.step.abs().max(high.step.abs())
            {
                return self.search_failed(low.clone());
            }
            search.step = interpolate(low, high);
        } else if search.evaluations >= self.settings.max_line_search {
            let best = search.previous.clone();
            return self.search_failed(best);
        }
        self.set_trial(search.step);
        self.search = Some(search);
        LbfgsProgress::Searching
    }

    /// The starting point told: stop, or search along steepest descent with
    /// a step of length 1/‖g‖.
    fn start(&mut self, f: f64, gradient: &[f64]) -> LbfgsProgress {
        self.f = f;
        self.gradient = gradient.to_vec();
        if !f.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            return self.stop(LbfgsStop::NotFinite);
        }
        if max_abs(gradient) <= self.settings.gtol {
            return self.stop(LbfgsStop::Converged);
        }
        if self.settings.max_iter == 0 {
            return self.stop(LbfgsStop::MaxIterations);
        }
        self.search_along_steepest_descent();
        LbfgsProgress::Iterated
    }

    /// Steepest descent in M's coordinates, −M⁻¹g, with a first step of
    /// length 1 there: 1/√(g·M⁻¹g).
    fn search_along_steepest_descent(&mut self) {
        let mut direction: Vec<f64> = self.gradient.iter().map(|g| -g).collect();
        self.precondition(&mut direction);
        self.direction = direction;
        let step = 1.0 / (-dot(&self.gradient, &self.direction)).sqrt();
        self.begin_search(step);
    }

    /// `v · M⁻¹v`: `v`'s squared length in M's coordinates.
    fn inverse_square(&self, v: &[f64]) -> f64 {
        match &self.preconditioner {
            Some(m) => {
                let mut solved = v.to_vec();
                m.solve(&mut solved);
                dot(v, &solved)
            }
            None => dot(v, v),
        }
    }

    /// `v ← M⁻¹ v` (nothing without a preconditioner).
    fn precondition(&self, v: &mut [f64]) {
        if let Some(m) = &self.preconditioner {
            m.solve(v);
        }
    }

    fn begin_search(&mut self, step: f64) {
        let slope0 = dot(&self.gradient, &self.direction);
        self.search = Some(Search {
            f0: self.f,
            slope0,
            step,
            previous: Sample {
                step: 0.0,
                f: self.f,
                slope: slope0,
                gradient: self.gradient.clone(),
                exact: false,
            },
            bracket: None,
            evaluations: 0,
        });
        self.set_trial(step);
    }

    fn set_trial(&mut self, step: f64) {
        for ((t, x), d) in self.trial.iter_mut().zip(&self.x).zip(&self.direction) {
            *t = x + step * d;
        }
    }

    /// The line search ended at `sample`: move there, keep the curvature
    /// pair if it is one, and stop or set up the next search.
    fn accept(&mut self, sample: Sample) -> LbfgsProgress {
        let s: Vec<f64> = self.direction.iter().map(|d| sample.step * d).collect();
        let y: Vec<f64> = sample
            .gradient
            .iter()
            .zip(&self.gradient)
            .map(|(new, old)| new - old)
            .collect();
        for (x, s) in self.x.iter_mut().zip(&s) {
            *x += s;
        }
        let previous_f = self.f;
        let exact = sample.exact;
        self.f = sample.f;
        self.gradient = sample.gradient;
        self.iterations += 1;
        self.last_step = dot(&s, &s).sqrt();
        let sy = dot(&s, &y);
        let yy = self.inverse_square(&y);
        // scipy keeps a pair only when s·y > eps ‖y‖²: otherwise the update
        // would not stay positive definite.
        if sy > f64::EPSILON * yy {
            if self.pairs.len() == self.settings.history {
                self.pairs.pop_front();
            }
            self.pairs.push_back(Pair {
                s,
                y,
                rho: 1.0 / sy,
                yy,
            });
        }
        if max_abs(&self.gradient) <= self.settings.gtol {
            return self.stop(LbfgsStop::Converged);
        }
        // A step taken on its slope alone made a decrease the objective's
        // rounding hides: it says nothing of stalling.
        let scale = previous_f.abs().max(self.f.abs()).max(1.0);
        if exact && previous_f - self.f <= self.settings.ftol * scale {
            return self.stop(LbfgsStop::ObjectiveStalled);
        }
        if self.iterations >= self.settings.max_iter {
            return self.stop(LbfgsStop::MaxIterations);
        }
        self.direction = self.two_loop();
        if dot(&self.gradient, &self.direction) >= 0.0 {
            // Rounding made the quasi-Newton direction useless: start over.
            self.pairs.clear();
            self.search_along_steepest_descent();
        } else {
            self.begin_search(1.0);
        }
        LbfgsProgress::Iterated
    }

    /// No acceptable step was found: take `best` if it lowers the objective
    /// enough (it does whenever it is not step 0), else start over along
    /// steepest descent once, else stop.
    fn search_failed(&mut self, best: Sample) -> LbfgsProgress {
        if best.step > 0.0 {
            return self.accept(best);
        }
        if !self.pairs.is_empty() {
            self.pairs.clear();
            self.search_along_steepest_descent();
            return LbfgsProgress::Searching;
        }
        self.stop(LbfgsStop::LineSearchFailed)
    }

    fn stop(&mut self, why: LbfgsStop) -> LbfgsProgress {
        self.stopped = Some(why);
        self.search = None;
        self.trial.clone_from(&self.x);
        LbfgsProgress::Stopped(why)
    }

    /// The quasi-Newton direction −H g by the two-loop recursion over the
    /// curvature pairs, H₀ = (s·y / y·M⁻¹y) M⁻¹ from the newest pair.
    fn two_loop(&self) -> Vec<f64> {
        let pairs = &self.pairs;
        let mut q = self.gradient.clone();
        let mut alphas = Vec::with_capacity(pairs.len());
        for pair in pairs.iter().rev() {
            let alpha = pair.rho * dot(&pair.s, &q);
            axpy(-alpha, &pair.y, &mut q);
            alphas.push(alpha);
        }
        self.precondition(&mut q);
        if let Some(newest) = pairs.back() {
            let gamma = 1.0 / (newest.rho * newest.yy);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for (pair, alpha) in pairs.iter().zip(alphas.iter().rev()) {
            let beta = pair.rho * dot(&pair.y, &q);
            axpy(alpha - beta, &pair.s, &mut q);
        }
        q.iter().map(|v| -v).collect()
    }
}

/// A step inside the bracket `low`..`high`: the minimiser of the cubic
/// through both ends' values and slopes, kept at least a tenth of the
/// bracket from either end (bisection where the cubic has none).
fn interpolate(low: &Sample, high: &Sample) -> f64 {
    let (a, b) = (low.step, high.step);
    let d1 = low.slope + high.slope - 3.0 * (low.f - high.f) / (a - b);
    let radicand = d1 * d1 - low.slope * high.slope;
    let cubic = if radicand >= 0.0 && high.f.is_finite() {
        let d2 = radicand.sqrt().copysign(b - a);
        b - (b - a) * (high.slope + d2 - d1) / (high.slope - low.slope + 2.0 * d2)
    } else {
        f64::NAN
    };
    let (lo, hi) = (a.min(b), a.max(b));
    let margin = 0.1 * (hi - lo);
    if cubic.is_finite() {
        cubic.clamp(lo + margin, hi - margin)
    } else {
        0.5 * (a + b)
    }
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the solver on `objective` from `x0`, checking every accepted
    /// step against the strong Wolfe conditions.
    fn minimise(
        objective: impl Fn(&[f64]) -> (f64, Vec<f64>),
        x0: Vec<f64>,
        settings: LbfgsSettings,
    ) -> Lbfgs {
        let mut solver = Lbfgs::new(x0, settings);
        loop {
            let (before_f, before_g, before_x) = (
                solver.objective(),
                solver.gradient().to_vec(),
                solver.x().to_vec(),
            );
            let (f, g) = objective(solver.point());
            match solver.tell(f, &g) {
                LbfgsProgress::Searching => {}
                LbfgsProgress::Iterated if solver.iterations() > 0 && before_f.is_finite() => {
                    let s: Vec<f64> = solver
                        .x()
                        .iter()
                        .zip(&before_x)
                        .map(|(a, b)| a - b)
                        .collect();
                    let slope0 = dot(&before_g, &s);
                    assert!(slope0 < 0.0, "a descent direction");
                    assert!(
                        solver.objective() <= before_f + C1 * slope0,
                        "sufficient decrease"
                    );
                    assert!(
                        dot(solver.gradient(), &s).abs() <= -C2 * slope0 + 1e-12,
                        "curvature"
                    );
                }
                LbfgsProgress::Iterated => {}
                LbfgsProgress::Stopped(_) => return solver,
            }
        }
    }

    fn rosenbrock(x: &[f64]) -> (f64, Vec<f64>) {
        let (a, b) = (x[0], x[1]);
        let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let g = vec![
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
            200.0 * (b - a * a),
        ];
        (f, g)
    }

    #[test]
    fn rosenbrock_is_minimised_to_the_tolerance() {
        // Without the objective test, which near f = 0 stops first.
        let settings = LbfgsSettings {
            gtol: 1e-10,
            ftol: 0.0,
            max_iter: 1000,
            ..LbfgsSettings::default()
        };
        let solver = minimise(rosenbrock, vec![-1.2, 1.0], settings);
        assert_eq!(solver.stopped(), Some(LbfgsStop::Converged));
        assert!(solver.gradient_max() <= 1e-10);
        assert!((solver.x()[0] - 1.0).abs() < 1e-9 && (solver.x()[1] - 1.0).abs() < 1e-9);
        // scipy's L-BFGS-B takes 35-40 iterations from this start.
        assert!(
            solver.iterations() < 60,
            "{} iterations",
            solver.iterations()
        );
        let no_gradient_test = LbfgsSettings {
            gtol: 0.0,
            max_iter: 1000,
            ..LbfgsSettings::default()
        };
        let stalled = minimise(rosenbrock, vec![-1.2, 1.0], no_gradient_test);
        assert_eq!(stalled.stopped(), Some(LbfgsStop::ObjectiveStalled));
        assert!(stalled.objective() < 1e-20, "{}", stalled.objective());
    }

    #[test]
    fn a_quadratic_is_solved_exactly_in_few_iterations() {
        // f = ½ Σ c_i x_i², condition number 1000, 50 variables.
        let c: Vec<f64> = (0..50).map(|i| 1000f64.powf(i as f64 / 49.0)).collect();
        let objective = |x: &[f64]| {
            let f = x.iter().zip(&c).map(|(x, c)| 0.5 * c * x * x).sum();
            (f, x.iter().zip(&c).map(|(x, c)| c * x).collect())
        };
        let settings = LbfgsSettings {
            gtol: 1e-8,
            ftol: 0.0,
            max_iter: 500,
            ..LbfgsSettings::default()
        };
        let solver = minimise(objective, vec![1.0; 50], settings);
        assert_eq!(solver.stopped(), Some(LbfgsStop::Converged));
        assert!(solver.x().iter().all(|x| x.abs() < 1e-8));
    }

    /// M = diag(m).
    #[derive(Debug)]
    struct Diagonal(Vec<f64>);

    impl Preconditioner for Diagonal {
        fn solve(&self, v: &mut [f64]) {
            v.iter_mut().zip(&self.0).for_each(|(v, m)| *v /= m);
        }
    }

    #[test]
    fn the_exact_hessian_as_preconditioner_solves_a_quadratic_at_once() {
        // f = ½ Σ c_i (x_i − 1)², condition number 10⁶: the plain solver
        // needs dozens of iterations, with M = the Hessian it needs a line
        // search along M⁻¹g and one Newton step.
        let c: Vec<f64> = (0..40).map(|i| 1e6f64.powf(i as f64 / 39.0)).collect();
        let objective = |x: &[f64]| {
            let f = x
                .iter()
                .zip(&c)
                .map(|(x, c)| 0.5 * c * (x - 1.0).powi(2))
                .sum();
            (f, x.iter().zip(&c).map(|(x, c)| c * (x - 1.0)).collect())
        };
        let settings = LbfgsSettings {
            gtol: 1e-6,
            ftol: 0.0,
            max_iter: 1000,
            ..LbfgsSettings::default()
        };
        let plain = minimise(
            objective,
            vec![0.0; 40],
            LbfgsSettings {
                max_iter: 20,
                ..settings
            },
        );
        assert_eq!(plain.stopped(), Some(LbfgsStop::MaxIterations));
        let mut solver =
            Lbfgs::preconditioned(vec![0.0; 40], settings, Some(Arc::new(Diagonal(c.clone()))));
        loop {
            let (f, g) = objective(solver.point());
            if let LbfgsProgress::Stopped(_) = solver.tell(f, &g) {
                break;
            }
        }
        assert_eq!(solver.stopped(), Some(LbfgsStop::Converged));
        assert!(solver.x().iter().all(|x| (x - 1.0).abs() <= 1e-6));
        assert!(
            solver.iterations() <= 3,
            "{} iterations",
            solver.iterations()
        );
    }

    #[test]
    fn it_stops_where_asked() {
        let limited = LbfgsSettings {
            max_iter: 3,
            ..LbfgsSettings::default()
        };
        let solver = minimise(rosenbrock, vec![-1.2, 1.0], limited);
        assert_eq!(solver.stopped(), Some(LbfgsStop::MaxIterations));
        assert_eq!(solver.iterations(), 3);
        let at_optimum = minimise(rosenbrock, vec![1.0, 1.0], LbfgsSettings::default());
        assert_eq!(at_optimum.stopped(), Some(LbfgsStop::Converged));
        assert_eq!(at_optimum.evaluations(), 1);
        let infinite = minimise(|_| (f64::INFINITY, vec![0.0]), vec![0.0], limited);
        assert_eq!(infinite.stopped(), Some(LbfgsStop::NotFinite));
    }

    #[test]
    fn a_step_to_an_infinite_objective_is_shortened() {
        // Finite only on (-1, 1): the first steps overshoot into infinity.
        let barrier = |x: &[f64]| {
            let v = x[0];
            if v.abs() >= 1.0 {
                (f64::INFINITY, vec![f64::NAN])
            } else {
                (
                    -(1.0 - v * v).ln() + 0.3 * v,
                    vec![2.0 * v / (1.0 - v * v) + 0.3],
                )
            }
        };
        let settings = LbfgsSettings {
            gtol: 1e-12,
            ..LbfgsSettings::default()
        };
        let solver = minimise(barrier, vec![0.9], settings);
        assert_eq!(solver.stopped(), Some(LbfgsStop::Converged));
        assert!(solver.objective().is_finite());
    }
}
