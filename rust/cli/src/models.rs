//! Where the CLI finds models: `$BRIGHTSEG_MODEL_PATH`, `./models`, the models shipped beside the
//! binary, and the per-user folder. The search itself is [`brightseg::catalog`].

use std::path::{Path, PathBuf};

use anyhow::Result;
use brightseg::catalog;
use brightseg::model::ModelCard;
use brightseg::refine::Refinement;

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

/// The shipped nuclei model trained on several labs' images (docs/training.md), suggested when
/// another nuclei model does not suit the images.
pub const GENERALIST: &str = "nuclei-brightfield-generalist";

/// The end of a "may not suit" warning that names [`GENERALIST`]: empty when `model` (as given:
/// a name or folder) or `card_name` (the name in its description) is that model, or when it is
/// not installed.
pub fn generalist_hint(model: &str, card_name: &str) -> String {
    let is_it = card_name == GENERALIST
        || Path::new(model)
            .components()
            .any(|c| c.as_os_str() == GENERALIST);
    if is_it || catalog::resolve(GENERALIST, &search_path()).is_err() {
        return String::new();
    }
    format!("; or first try the model trained on three labs' images: --model {GENERALIST}")
}

/// A model given by folder path or by name.
pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    Ok(catalog::resolve(name_or_path, &search_path())?)
}

/// `brightseg models`: one line per model.
pub fn list() -> Result<()> {
    let dirs = search_path();
    let models = catalog::discover(&dirs);
    if models.is_empty() {
        println!(
            "No models found. Searched: {}\nSet BRIGHTSEG_MODEL_PATH to a folder of model folders.",
            catalog::describe_search_path(&dirs)
        );
        return Ok(());
    }
    for folder in models {
        let name = catalog::folder_name(&folder);
        match ModelCard::load(&folder) {
            Ok(card) => {
                let refine = match card.defaults.refine {
                    Refinement::None => String::new(),
                    r => format!(" · refine {r}"),
                };
                println!(
                    "{name}\t{}\tthreshold {} · min size {} µm² · split depth {} px{refine} · {}\t{}",
                    card.name,
                    card.defaults.threshold,
                    card.defaults.min_size_um2,
                    card.defaults.split_depth_px,
                    card.license.as_deref().unwrap_or("licence not stated"),
                    folder.display()
                )
            }
            Err(e) => println!("{name}\tunusable: {e}\t{}", folder.display()),
        }
    }
    Ok(())
}
