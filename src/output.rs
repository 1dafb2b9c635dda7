//! Writing output files whole or not at all.

use std::io::{self, Write};
use std::path::Path;

/// A temporary file in `dir` that will become an output file: created with the
/// permissions an ordinary new file gets (0644 on Unix), not a temporary file's
/// owner-only 0600, so that the renamed result is readable like any other file.
pub fn temporary_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".softreg-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir)
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
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = temporary_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
