//! Choosing the fused kernel's [`Plan`] by measurement, and keeping the
//! choice: [`measure`] times every candidate plan of an instruction set
//! interleaved, on one thread, on minibatches drawn from the whole training
//! split as training reads them; a [`SavedPlan`] keeps the winner in the
//! user's cache directory, keyed by the CPU, the instruction set and
//! softreg's version, the way FFTW keeps its wisdom.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::Split;
use crate::kernel::{ChunkSums, Isa, Plan, Scratch, Weights};
use crate::model::Model;
use crate::random::SeededRng;

use super::bench::{Spread, fused_minibatch};

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

/// The winner of a measurement, for one CPU, instruction set and softreg
/// version, as kept in the cache directory.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedPlan {
    /// The CPU it was measured on ([`cpu_identity`]).
    pub cpu: String,
    /// The instruction set ([`Isa::name`]).
    pub isa: String,
    /// The softreg version that measured it.
    pub version: String,
    /// The plan.
    pub plan: Plan,
}

/// Why a saved plan could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// Neither `XDG_CACHE_HOME` nor `HOME` names a directory.
    #[error("no cache directory: set XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The plan file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a plan softreg wrote.
    #[error("{}: not a plan softreg wrote ({reason}); run `softreg tune` to write a new one", path.display())]
    Damaged {
        /// The plan file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl SavedPlan {
    /// The plan this machine's `isa` would use from the cache, if `softreg
    /// tune` saved one for this CPU and version: `Ok(None)` when there is
    /// none.
    pub fn load(isa: Isa) -> Result<Option<Plan>, SavedPlanError> {
        let path = Self::path(isa)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SavedPlanError::Io { path, source }),
        };
        let saved = Self::parse(&text).map_err(|reason| SavedPlanError::Damaged {
            path: path.clone(),
            reason,
        })?;
        let current = Self::current(isa, saved.plan);
        Ok((saved == current).then_some(saved.plan))
    }

    /// Saves `plan` as the plan of this machine's `isa`, atomically; returns
    /// the file written.
    pub fn save(isa: Isa, plan: Plan) -> Result<PathBuf, SavedPlanError> {
        let path = Self::path(isa)?;
        let io = |source| SavedPlanError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
        let saved = Self::current(isa, plan);
        let json = serde_json::json!({
            "softreg": saved.version,
            "cpu": saved.cpu,
            "isa": saved.isa,
            "plan": saved.plan.to_string(),
        });
        crate::output::write_atomically(&path, format!("{json}\n").as_bytes()).map_err(io)?;
        Ok(path)
    }

    /// `plan` as this machine's `isa` would save it now.
    fn current(isa: Isa, plan: Plan) -> Self {
        Self {
            cpu: cpu_identity(),
            isa: isa.name().to_string(),
            version: VERSION.to_string(),
            plan,
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let field = |name: &str| {
            json.get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("no `{name}`"))
        };
        Ok(Self {
            cpu: field("cpu")?,
            isa: field("isa")?,
            version: field("softreg")?,
            plan: field("plan")?.parse().map_err(|e| format!("{e}"))?,
        })
    }

    /// The file of this machine's `isa`: one per CPU, instruction set and
    /// version in `$XDG_CACHE_HOME/softreg` (or `~/.cache/softreg`), so that a
    /// home directory shared by machines keeps each one's plan.
    pub fn path(isa: Isa) -> Result<PathBuf, SavedPlanError> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let cache = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))
            .ok_or(SavedPlanError::NoCacheDir)?;
        let key = format!("{}\n{}\n{VERSION}", cpu_identity(), isa.name());
        let hash = fnv1a(key.as_bytes());
        Ok(cache
            .join("softreg")
            .join(format!("plan-{}-{hash:016x}.json", isa.name())))
    }
}

/// The CPU as `/proc/cpuinfo` names it: model name, family, model and
/// stepping of the first processor (a virtual machine's model name alone
/// may say only "Intel Xeon Processor"); `unknown` elsewhere.
pub fn cpu_identity() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let first = info.split("\n\n").next().unwrap_or_default();
    let field = |name: &str| {
        first.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let name = field("model name")
        .or_else(|| field("CPU part"))
        .unwrap_or_else(|| "unknown".to_string());
    match (field("cpu family"), field("model"), field("stepping")) {
        (Some(family), Some(model), Some(stepping)) => {
            format!("{name} (family {family} model {model} stepping {stepping})")
        }
        _ => name,
    }
}

/// The softreg version a plan is saved for.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// FNV-1a, 64 bits: a stable short name for a key (not a secret).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
