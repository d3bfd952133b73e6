//! Files that appear complete or not at all: written to a `.NAME.PID.partial` beside their
//! path and renamed into place; stale partials of stopped processes are cleaned up.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes a file through `write` into a temporary file next to `path`, then renames it into
/// place, so a crash or error never leaves a half-written `path`.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path_for(path);
    let result = File::create(&tmp).and_then(|f| {
        let sync = f.try_clone();
        write(f)?;
        sync?.sync_all()
    });
    let result = result.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomically`]).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |mut f| f.write_all(bytes))
}

/// The temporary file [`write_atomically`] writes before renaming it to `path`:
/// `.NAME.PID.partial` beside it, so writers in different processes never collide and a
/// leftover can be traced to the process that left it.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Removes the half-written temporary files that killed processes left in `dir` (see
/// [`temp_path_for`]); files of processes still running are left alone. Where process ids
/// cannot be checked (no `/proc`), only this process's own leftovers are removed. Returns how
/// many were removed.
pub fn remove_stale_partials(dir: &Path) -> Result<usize> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let own = std::process::id();
    let can_check = Path::new("/proc/self").exists();
    let mut removed = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = partial_owner(&name) else {
            continue;
        };
        let stale = pid == own || (can_check && !Path::new("/proc").join(pid.to_string()).exists());
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            log::info!("removed {name}, left half-written by a process that was stopped");
            removed += 1;
        }
    }
    Ok(removed)
}

/// The process id in a `.NAME.PID.partial` file name.
pub(super) fn partial_owner(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (_, pid) = rest.rsplit_once('.')?;
    pid.parse().ok()
}
