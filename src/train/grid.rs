//! A grid of settings: every combination of a few optimizers, learning
//! rates, momenta, weight decays, schedules and seeds is one model of a
//! sweep.

use super::config::Setting;
use super::optimizer::Optimizer;
use super::schedule::Schedule;

/// Which optimizer a sweep's models use; a sweep may list both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerKind {
    /// `torch.optim.SGD`, with the grid's momenta.
    Sgd,
    /// `torch.optim.Adam` with its default betas and epsilon.
    Adam,
}

/// The values to combine: every combination is one model. Momentum and
/// Nesterov apply to SGD only; Adam takes its default betas and epsilon.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// SGD, Adam or both.
    pub optimizers: Vec<OptimizerKind>,
    /// Learning rates.
    pub learning_rates: Vec<f32>,
    /// SGD momentum factors.
    pub momenta: Vec<f32>,
    /// Nesterov momentum for every SGD model with momentum.
    pub nesterov: bool,
    /// L2 weight decays.
    pub weight_decays: Vec<f32>,
    /// Learning-rate schedules.
    pub schedules: Vec<Schedule>,
    /// Seeds of the initial weights.
    pub seeds: Vec<u64>,
}

impl Default for Grid {
    /// The tutorial's one model: SGD, lr 0.1, seed 0.
    fn default() -> Self {
        Self {
            optimizers: vec![OptimizerKind::Sgd],
            learning_rates: vec![0.1],
            momenta: vec![0.0],
            nesterov: false,
            weight_decays: vec![0.0],
            schedules: vec![Schedule::Constant],
            seeds: vec![0],
        }
    }
}

impl Grid {
    /// How many models [`Grid::settings`] makes (saturating: it is checked
    /// against [`crate::compute::MAX_MODELS`] before they are made).
    pub fn count(&self) -> usize {
        self.optimizers
            .iter()
            .map(|&kind| match kind {
                OptimizerKind::Sgd => self.momenta.len(),
                OptimizerKind::Adam => 1,
            })
            .fold(0usize, |n, momenta| {
                n.saturating_add(
                    momenta
                        .saturating_mul(self.learning_rates.len())
                        .saturating_mul(self.weight_decays.len())
                        .saturating_mul(self.schedules.len())
                        .saturating_mul(self.seeds.len()),
                )
            })
    }

    /// Every combination, optimizer outermost and seed innermost (so the seeds
    /// of one configuration are neighbours).
    pub fn settings(&self) -> Vec<Setting> {
        let mut settings = Vec::new();
        for &kind in &self.optimizers {
            let momenta: &[f32] = match kind {
                OptimizerKind::Sgd => &self.momenta,
                OptimizerKind::Adam => &[0.0],
            };
            for &learning_rate in &self.learning_rates {
                for &momentum in momenta {
                    for &weight_decay in &self.weight_decays {
                        let optimizer = match kind {
                            OptimizerKind::Sgd => Optimizer::Sgd {
                                momentum,
                                nesterov: self.nesterov && momentum > 0.0,
                                weight_decay,
                            },
                            OptimizerKind::Adam => Optimizer::adam(weight_decay),
                        };
                        for &schedule in &self.schedules {
                            for &seed in &self.seeds {
                                settings.push(Setting {
                                    optimizer,
                                    learning_rate,
                                    seed,
                                    schedule,
                                });
                            }
                        }
                    }
                }
            }
        }
        settings
    }
}
