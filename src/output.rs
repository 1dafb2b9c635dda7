//! Writing output files whole or not at all.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written in a directory, to become an output file whole.
///
/// Where the file system allows (Linux's `O_TMPFILE`: ext4, XFS, Btrfs,
/// tmpfs...), it has no name until [`PendingFile::persist`]: whatever kills
/// the process midway, SIGKILL included, leaves nothing behind. Elsewhere it
/// is a named temporary (`.softreg-` then 12 letters and digits then
/// `.partial`), removed when dropped, on SIGINT and SIGTERM once the binary
/// has installed [`crate::signals::install`], and by a later run an hour after
/// a SIGKILL. Either way it is created with the permissions an ordinary new
/// file gets (0644 on Unix), not a temporary file's owner-only 0600.
pub struct PendingFile(Pending);

enum Pending {
    /// An `O_TMPFILE` file of `dir`, with no name yet.
    #[cfg(target_os = "linux")]
    Anonymous { file: std::fs::File, dir: PathBuf },
    /// A named temporary, with its removal on SIGINT and SIGTERM.
    Named(tempfile::NamedTempFile, crate::signals::RemoveOnInterrupt),
}

impl PendingFile {
    /// A new empty file in `dir`.
    pub fn create_in(dir: &Path) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        if let Some(file) = anonymous_in(dir) {
            return Ok(Self(Pending::Anonymous {
                file,
                dir: dir.to_path_buf(),
            }));
        }
        let named = temporary_builder().tempfile_in(dir)?;
        let guard = crate::signals::RemoveOnInterrupt::new(named.path());
        Ok(Self(Pending::Named(named, guard)))
    }

    /// The open file, to write to.
    pub fn file(&self) -> &std::fs::File {
        match &self.0 {
            #[cfg(target_os = "linux")]
            Pending::Anonymous { file, .. } => file,
            Pending::Named(named, _) => named.as_file(),
        }
    }

    /// Whether the file has no name until it is persisted.
    pub fn is_anonymous(&self) -> bool {
        match self.0 {
            #[cfg(target_os = "linux")]
            Pending::Anonymous { .. } => true,
            Pending::Named(..) => false,
        }
    }

    /// Gives the file the name `target` (in the same directory), replacing
    /// whatever file was there in one rename.
    ///
    /// An anonymous file is first linked under a temporary name (`rename` is
    /// the only atomic replacement, and `linkat` will not replace), so a name
    /// that is not `target` exists only for the moment between the two calls,
    /// and only ever for a complete file.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        match self.0 {
            #[cfg(target_os = "linux")]
            Pending::Anonymous { file, dir } => {
                use std::os::fd::AsRawFd;
                let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
                let linked = temporary_builder().make_in(&dir, |name| {
                    rustix::fs::linkat(
                        rustix::fs::CWD,
                        proc_path.as_str(),
                        rustix::fs::CWD,
                        name,
                        rustix::fs::AtFlags::SYMLINK_FOLLOW,
                    )
                    .map_err(io::Error::from)
                })?;
                linked.persist(target).map_err(|e| e.error)?;
                Ok(())
            }
            Pending::Named(named, _guard) => {
                named.persist(target).map_err(|e| e.error)?;
                Ok(())
            }
        }
    }
}

/// A nameless file in `dir` (`O_TMPFILE`), where the file system and the
/// kernel support it and `/proc` is there to link it by.
#[cfg(target_os = "linux")]
fn anonymous_in(dir: &Path) -> Option<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    let fd = rustix::fs::open(dir, flags, Mode::from_raw_mode(0o644)).ok()?;
    Some(std::fs::File::from(fd))
}

/// Names temporary files as [`is_temporary_name`] recognises them, created
/// 0644 (before the umask).
fn temporary_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(TEMPORARY_PREFIX)
        .rand_bytes(TEMPORARY_RANDOM)
        .suffix(TEMPORARY_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// flushed to disk and then renamed over `path`: `path` holds either its old
/// content or all of `bytes`, never a part, whatever happens midway.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// softreg::output::write_atomically(&path, b"whole")?;
/// assert_eq!(std::fs::read(&path)?, b"whole");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A symbolic link at `path` is written through (its target replaced); anything
/// at `path` (or the link's target) that is not a regular file is refused.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = resolve_links(path)?;
    if let Ok(meta) = std::fs::metadata(&target)
        && !meta.is_file()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "is {}; softreg only replaces regular files",
                crate::input::describe(meta.file_type())
            ),
        ));
    }
    let pending = PendingFile::create_in(parent_dir(&target))?;
    pending.file().write_all(bytes)?;
    pending.file().sync_all()?;
    pending.persist(&target)
}

