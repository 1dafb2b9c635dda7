//! The barrier a training team meets at, many times a millisecond.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A barrier for a team that meets many times a millisecond: it spins, then
/// yields (so that more threads than cores still make progress), and never
/// sleeps in the kernel, whose wake-up latency would dominate a short step.
pub(super) struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    /// A barrier for `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Returns once all `threads` threads have called `wait` for this generation.
    pub fn wait(&self) {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::SpinBarrier;

    /// More threads than cores meet a thousand times: between two meetings
    /// every thread adds one to a counter, and after each meeting every thread
    /// sees all the additions of the round (no thread runs ahead of another).
    #[test]
    fn no_thread_passes_a_meeting_before_all_arrive() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 1000;
        let barrier = SpinBarrier::new(THREADS);
        let counter = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for round in 1..=ROUNDS {
                        counter.fetch_add(1, Ordering::AcqRel);
                        barrier.wait();
                        assert_eq!(counter.load(Ordering::Acquire), round * THREADS);
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(counter.into_inner(), ROUNDS * THREADS);
    }
}
