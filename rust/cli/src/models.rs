//! Where models are found: `$BRIGHTSEG_MODEL_PATH`, `./models`, the models shipped beside the
//! binary, and the per-user folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use brightseg::model::{ModelCard, CARD_FILE_NAMES};

/// Folders searched for model folders, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("BRIGHTSEG_MODEL_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("models"));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        // target/<profile>/brightseg in a checkout, or <prefix>/bin/brightseg when installed.
        dirs.push(exe_dir.join("../../models"));
        dirs.push(exe_dir.join("../share/brightseg/models"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/share/brightseg/models"));
    }
    dirs
}

fn is_model_folder(dir: &Path) -> bool {
    CARD_FILE_NAMES.iter().any(|n| dir.join(n).is_file())
}

/// Every model folder on the search path, first occurrence of a name winning.
pub fn discover() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in search_path() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
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

/// A model given by folder path or by name.
pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    let as_path = PathBuf::from(name_or_path);
    if as_path.exists() {
        return Ok(as_path);
    }
    let models = discover();
    if let Some(found) = models
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == name_or_path))
    {
        return Ok(found.clone());
    }
    let known: Vec<String> = models.iter().map(|p| crate::file_name(p)).collect();
    bail!(
        "model \"{name_or_path}\" not found: give a model folder, or one of the known models ({}); \
         folders searched: {}",
        if known.is_empty() { "none found".to_owned() } else { known.join(", ") },
        searched()
    )
}

/// The search path as one line, for messages.
fn searched() -> String {
    search_path()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `brightseg models`: one line per model.
pub fn list() -> Result<()> {
    let models = discover();
    if models.is_empty() {
        println!(
            "No models found. Searched: {}\nSet BRIGHTSEG_MODEL_PATH to a folder of model folders.",
            searched()
        );
        return Ok(());
    }
    for folder in models {
        let name = crate::file_name(&folder);
        match ModelCard::load(&folder) {
            Ok(card) => println!(
                "{name}\t{}\tthreshold {} · min size {} µm² · {}\t{}",
                card.name,
                card.defaults.threshold,
                card.defaults.min_size_um2,
                card.license.as_deref().unwrap_or("licence not stated"),
                folder.display()
            ),
            Err(e) => println!("{name}\tunusable: {e}\t{}", folder.display()),
        }
    }
    Ok(())
}
