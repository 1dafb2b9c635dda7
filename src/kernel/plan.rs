//! How the fused kernel blocks and tiles its work on one machine: a [`Plan`].
//!
//! Every plan computes the same bits: the tile shapes add each accumulator's
//! products in feature order whatever their size, a forward block only
//! decides when accumulators are stored and reloaded, and a prefetch only
//! moves data. So a plan is chosen for speed alone, by measurement
//! (`softreg tune` times [`Plan::candidates`]) or, without a measurement, from
//! the register count and the L1 data cache size this CPU reports
//! ([`Plan::default_for`]).

use std::fmt;
use std::str::FromStr;

use super::Isa;
use super::tiles::Tiles;

/// One configuration of the fused kernel. Written as `wide,block=32K,prefetch=16`
/// (`block=all` for no feature blocking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The register tiles.
    pub tiles: Tiles,
    /// Bytes of packed weights per forward feature block, the part of every
    /// class's weights that stays in L1 while each row of a row block reuses
    /// it; `None` streams a whole row's weights per row tile.
    pub forward_block_bytes: Option<usize>,
    /// How many rows ahead of the row being computed the forward pass
    /// prefetches, one cache line per line it reads.
    pub prefetch_rows: usize,
}

/// The largest prefetch distance a plan may name: more rows than a minibatch
/// chunk's neighbours hold would only prefetch what is evicted before use.
pub const MAX_PREFETCH_ROWS: usize = 256;

/// The smallest forward block a plan may name.
pub const MIN_FORWARD_BLOCK_BYTES: usize = 1024;

impl Plan {
    /// The plan of an instruction set on this machine without a measurement:
    /// the tiles its register count takes, forward blocks of at most two
    /// thirds of the L1 data cache (the rest holds the rows and the
    /// accumulators), rows prefetched 16 ahead.
    pub fn default_for(isa: Isa) -> Self {
        Self {
            tiles: default_tiles(isa),
            forward_block_bytes: Some(l1d_bytes() * 2 / 3),
            prefetch_rows: 16,
        }
    }

    /// The configurations `softreg tune` times on `isa`, the default first:
    /// every tile shape where the ISA has 32 registers (only the narrow ones
    /// on 16: the others would spill), forward blocks of two thirds of L1 or
    /// none, rows prefetched 8, 16 or 32 ahead.
    pub fn candidates(isa: Isa) -> Vec<Self> {
        let default = Self::default_for(isa);
        let tiles: &[Tiles] = match default.tiles {
            Tiles::Narrow => &[Tiles::Narrow],
            Tiles::Wide | Tiles::Tall => &[Tiles::Wide, Tiles::Tall, Tiles::Narrow],
        };
        let l1 = l1d_bytes();
        let mut plans = vec![default];
        for &tiles in tiles {
            for block in [Some(l1 * 2 / 3), None] {
                for prefetch_rows in [16, 8, 32] {
                    let plan = Self {
                        tiles,
                        forward_block_bytes: block,
                        prefetch_rows,
                    };
                    if !plans.contains(&plan) {
                        plans.push(plan);
                    }
                }
            }
        }
        plans
    }

    /// Feature vectors per forward block for weights of `classes` classes in
    /// vectors of `lanes` f32 lanes, `vectors` per row: the row cut into as
    /// few blocks as fit the block size, all of the same length but the last.
    pub fn forward_block_vectors(&self, vectors: usize, classes: usize, lanes: usize) -> usize {
        let vectors = vectors.max(1);
        let Some(bytes) = self.forward_block_bytes else {
            return vectors;
        };
        let per_vector = classes.max(1) * lanes * size_of::<f32>();
        let fit = (bytes / per_vector).max(1);
        vectors.div_ceil(vectors.div_ceil(fit))
    }
}

/// The tiles an instruction set's register file takes.
fn default_tiles(isa: Isa) -> Tiles {
    if isa.registers() >= 32 {
        Tiles::Wide
    } else {
        Tiles::Narrow
    }
}

/// The L1 data cache of CPU 0 in bytes as Linux reports it, 32 KiB where it
/// does not (read once).
pub fn l1d_bytes() -> usize {
    static L1D: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *L1D.get_or_init(|| cache_from_sysfs("1", &["Data"]).unwrap_or(32 * 1024))
}

/// The L2 cache of CPU 0 in bytes as Linux reports it, 1 MiB where it does
/// not.
pub fn l2_bytes() -> usize {
    cache_from_sysfs("2", &["Unified", "Data"]).unwrap_or(1 << 20)
}

/// The size of CPU 0's cache of `level` and one of the `kinds`, from `/sys`.
fn cache_from_sysfs(level: &str, kinds: &[&str]) -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        let (Some(found), Some(kind)) = (read("level"), read("type")) else {
            continue;
        };
        if found.trim() == level && kinds.contains(&kind.trim()) {
            return parse_size(read("size")?.trim()).filter(|&size| size > 0);
        }
    }
    None
}

