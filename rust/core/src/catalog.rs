//! Finding models on disk: a model is a folder holding a model description
//! ([`crate::model::CARD_FILE_NAMES`]); a catalog is a list of folders searched for such folders.
//! Each front end (CLI, Fiji) decides which folders to search; this module only looks in them.

use std::path::{Path, PathBuf};

use crate::model::CARD_FILE_NAMES;
use crate::{Error, Result};

/// True when `dir` holds a model description.
pub fn is_model_folder(dir: &Path) -> bool {
    CARD_FILE_NAMES.iter().any(|n| dir.join(n).is_file())
}

/// Every model folder inside `search_path`, sorted within each folder; when two folders hold a
/// model of the same name the first one searched wins. Unreadable folders are skipped.
pub fn discover(search_path: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in search_path {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_model_folder(p))
            .collect();
        folders.sort();
        for f in folders {
            if !found.iter().any(|g| g.file_name() == f.file_name()) {
                found.push(f);
            }
        }
    }
    found
}

/// The model given by a folder (or description file) path, or by the name of a folder on
/// `search_path`. The error names the known models and the folders searched.
pub fn resolve(name_or_path: &str, search_path: &[PathBuf]) -> Result<PathBuf> {
    let as_path = PathBuf::from(name_or_path);
    if as_path.exists() {
        return Ok(as_path);
    }
    let models = discover(search_path);
    if let Some(found) = models
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == name_or_path))
    {
        return Ok(found.clone());
    }
    let known: Vec<String> = models.iter().map(|p| folder_name(p)).collect();
    Err(Error::model(format!(
        "model \"{name_or_path}\" not found: give a model folder, or one of the known models ({}); \
         folders searched: {}",
        if known.is_empty() {
            "none found".to_owned()
        } else {
            known.join(", ")
        },
        describe_search_path(search_path)
    )))
}

/// The search path as one line, for messages.
pub fn describe_search_path(search_path: &[PathBuf]) -> String {
    if search_path.is_empty() {
        return "none".to_owned();
    }
    search_path
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last component of a model folder, which is the model's short name.
pub fn folder_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_folder(root: &Path, name: &str, card: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("create model folder");
        std::fs::write(dir.join(card), "format_version: 0.5.4\n").expect("write card");
        dir
    }

    #[test]
    fn discovers_folders_with_a_card_and_first_name_wins() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let first = model_folder(a.path(), "nuclei", "bioimageio.yaml");
        model_folder(b.path(), "nuclei", "rdf.yaml");
        let other = model_folder(b.path(), "artifacts", "rdf.yaml");
        std::fs::create_dir_all(b.path().join("not-a-model")).expect("mkdir");
        let dirs = vec![
            a.path().to_path_buf(),
            PathBuf::from("/no/such/dir"),
            b.path().to_path_buf(),
        ];
        assert_eq!(discover(&dirs), vec![first.clone(), other]);
        assert_eq!(resolve("nuclei", &dirs).expect("by name"), first);
    }

    #[test]
    fn unknown_model_names_the_known_ones_and_the_search_path() {
        let a = tempfile::tempdir().expect("tempdir");
        model_folder(a.path(), "nuclei", "bioimageio.yaml");
        let err = resolve("nucleii", &[a.path().to_path_buf()]).expect_err("unknown");
        assert_eq!(err.kind(), crate::ErrorKind::Model);
        assert!(err.message().contains("(nuclei)"), "{err}");
        assert!(
            err.message().contains(&a.path().display().to_string()),
            "{err}"
        );
    }
}
