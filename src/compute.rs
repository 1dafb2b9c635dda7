//! Where a run computes: the kernel, its instruction set and plan, and the
//! threads. Every command that trains, fits or scores takes one [`Compute`];
//! none of its choices changes the bits but the kernel and the instruction
//! set.

use thiserror::Error;

use crate::kernel::{EngineJob, Isa, Kernel, Plan};

/// The most pool threads per core: threads beyond the cores only add
/// overhead, and thousands of idle rayon workers looking for work slow the
/// ones computing.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The kernel and the threads a run computes with. The default: the fused
/// kernel on the best instruction set of this CPU with its default plan, one
/// thread per core.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Compute {
    /// The implementation of the loss and gradient.
    pub kernel: Kernel,
    /// The instruction set the kernels and the update run with; `None` means
    /// the best this CPU has ([`Isa::best`]).
    pub isa: Option<Isa>,
    /// How the fused kernel blocks and tiles its work; `None` means the
    /// instruction set's default on this machine ([`Plan::default_for`]).
    /// Every plan gives the same bits.
    pub plan: Option<Plan>,
    /// Worker threads; `None` means one per core.
    pub threads: Option<usize>,
    /// Let every pool thread join a training team even beyond one per core.
    /// Off by default (threads spinning beyond the core count only steal time
    /// from working ones); tests turn it on to check that 8 threads on a
    /// 2-core machine still give the same weights.
    pub oversubscribe: bool,
}

/// Why a run's threads could not be had.
#[derive(Debug, Error)]
pub enum ComputeError {
    /// A thread pool needs at least one thread.
    #[error("thread count must be at least 1")]
    Threads,
    /// The thread pool could not be started.
    #[error("cannot start the thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

impl Compute {
    /// The instruction set the run computes with.
    pub fn isa(&self) -> Isa {
        self.isa.unwrap_or_else(Isa::best)
    }

    /// The plan the fused kernel computes with.
    pub fn plan(&self) -> Plan {
        self.plan.unwrap_or_else(|| Plan::default_for(self.isa()))
    }

    /// The kernel with its instruction set and plan, as headers and model
    /// files name it: `fused avx512 (wide,block=32K,prefetch=16)`.
    pub fn describe(&self) -> String {
        self.kernel.describe(self.isa(), self.plan())
    }

    /// Refuses a thread count of 0.
    pub fn check(&self) -> Result<(), ComputeError> {
        match self.threads {
            Some(0) => Err(ComputeError::Threads),
            _ => Ok(()),
        }
    }

    /// The size of the run's worker pool ([`pool_size`]).
    pub fn pool_size(&self) -> usize {
        pool_size(self.threads)
    }

    /// Runs `job` with the kernel's engine on the run's instruction set and
    /// plan ([`Kernel::run`]), on a pool of [`Compute::pool_size`] workers.
    pub fn run<J: EngineJob + Send>(&self, job: J) -> Result<J::Output, ComputeError>
    where
        J::Output: Send,
    {
        let (kernel, isa, plan) = (self.kernel, self.isa(), self.plan());
        self.install(|| kernel.run(isa, plan, job))
    }

    /// Runs `work` on a pool of [`Compute::pool_size`] workers.
    pub fn install<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, ComputeError> {
        Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(self.pool_size())
            .build()?
            .install(work))
    }
}

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

/// The most models one run trains or fits together.
pub const MAX_MODELS: usize = 1024;
