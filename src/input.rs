//! Opening input files: only regular files, checked before they are opened (so
//! that a FIFO or a device never blocks or streams forever), and read only up
//! to a size that makes sense for what they hold.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("small.bin");
//! std::fs::write(&path, b"12345")?;
//! assert_eq!(softreg::input::read_capped(&path, 10)?, b"12345");
//! assert!(softreg::input::read_capped(&path, 4).is_err());
//! assert!(softreg::input::open_regular(dir.path()).is_err());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::path::Path;

/// What kind of file a non-regular file is, for error messages.
pub fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(kind: FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("is {}, not a regular file", describe(kind)),
    )
}

/// Opens `path` for reading if it is a regular file (after following symbolic
/// links), with its length. The type is checked before opening, so that
/// opening a FIFO never blocks, and again on the open file.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// The whole of the regular file `path`, refused without reading it when it
/// is longer than `cap` bytes. Reads at most `cap` bytes even if the file grows
/// meanwhile.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > cap {
        return Err(too_large(len, cap));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64, cap));
    }
    Ok(bytes)
}

fn too_large(len: u64, cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "is {}, more than the {} this kind of file may have",
            human_bytes(len),
            human_bytes(cap)
        ),
    )
}

/// A byte count for people: `31.4 KB`, `2.1 GB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Memory this process can still be given, where the system reports it
/// (Linux): the smallest of `/proc/meminfo`'s `MemAvailable`, what the
/// process's cgroup memory limit leaves beyond its usage (v2 `memory.max`, or
/// v1 `memory.limit_in_bytes`), and what its address-space limit (`ulimit
/// -v`, from `/proc/self/limits`) leaves beyond the address space it holds now.
pub fn available_memory() -> Option<u64> {
    [
        system_available(),
        cgroup_available(),
        address_space_available(),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `None` when `needed` more bytes can be had now; otherwise the bytes that
/// can, for the error. Checked against [`available_memory`], then by asking
/// the allocator for them (`try_reserve`, given back at once): under strict
/// overcommit, or a limit the files above do not show, that is where a plain
/// allocation would abort the process.
pub fn memory_shortfall(needed: u64) -> Option<u64> {
    if let Some(available) = available_memory().filter(|&a| needed > a) {
        return Some(available);
    }
    if can_reserve(needed) {
        return None;
    }
    // The most that can be had, to the nearest power of two below it.
    let mut can = needed / 2;
    while can > 0 && !can_reserve(can) {
        can /= 2;
    }
    Some(can)
}

/// Whether the allocator gives `bytes` now (the pages are never touched).
fn can_reserve(bytes: u64) -> bool {
    usize::try_from(bytes).is_ok_and(|n| Vec::<u8>::new().try_reserve_exact(n).is_ok())
}

/// `MemAvailable`, in bytes.
fn system_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// What this process's cgroup memory limit leaves, in bytes (none where
/// there is no limit or no cgroup).
fn cgroup_available() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_available_under(Path::new("/sys/fs/cgroup"), &groups)
}

/// What the cgroup limit leaves, reading the hierarchy mounted at `root`
/// for the process whose `/proc/self/cgroup` reads `groups`: v2 (`0::PATH`,
/// `memory.max` less `memory.current`) where it has a memory limit file,
/// else v1 (`N:memory:PATH`, `memory.limit_in_bytes` less
/// `memory.usage_in_bytes` under `root/memory`).
fn cgroup_available_under(root: &Path, groups: &str) -> Option<u64> {
    let read = |dir: &Path, name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let v2 = groups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .and_then(|path| {
            let dir = root.join(path.trim_start_matches('/'));
            Some((read(&dir, "memory.max")?, read(&dir, "memory.current")?))
        });
    let v1 = || {
        let path = groups.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let controllers = fields.nth(1)?;
            let path = fields.next()?;
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then_some(path)
        })?;
        let dir = root.join("memory").join(path.trim_start_matches('/'));
        let limit = read(&dir, "memory.limit_in_bytes")?;
        // v1 writes "no limit" as the largest page-aligned i64.
        (limit < 1 << 62).then_some((limit, read(&dir, "memory.usage_in_bytes")?))
    };
    let (limit, used) = v2.or_else(v1)?;
    Some(limit.saturating_sub(used))
}

/// What the address-space limit leaves beyond the process's address space
/// now, in bytes (none when unlimited).
fn address_space_available() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let limit: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(limit.saturating_sub(kb.saturating_mul(1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    #[test]
    fn cgroup_limits_are_read_from_v2_then_v1() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        // Hybrid (v1 memory controller, v2 tree without memory files), as
        // Docker on cgroup v1 and many CI machines run.
        let hybrid = "4:memory:/job/7\n1:cpu,cpuacct:/\n0::/\n";
        write(root, "memory/job/7/memory.limit_in_bytes", "1073741824\n");
        write(root, "memory/job/7/memory.usage_in_bytes", "73741824\n");
        assert_eq!(cgroup_available_under(root, hybrid), Some(1_000_000_000));
        // v1's "no limit" is no limit.
        write(
            root,
            "memory/job/7/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        assert_eq!(cgroup_available_under(root, hybrid), None);
        // Pure v2.
        write(root, "batch/memory.max", "500\n");
        write(root, "batch/memory.current", "200\n");
        assert_eq!(cgroup_available_under(root, "0::/batch\n"), Some(300));
        write(root, "batch/memory.max", "max\n");
        assert_eq!(cgroup_available_under(root, "0::/batch\n"), None);
        // A usage above the limit leaves nothing, not a wrapped number.
        write(root, "memory/job/7/memory.limit_in_bytes", "1000\n");
        write(root, "memory/job/7/memory.usage_in_bytes", "4096\n");
        assert_eq!(cgroup_available_under(root, hybrid), Some(0));
        assert_eq!(cgroup_available_under(root, ""), None);
    }

    #[test]
    fn more_memory_than_the_address_space_holds_is_a_shortfall() {
        assert_eq!(memory_shortfall(0), None);
        let shortfall = memory_shortfall(u64::MAX).expect("no machine has 16 EiB");
        assert!(shortfall < u64::MAX / 2);
    }
}
