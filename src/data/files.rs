//! Finding and opening the idx files of a data directory: raw files are
//! memory-mapped, `.gz` files decompressed once into a raw cache beside them
//! (or into memory where the cache cannot be written).

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use memmap2::{Mmap, MmapOptions};

use super::idx::{Holds, IdxHeader};
use super::{DataError, DataErrorKind, check_fits};
use crate::output::PendingFile;
use crate::signals::WatchedMapping;

/// A whole idx file in memory (mapped or decompressed) with its checked header.
pub(super) struct IdxFile {
    pub header: IdxHeader,
    pub bytes: FileBytes,
}

/// The bytes of a file: memory-mapped, or held in memory when no cache could be written.
pub(super) enum FileBytes {
    Mapped(MappedFile),
    Owned(Vec<u8>),
}

/// A whole file mapped read-only, watched while it lives: if another process
/// truncates the file, reading the lost pages ends the run with an error
/// naming the file, not a bare SIGBUS (see [`crate::signals`]).
pub struct MappedFile {
    /// Declared first, so dropped (unwatched) before the mapping goes.
    _watch: WatchedMapping,
    map: Mmap,
}

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

/// Finds `stem` or `stem.gz` in `dir`, decompressing to the raw cache if needed,
/// and returns the file with its header checked against its length.
pub(super) fn open_idx(
    dir: &Path,
    stem: &str,
    holds: Holds,
) -> Result<(PathBuf, IdxFile), DataError> {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if reads_raw(&raw, &gz) {
        let bytes = map_file(&raw)?;
        return checked(&raw, bytes, holds);
    }
    if !gz.exists() {
        return Err(DataError::new(&raw, DataErrorKind::Missing));
    }
    let bytes = decompress_to_cache(&gz, &raw, holds)?;
    checked(&gz, bytes, holds)
}

/// Whether loading reads the raw file `raw` rather than decompressing `gz`:
/// when it exists and is not older than `gz`.
fn reads_raw(raw: &Path, gz: &Path) -> bool {
    raw.exists() && !is_newer(gz, raw)
}

/// The file of `dir` that loading reads for `stem`: the raw file (or the
/// decompressed cache of the `.gz`) when present and current, else the `.gz`.
pub fn source_file(dir: &Path, stem: &str) -> PathBuf {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if reads_raw(&raw, &gz) || !gz.exists() {
        raw
    } else {
        gz
    }
}

/// Whether `a` exists and was modified after `b`: a `.gz` replaced since its
/// raw copy was written makes that copy stale.
fn is_newer(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(a), modified(b)), (Some(a), Some(b)) if a > b)
}

fn checked(path: &Path, bytes: FileBytes, holds: Holds) -> Result<(PathBuf, IdxFile), DataError> {
    let header = IdxHeader::parse(&bytes, holds).map_err(|e| DataError::new(path, e.into()))?;
    header
        .check_length(bytes.len() as u64)
        .map_err(|e| DataError::new(path, e.into()))?;
    Ok((path.to_path_buf(), IdxFile { header, bytes }))
}

/// Maps the regular file `path` read-only, its pages populated now.
pub(super) fn map_file(path: &Path) -> Result<FileBytes, DataError> {
    let io_err = |e| DataError::new(path, DataErrorKind::Io(e));
    let (file, len) = crate::input::open_regular(path).map_err(io_err)?;
    if len == 0 {
        // Mapping an empty file fails on some platforms; it is simply empty.
        return Ok(FileBytes::Owned(Vec::new()));
    }
    // SAFETY: the mapping is read-only and only ever read as bytes or f32,
    // for which any content is a valid value; byte and f32 samples are read
    // from it for as long as the images live. If another process truncates
    // the file meanwhile, reads past the new end fault (SIGBUS), which the
    // watch turns into an error naming the file. Populated: its pages are
    // mapped now, not faulted in one by one while the first epoch reads them.
    let map = unsafe { MmapOptions::new().populate().map(&file) }.map_err(io_err)?;
    Ok(FileBytes::Mapped(MappedFile {
        _watch: WatchedMapping::new(&map, path),
        map,
    }))
}

/// A `.gz` idx file opened for reading: its checked header, and the rest of the
/// stream limited to the data the header describes plus one byte, so that a
/// stream longer than its header claims is caught without inflating it all.
struct GzIdx {
    header_bytes: Vec<u8>,
    header: IdxHeader,
    body: io::Take<MultiGzDecoder<io::BufReader<File>>>,
}

