//! `validate-model` (the checks a bioimage.io zoo upload runs, without Python) and
//! `upgrade-model` (rewrite an older brightseg model's description in the zoo-valid format).

use anyhow::Result;

use brightseg::zoo::{check_model, Severity, ZooReport};

use crate::find_nuclei::Outcome;
use crate::ValidateModelArgs;

/// `brightseg validate-model`: prints what a zoo upload would reject; `SomeFailed` (exit 1)
/// when anything would be.
pub fn validate(args: &ValidateModelArgs) -> Result<Outcome> {
    let folder = crate::models::resolve(&args.model)?;
    let report = check_model(&folder)?;
    print_report(&report);
    Ok(if report.passes() {
        Outcome::AllDone
    } else {
        Outcome::SomeFailed
    })
}

fn print_report(report: &ZooReport) {
    let version = if report.format_version.is_empty() {
        "no format version".to_owned()
    } else {
        format!("format {}", report.format_version)
    };
    let verdict = if report.passes() {
        "passes the checks a bioimage.io upload runs"
    } else {
        "would be REJECTED by the bioimage.io validator or test"
    };
    println!("{} ({version}): {verdict}", report.card_path.display());
    match &report.reproduction {
        Some(r) => println!(
            "  test output reproduced by {}: {} of {} elements outside {} + {} × |expected| \
             (largest difference {:.2e})",
            r.backend,
            r.mismatched,
            r.elements,
            r.tolerance.absolute,
            r.tolerance.relative,
            r.max_difference
        ),
        None => println!("  test output not reproduced (no readable test tensors)"),
    }
    for f in &report.findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = if f.location.is_empty() {
            String::new()
        } else {
            format!(" `{}`", f.location)
        };
        println!("  {level}{at}: {}", f.message);
    }
}

/// `brightseg upgrade-model`: new description, test tensors and cover for a model folder
/// brightseg wrote, the network untouched; then the zoo checks.
#[cfg(feature = "train")]
pub fn upgrade(args: &crate::UpgradeModelArgs) -> Result<Outcome> {
    use anyhow::Context;
    use brightseg_train::data::fields::load_fields;
    let folder = &args.folder;
    let card = brightseg::model::ModelCard::load(folder)?;
    let mut spec = crate::train_cmd::field_spec(&args.selection)?;
    spec.brightfield = args.channel.clone();
    let fields = load_fields(std::slice::from_ref(&args.test_image), &spec)?;
    let field = fields
        .first()
        .with_context(|| format!("{} has no plane to test with", args.test_image.display()))?;
    let field = match card.pixel_size_um {
        Some(px) => field.resampled_to(px),
        None => field.clone(),
    };
    let info = brightseg_train::export::upgrade_model_folder(folder, &field.brightfield)?;
    println!(
        "{}: description rewritten in bioimage.io format 0.5 (network unchanged), test \
         tensors from {} ({})",
        info.name,
        args.test_image.display(),
        field.name
    );
    let report = check_model(folder)?;
    print_report(&report);
    Ok(if report.passes() {
        Outcome::AllDone
    } else {
        Outcome::SomeFailed
    })
}
