//! The plan `softreg tune` chose, kept in the user's cache directory, keyed
//! by the CPU, the instruction set and softreg's version, the way FFTW keeps
//! its wisdom; every training command reads it ([`SavedPlan::load`]).

use std::path::{Path, PathBuf};

use crate::kernel::{Isa, Plan};

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
