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
/// process's cgroup (v2) `memory.max` leaves beyond its `memory.current`, and
/// what its address-space limit (`ulimit -v`, from `/proc/self/limits`) leaves
/// beyond the address space it holds now.
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

/// `MemAvailable`, in bytes.
fn system_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// What the cgroup v2 `memory.max` of this process leaves, in bytes (none
/// for `max` or where there is no such cgroup).
fn cgroup_available() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?;
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
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
