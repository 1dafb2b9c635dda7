//! A grid of settings: every combination of a few optimizers, learning
//! rates, values of the optimizers' settings, schedules and seeds is one
//! model of a sweep.

use super::config::Setting;
use super::optimizer::{Optimizer, Param};
use super::schedule::Schedule;

/// The values to combine: every combination is one model. A swept setting
/// (`momentum`, `weight_decay`, ...) applies to the optimizers that have it;
/// the others keep their own value of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The optimizers, each with its settings (`sgd`, `adam:beta1=0.8`).
    pub optimizers: Vec<Optimizer>,
    /// Learning rates.
    pub learning_rates: Vec<f32>,
    /// Optimizer settings to sweep, by name, each with its values, in the
    /// order they vary (the last fastest).
    pub params: Vec<(&'static str, Vec<Param>)>,
    /// Learning-rate schedules.
    pub schedules: Vec<Schedule>,
    /// Seeds of the initial weights.
    pub seeds: Vec<u64>,
}

impl Default for Grid {
    /// The tutorial's one model: SGD, lr 0.1, seed 0.
    fn default() -> Self {
        Self {
            optimizers: vec![Optimizer::default()],
            learning_rates: vec![0.1],
            params: Vec::new(),
            schedules: vec![Schedule::Constant],
            seeds: vec![0],
        }
    }
}

impl Grid {
    /// The swept settings `optimizer` has, with their values.
    fn params_of(&self, optimizer: &Optimizer) -> Vec<(&'static str, &[Param])> {
        (self.params.iter())
            .filter(|(key, _)| optimizer.has(key))
            .map(|(key, values)| (*key, values.as_slice()))
            .collect()
    }

    /// How many models [`Grid::settings`] makes (saturating: it is checked
    /// against [`crate::compute::MAX_MODELS`] before they are made).
    pub fn count(&self) -> usize {
        let per_optimizer = |o: &Optimizer| {
            (self.params_of(o).iter()).fold(1usize, |n, (_, values)| n.saturating_mul(values.len()))
        };
        (self.optimizers.iter().map(per_optimizer))
            .fold(0usize, |n, m| n.saturating_add(m))
            .saturating_mul(self.learning_rates.len())
            .saturating_mul(self.schedules.len())
            .saturating_mul(self.seeds.len())
    }

    /// Every combination, optimizer outermost, then learning rate, the swept
    /// settings in their order, schedule, and seed innermost (so the seeds of
    /// one configuration are neighbours).
    pub fn settings(&self) -> Vec<Setting> {
        let mut settings = Vec::new();
        for optimizer in &self.optimizers {
            let params = self.params_of(optimizer);
            let mut variants = vec![*optimizer];
            for (key, values) in &params {
                variants = (variants.iter())
                    .flat_map(|o| {
                        values
                            .iter()
                            .map(|&v| o.with(key, v).expect("it has the key"))
                    })
                    .collect();
            }
            for &learning_rate in &self.learning_rates {
                for &optimizer in &variants {
                    for &schedule in &self.schedules {
                        for &seed in &self.seeds {
                            settings.push(Setting {
                                optimizer: optimizer.in_grid(),
                                learning_rate,
                                seed,
                                schedule,
                            });
                        }
                    }
                }
            }
        }
        settings
    }
}
