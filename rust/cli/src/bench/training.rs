//! `brightseg bench`'s training part: seconds per training step of the standard U-Net and the
//! shipped `fast` architecture on every training engine this build has (burn's flex always,
//! LibTorch when built with the `libtorch` feature, its CUDA device with `--cuda`), on the same
//! paired patches, so the engines are compared in one run.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brightseg_train::compute::{select_engine, Engine};
use brightseg_train::data::fields::{load_fields, FieldSpec, Frames};
use brightseg_train::nets::Architecture;
use brightseg_train::nuclei::{prepare, NucleiTraining, Selection};
use brightseg_train::targets::TargetParams;
use brightseg_train::tasks::segmentation::{time_training_steps, TrainConfig};

use crate::bench::BenchArgs;

/// The paired series the steps train on: ndev's scratch assay, oblique light + Hoechst.
const SERIES: &str = "data/ndev/scratch-assay-labeled-10T-2Ch.tiff";
/// Untimed steps before the timed ones (first allocations, LibTorch's lazy start).
const WARMUP_STEPS: usize = 2;

/// One engine's steps on one architecture at one thread count.
pub struct StepTiming {
    /// Architecture name (`standard`, `fast`).
    pub architecture: &'static str,
    /// Training engine.
    pub engine: Engine,
    /// Worker threads.
    pub threads: usize,
    /// Median seconds per step.
    pub seconds_per_step: f64,
    /// Median seconds of a step spent drawing and augmenting the batch.
    pub batch_seconds: f64,
    /// Median seconds per step of flex at the same architecture and threads, when measured.
    pub flex_seconds_per_step: Option<f64>,
    /// Untimed steps before the timed ones.
    pub warmup: usize,
}

/// Times `args.training_steps` training steps (batch 8 of 128² patches, as `brightseg train
/// nuclei` draws them) per architecture, engine and thread count, on the paired series.
pub fn time_engines(args: &BenchArgs) -> Result<Vec<StepTiming>> {
    let (steps, threads, cuda) = (args.training_steps, &args.threads, args.cuda);
    let series = args
        .training_series
        .clone()
        .unwrap_or_else(|| PathBuf::from(SERIES));
    let Some((light, stain)) = args.training_channels.split_once(',') else {
        bail!(
            "--training-channels {}: give the transmitted-light and stain channels as LIGHT,STAIN",
            args.training_channels
        );
    };
    let spec = FieldSpec {
        brightfield: Some(light.trim().to_owned()),
        fluorescence: Some(stain.trim().to_owned()),
        frames: Some("0-6".parse::<Frames>().map_err(anyhow::Error::msg)?),
        ..FieldSpec::default()
    };
    let fields = load_fields(std::slice::from_ref(&series), &spec).with_context(|| {
        format!(
            "cannot read the paired series {} (run scripts/fetch-data.sh, or give \
             --training-series)",
            series.display()
        )
    })?;
    let request = NucleiTraining {
        name: "bench".to_owned(),
        out: std::env::temp_dir(),
        targets: TargetParams::default(),
        incomplete_labels: None,
        register: false,
        val_fraction: 0.25,
        selection: Selection::default(),
        config: TrainConfig::default(),
        start_from: None,
        time_budget: None,
        threads: 0,
        training_data: Vec::new(),
        license: String::new(),
    };
    let data = prepare(&fields, None, &request)?;
    let mut engines = vec![Engine::Flex];
    if Engine::LibTorch.is_built() {
        engines.push(Engine::LibTorch);
        if cuda {
            engines.push(Engine::LibTorchCuda);
        }
    }
    let mut timings = Vec::new();
    for name in ["standard", "fast"] {
        let architecture = Architecture::named(name)?;
        let config = TrainConfig {
            architecture,
            ..TrainConfig::default()
        };
        for &n in threads.iter() {
            let mut flex = None;
            for &engine in &engines {
                select_engine(engine, n)?;
                let measured = time_training_steps(&config, &data.train, WARMUP_STEPS, steps, n);
                select_engine(Engine::Flex, 0)?;
                let measured = measured.with_context(|| format!("{engine} on {name}"))?;
                let mut totals: Vec<f64> = measured.iter().map(|s| s.total).collect();
                let mut batches: Vec<f64> = measured.iter().map(|s| s.batch).collect();
                let median = crate::bench::median(&mut totals);
                let batch = crate::bench::median(&mut batches);
                eprintln!(
                    "training step, {name} U-Net, {engine}, {n} thread(s): {median:.3} s \
                     (batch {batch:.3} s)"
                );
                if engine == Engine::Flex {
                    flex = Some(median);
                }
                timings.push(StepTiming {
                    architecture: name,
                    engine,
                    threads: n,
                    seconds_per_step: median,
                    batch_seconds: batch,
                    flex_seconds_per_step: flex,
                    warmup: WARMUP_STEPS,
                });
            }
        }
    }
    Ok(timings)
}