impl GzIdx {
    fn open(gz: &Path, holds: Holds) -> Result<Self, DataError> {
        let err = |kind| DataError::new(gz, kind);
        let (file, _) = crate::input::open_regular(gz).map_err(|e| err(DataErrorKind::Io(e)))?;
        let mut stream = MultiGzDecoder::new(io::BufReader::new(file));
        let mut read = |bytes: &mut Vec<u8>, len: usize| {
            let start = bytes.len();
            bytes.resize(len, 0);
            let got = read_up_to(&mut stream, &mut bytes[start..])
                .map_err(|e| err(DataErrorKind::Gzip(e)))?;
            bytes.truncate(start + got);
            Ok::<_, DataError>(())
        };
        // The prefix names the rank, and so how long the rest of the header is.
        let mut header_bytes = Vec::new();
        read(&mut header_bytes, 4)?;
        let (_, rank) = IdxHeader::parse_prefix(&header_bytes, holds).map_err(|e| err(e.into()))?;
        read(&mut header_bytes, IdxHeader::header_len(rank))?;
        let header = IdxHeader::parse(&header_bytes, holds).map_err(|e| err(e.into()))?;
        let described = header.data_len();
        check_fits(described, described, "as bytes").map_err(err)?;
        let body = stream.take(described.saturating_add(1));
        Ok(Self {
            header_bytes,
            header,
            body,
        })
    }
}

/// Why a cache file was not written.
enum CacheFailure {
    /// The `.gz` file itself is broken: no point trying again.
    Data(DataError),
    /// The cache could not be written (read-only directory, full disk, file
    /// size limit...): the data can still be decompressed into memory.
    Write,
}

/// Decompresses `gz` into `raw` (temporary file, then rename) and maps the
/// result. Falls back to decompressing into memory when the cache cannot be
/// written; the temporary file is removed and `raw` is left as it was.
fn decompress_to_cache(gz: &Path, raw: &Path, holds: Holds) -> Result<FileBytes, DataError> {
    match write_cache(gz, raw, holds) {
        Ok(()) => map_file(raw),
        Err(CacheFailure::Data(e)) => Err(e),
        Err(CacheFailure::Write) => decompress_in_memory(gz, holds),
    }
}

fn write_cache(gz: &Path, raw: &Path, holds: Holds) -> Result<(), CacheFailure> {
    let err = |kind| CacheFailure::Data(DataError::new(gz, kind));
    let GzIdx {
        header_bytes,
        header,
        mut body,
    } = GzIdx::open(gz, holds).map_err(CacheFailure::Data)?;
    let dir = raw.parent().unwrap_or(Path::new("."));
    crate::output::remove_stale_temporaries(dir);
    let pending = PendingFile::create_in(dir).map_err(|_| CacheFailure::Write)?;
    let mut tmp = pending.file();
    tmp.write_all(&header_bytes)
        .map_err(|_| CacheFailure::Write)?;
    let mut copied = 0u64;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = read_up_to(&mut body, &mut chunk).map_err(|e| err(DataErrorKind::Gzip(e)))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&chunk[..n])
            .map_err(|_| CacheFailure::Write)?;
        copied += n as u64;
    }
    if let Err(e) = header.check_length(header_bytes.len() as u64 + copied) {
        return Err(err(
            corruption_after(body).map_or(e.into(), DataErrorKind::Gzip)
        ));
    }
    // The copy carries its source's modification time, so that only a later
    // change of the `.gz` makes it stale (a `.gz` dated in the future, from a
    // skewed clock, does not make every run decompress again).
    if let Ok(modified) = std::fs::metadata(gz).and_then(|m| m.modified()) {
        let _ = tmp.set_modified(modified);
    }
    tmp.sync_all().map_err(|_| CacheFailure::Write)?;
    pending.persist(raw).map_err(|_| CacheFailure::Write)?;
    Ok(())
}

fn decompress_in_memory(gz: &Path, holds: Holds) -> Result<FileBytes, DataError> {
    let GzIdx {
        mut header_bytes,
        header,
        mut body,
    } = GzIdx::open(gz, holds)?;
    body.by_ref()
        .read_to_end(&mut header_bytes)
        .map_err(|e| DataError::new(gz, DataErrorKind::Gzip(e)))?;
    if let Err(e) = header.check_length(header_bytes.len() as u64) {
        let kind = corruption_after(body).map_or(e.into(), DataErrorKind::Gzip);
        return Err(DataError::new(gz, kind));
    }
    Ok(FileBytes::Owned(header_bytes))
}

/// After a stream gave more bytes than its header describes: the gzip error
/// further on, if the stream is corrupt rather than long. Corrupt deflate data
/// often decodes to too many bytes, and only the checksum at the end of the
/// stream tells; reads on (at most 64 MiB) to reach it.
fn corruption_after(body: io::Take<MultiGzDecoder<io::BufReader<File>>>) -> Option<io::Error> {
    let mut rest = body.into_inner().take(64 << 20);
    io::copy(&mut rest, &mut io::sink()).err()
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
