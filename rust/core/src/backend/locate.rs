//! Finding the ONNX Runtime shared library without downloading anything: a path the user gives,
//! the `BRIGHTSEG_ORT_LIB` variable, or the library inside an installed `onnxruntime` /
//! `onnxruntime-gpu` Python wheel (`onnxruntime/capi/libonnxruntime.so.*`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Environment variable naming the ONNX Runtime shared library (or the folder holding it).
pub const ORT_LIB_ENV: &str = "BRIGHTSEG_ORT_LIB";

/// An ONNX Runtime shared library found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    /// The library file, absolute.
    pub path: PathBuf,
    /// Where it was found, for logs ("--ort-lib", "BRIGHTSEG_ORT_LIB", "Python wheel").
    pub found_by: &'static str,
}

impl OrtLibrary {
    /// Whether the CUDA execution provider ships beside the library (the `onnxruntime-gpu`
    /// wheel and GPU release archives do; the CPU wheel does not).
    pub fn has_cuda_provider(&self) -> bool {
        self.path
            .parent()
            .is_some_and(|dir| dir.join("libonnxruntime_providers_cuda.so").is_file())
    }

    /// The version in the file name (`libonnxruntime.so.1.31.1` → "1.31.1"), when it has one.
    pub fn version_from_name(&self) -> Option<String> {
        let name = self.path.file_name()?.to_str()?;
        let version = name.strip_prefix("libonnxruntime.so.")?;
        version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| version.to_owned())
    }
}

/// Finds the ONNX Runtime library: `explicit` (a file, or a folder holding one) first, then
/// `$BRIGHTSEG_ORT_LIB`, then the Python wheels of the active virtual environment or conda
/// environment, the user's and the system's site-packages, and finally the `onnxruntime` package
/// that `python3` on the PATH would import. A GPU wheel is preferred over a CPU one.
pub fn find_onnxruntime(explicit: Option<&Path>) -> Result<OrtLibrary> {
    if let Some(path) = explicit {
        return library_at(path, "--ort-lib")
            .ok_or_else(|| not_a_library(path, "the ONNX Runtime library given"));
    }
    if let Some(value) = std::env::var_os(ORT_LIB_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return library_at(&path, ORT_LIB_ENV)
            .ok_or_else(|| not_a_library(&path, &format!("${ORT_LIB_ENV}")));
    }
    let mut found: Vec<OrtLibrary> = site_package_dirs()
        .into_iter()
        .chain(python_package_dir())
        .filter_map(|dir| library_at(&dir.join("onnxruntime").join("capi"), "Python wheel"))
        .collect();
    found.sort_by_key(|lib| !lib.has_cuda_provider());
    found.into_iter().next().ok_or_else(|| {
        Error::backend(format!(
            "no ONNX Runtime library found: install the wheel (`pip install onnxruntime`, or \
             `onnxruntime-gpu` for CUDA), or set {ORT_LIB_ENV} (or --ort-lib) to \
             libonnxruntime.so"
        ))
    })
}

fn not_a_library(path: &Path, what: &str) -> Error {
    Error::backend(format!(
        "{what} ({}) is not an ONNX Runtime library: give the path of libonnxruntime.so (or \
         the folder holding it)",
        path.display()
    ))
}

/// `path` itself when it is a library file, else the newest `libonnxruntime.so*` inside it.
fn library_at(path: &Path, found_by: &'static str) -> Option<OrtLibrary> {
    let file = if path.is_file() {
        Some(path.to_path_buf())
    } else {
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(path)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == "libonnxruntime.so" || n.starts_with("libonnxruntime.so.")
                })
            })
            .collect();
        candidates.sort();
        candidates.pop()
    }?;
    let path = file.canonicalize().unwrap_or(file);
    Some(OrtLibrary { path, found_by })
}

/// The site-packages folders of the active environment, the user and the system.
fn site_package_dirs() -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(|v| std::env::var_os(v).map(PathBuf::from))
        .collect();
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(PathBuf::from(home).join(".local"));
    }
    prefixes.extend(["/usr/local", "/usr"].map(PathBuf::from));
    let mut dirs = Vec::new();
    for prefix in prefixes {
        let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_python = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("python3"));
            if is_python {
                dirs.push(entry.path().join("site-packages"));
                dirs.push(entry.path().join("dist-packages"));
            }
        }
    }
    dirs
}

/// The folder holding the `onnxruntime` package that `python3` on the PATH imports (without
/// importing it), if any.
fn python_package_dir() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u, os; s = u.find_spec('onnxruntime'); \
             print(os.path.dirname(s.submodule_search_locations[0]) if s else '')",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let dir = text.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_yields_its_newest_library_and_cuda_is_seen_beside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("libonnxruntime.so.1.20.0"), b"x").expect("write");
        std::fs::write(dir.path().join("libonnxruntime.so.1.31.1"), b"x").expect("write");
        std::fs::write(dir.path().join("other.so"), b"x").expect("write");
        let lib = find_onnxruntime(Some(dir.path())).expect("found");
        assert_eq!(lib.version_from_name().as_deref(), Some("1.31.1"));
        assert!(!lib.has_cuda_provider());
        std::fs::write(dir.path().join("libonnxruntime_providers_cuda.so"), b"x").expect("write");
        assert!(lib.has_cuda_provider());
    }

    #[test]
    fn a_wrong_explicit_path_says_what_to_give() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = find_onnxruntime(Some(&dir.path().join("nothing"))).expect_err("missing");
        assert!(e.to_string().contains("libonnxruntime.so"), "{e}");
    }
}