/// The prefix of every temporary file softreg creates beside an output.
const TEMPORARY_PREFIX: &str = ".softreg-";

/// The random letters and digits between the prefix and the suffix.
const TEMPORARY_RANDOM: usize = 12;

/// The suffix of every temporary file softreg creates.
const TEMPORARY_SUFFIX: &str = ".partial";

/// Whether `name` is exactly a temporary file's name as [`temporary_builder`]
/// makes them (`.softreg-` then 12 letters and digits then `.partial`): only
/// such files are ever removed, never a user's own `.softreg-settings.toml`.
fn is_temporary_name(name: &str) -> bool {
    name.strip_prefix(TEMPORARY_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMPORARY_SUFFIX))
        .is_some_and(|random| {
            random.len() == TEMPORARY_RANDOM && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// How old a leftover temporary file must be before a later run removes it: a
/// live run rewrites its temporary within seconds, so one untouched for an
/// hour belongs to a run that was killed.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Checks, before any work is done, that an output file can be written at
/// `path` (named by `flag` in errors) and returns the path to write to.
///
/// - A symbolic link is written through: its target is replaced and the link
///   kept, as `cp` and editors do.
/// - Only a regular file is ever replaced: a directory, a device, a FIFO or a
///   socket at the path is refused (as root, replacing `/dev/null` with a
///   regular file would break the system).
/// - The directory must exist and accept a new file of this name: a file is
///   created there and removed again, so that a read-only directory, a name
///   too long for the file system or a full disk is found now, not after
///   training.
/// - Temporary files left in that directory by killed runs (older than an hour)
///   are removed.
pub fn prepare(path: &Path, flag: &str) -> Result<std::path::PathBuf, String> {
    let fail = |what: String| format!("{flag} {}: {what}", path.display());
    let target = resolve_links(path).map_err(|e| fail(format!("cannot follow the link: {e}")))?;
    let dir = parent_dir(&target);
    if !dir.is_dir() {
        return Err(fail(format!("directory {} does not exist", dir.display())));
    }
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            return Err(fail(format!(
                "is {}; softreg only replaces regular files",
                crate::input::describe(meta.file_type())
            )));
        }
        Ok(_) => {
            PendingFile::create_in(dir)
                .map_err(|e| fail(format!("cannot write in {}: {e}", dir.display())))?;
        }
        Err(_) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(|e| fail(format!("cannot create it: {e}")))?;
            let _ = std::fs::remove_file(&target);
        }
    }
    remove_stale_temporaries(dir);
    Ok(target)
}

/// `path` with every symbolic link along its last component followed (at
/// most 40, like the kernel); a path that does not exist is returned as is.
fn resolve_links(path: &Path) -> io::Result<std::path::PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = parent_dir(&current).join(link);
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Removes `dir`'s temporary files from softreg runs that were killed.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temporary_name) {
            continue;
        }
        let stale = entry.metadata().is_ok_and(|meta| {
            meta.is_file()
                && meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > STALE_AFTER)
        });
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether two paths name the same file, existing or to be created: the same
/// inode if both exist, else the same absolute path after following links.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    let absolute = |p: &Path| {
        let target = resolve_links(p).unwrap_or_else(|_| p.to_path_buf());
        let dir = std::fs::canonicalize(parent_dir(&target)).ok()?;
        Some(dir.join(target.file_name()?))
    };
    matches!((absolute(a), absolute(b)), (Some(x), Some(y)) if x == y)
}

/// Refuses an output that would overwrite another output or an input: each
/// item is a flag (or what the file is) and its path.
pub fn refuse_collisions(
    outputs: &[(&str, &Path)],
    inputs: &[(&str, &Path)],
) -> Result<(), String> {
    for (i, &(flag, path)) in outputs.iter().enumerate() {
        for &(other, other_path) in outputs[i + 1..].iter().chain(inputs) {
            if same_file(path, other_path) {
                return Err(format!(
                    "{flag} {} is the same file as {other} {}: give each output its own path",
                    path.display(),
                    other_path.display()
                ));
            }
        }
    }
    Ok(())
}