/// `48K`, `2M` or a plain count of bytes.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: usize = digits.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" | "k" => n.checked_mul(1 << 10),
        "M" | "m" => n.checked_mul(1 << 20),
        _ => None,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},block=", self.tiles.name())?;
        match self.forward_block_bytes {
            None => write!(f, "all")?,
            Some(bytes) if bytes % 1024 == 0 => write!(f, "{}K", bytes / 1024)?,
            Some(bytes) => write!(f, "{bytes}")?,
        }
        write!(f, ",prefetch={}", self.prefetch_rows)
    }
}

/// Why a plan's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The text does not have the plan's three parts.
    #[error(
        "`{0}` is not a plan: write it as TILES,block=SIZE,prefetch=ROWS (e.g. wide,block=32K,prefetch=16)"
    )]
    Form(String),
    /// The tile shape is neither `narrow` nor `wide`.
    #[error("tiles `{0}`: they are `narrow`, `wide` or `tall`")]
    Tiles(String),
    /// The block size is not a size in range.
    #[error(
        "block `{0}`: it is `all` or a size of at least {MIN_FORWARD_BLOCK_BYTES} bytes such as 32K"
    )]
    Block(String),
    /// The prefetch distance is not a count in range.
    #[error("prefetch `{0}`: it is a count of rows from 1 to {MAX_PREFETCH_ROWS}")]
    Prefetch(String),
}

impl FromStr for Plan {
    type Err = PlanError;

    fn from_str(text: &str) -> Result<Self, PlanError> {
        let form = || PlanError::Form(text.to_string());
        let mut parts = text.trim().split(',').map(str::trim);
        let (Some(tiles), Some(block), Some(prefetch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(form());
        };
        let tiles = Tiles::ALL
            .into_iter()
            .find(|t| t.name() == tiles)
            .ok_or_else(|| PlanError::Tiles(tiles.to_string()))?;
        let block = block.strip_prefix("block=").ok_or_else(form)?;
        let forward_block_bytes = match block {
            "all" => None,
            size => Some(
                parse_size(size)
                    .filter(|&bytes| bytes >= MIN_FORWARD_BLOCK_BYTES)
                    .ok_or_else(|| PlanError::Block(size.to_string()))?,
            ),
        };
        let prefetch = prefetch.strip_prefix("prefetch=").ok_or_else(form)?;
        let prefetch_rows = prefetch
            .parse()
            .ok()
            .filter(|rows| (1..=MAX_PREFETCH_ROWS).contains(rows))
            .ok_or_else(|| PlanError::Prefetch(prefetch.to_string()))?;
        Ok(Self {
            tiles,
            forward_block_bytes,
            prefetch_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_back_what_it_writes_and_refuses_what_is_not_one() {
        for isa in Isa::available() {
            for plan in Plan::candidates(isa) {
                assert_eq!(plan.to_string().parse::<Plan>(), Ok(plan));
            }
        }
        let plan: Plan = " narrow , block=24K , prefetch=8 ".parse().unwrap();
        assert_eq!(plan.forward_block_bytes, Some(24 * 1024));
        assert!(matches!("wide".parse::<Plan>(), Err(PlanError::Form(_))));
        assert!(matches!(
            "square,block=all,prefetch=16".parse::<Plan>(),
            Err(PlanError::Tiles(_))
        ));
        for block in ["0", "12", "99999999999999999999K", "3Q"] {
            let text = format!("wide,block={block},prefetch=16");
            assert!(
                matches!(text.parse::<Plan>(), Err(PlanError::Block(_))),
                "{text}"
            );
        }
        for rows in ["0", "257", "-1", "x"] {
            let text = format!("wide,block=all,prefetch={rows}");
            assert!(
                matches!(text.parse::<Plan>(), Err(PlanError::Prefetch(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn forward_blocks_cut_a_row_evenly_into_as_few_blocks_as_fit() {
        let plan = |bytes| Plan {
            tiles: Tiles::Narrow,
            forward_block_bytes: bytes,
            prefetch_rows: 16,
        };
        // 98 AVX2 vectors of 10 classes (320 bytes each): 21 KiB holds 68, so two blocks of 49.
        assert_eq!(plan(Some(21 * 1024)).forward_block_vectors(98, 10, 8), 49);
        // 49 AVX-512 vectors (640 bytes each) in 32 KiB: one block.
        assert_eq!(plan(Some(32 * 1024)).forward_block_vectors(49, 10, 16), 49);
        assert_eq!(plan(Some(16 * 1024)).forward_block_vectors(49, 10, 16), 25);
        assert_eq!(plan(None).forward_block_vectors(49, 10, 16), 49);
        // A block smaller than one vector's weights still makes progress.
        assert_eq!(plan(Some(1024)).forward_block_vectors(49, 1000, 16), 1);
    }

    #[test]
    fn sizes_read_as_linux_writes_them() {
        assert_eq!(parse_size("48K"), Some(48 * 1024));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("32768"), Some(32768));
        assert_eq!(parse_size("K"), None);
    }
}
