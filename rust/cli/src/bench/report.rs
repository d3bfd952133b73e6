//! Everything measured, printed as tables and written as Markdown with the machine.

use super::*;

/// Everything measured, and the machine.
pub(super) struct Report {
    pub(super) machine: String,
    pub(super) model: String,
    pub(super) image: String,
    pub(super) tile_shape: Vec<usize>,
    pub(super) tiles: Vec<TileTiming>,
    pub(super) tract_profile: Vec<(String, f64)>,
    pub(super) e2e_size: usize,
    pub(super) e2e: Vec<EndToEnd>,
    pub(super) jni: Option<JniTiming>,
    pub(super) memory: Vec<MemoryUse>,
    #[cfg(feature = "train")]
    pub(super) training: Vec<super::training::StepTiming>,
    pub(super) notes: Vec<String>,
}

impl Report {
    pub(super) fn new(args: &BenchArgs, card: &brightseg::model::ModelCard, image: String) -> Self {
        Report {
            machine: machine_description(),
            model: format!("{} ({})", card.name, card.onnx_path.display()),
            image,
            tile_shape: Vec::new(),
            tiles: Vec::new(),
            tract_profile: Vec::new(),
            e2e_size: args.e2e_size,
            e2e: Vec::new(),
            jni: None,
            memory: Vec::new(),
            #[cfg(feature = "train")]
            training: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn note(&mut self, note: String) {
        eprintln!("note: {note}");
        self.notes.push(note);
    }

    pub(super) fn reference_ms(&self, threads: usize, cuda: bool) -> Option<f64> {
        self.tiles
            .iter()
            .find(|t| t.threads == threads && t.engine == Engine::Python { cuda })
            .and_then(|t| t.ms_per_tile)
    }

    pub(super) fn markdown(&self) -> String {
        let mut s = String::new();
        let shape: Vec<String> = self.tile_shape.iter().map(ToString::to_string).collect();
        let _ = writeln!(s, "## {}\n", self.machine);
        let _ = writeln!(
            s,
            "brightseg {} · model {} · tile {} · image content from {}\n",
            env!("CARGO_PKG_VERSION"),
            self.model,
            shape.join("×"),
            self.image
        );
        let _ = writeln!(s, "### Inference on the same tile\n");
        let _ = writeln!(
            s,
            "| engine | threads | ms per tile | ratio to Python onnxruntime | ran on |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for t in &self.tiles {
            let cuda = matches!(
                t.engine,
                Engine::Ours(BackendChoice::OrtCuda) | Engine::Python { cuda: true }
            );
            let ratio = t
                .ms_per_tile
                .zip(self.reference_ms(t.threads, cuda))
                .map_or_else(|| "—".to_owned(), |(ms, r)| format!("{:.2}", ms / r));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {ratio} | {} |",
                t.engine.label(),
                if cuda {
                    "GPU".to_owned()
                } else {
                    t.threads.to_string()
                },
                t.ms_per_tile
                    .map_or_else(|| "—".to_owned(), |ms| format!("{ms:.1}")),
                t.detail
            );
        }
        if !self.tract_profile.is_empty() {
            let total: f64 = self.tract_profile.iter().map(|(_, t)| t).sum();
            let _ = writeln!(s, "\n### Where tract's time goes (one tile, one thread)\n");
            let _ = writeln!(s, "| operator | ms | share |");
            let _ = writeln!(s, "|---|---|---|");
            for (op, seconds) in self
                .tract_profile
                .iter()
                .filter(|(_, t)| *t >= total * 0.005)
            {
                let _ = writeln!(
                    s,
                    "| {op} | {:.1} | {:.1} % |",
                    seconds * 1000.0,
                    seconds / total * 100.0
                );
            }
        }
        let _ = writeln!(
            s,
            "\n### End-to-end Find Nuclei ({0} × {0} image, in process, file I/O excluded)\n",
            self.e2e_size
        );
        let _ = writeln!(
            s,
            "| backend | threads | µm per pixel | seconds | MP/s | network alone, MP/s | end to end / network | ran on |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for e in &self.e2e {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                e.choice,
                e.threads,
                e.pixel_size,
                e.seconds,
                e.megapixels_per_second,
                e.network_megapixels_per_second,
                e.of_network(),
                e.backend
            );
        }
        if !self.e2e.is_empty() {
            let _ = writeln!(
                s,
                "\n\"Network alone\": the model over the same plane at the size it runs at, in its \
                 tiles without overlap, on the same threads. Where the time went, one more run of \
                 each, in seconds (share of that run):\n"
            );
            let mut header = String::from("| stage |");
            let mut rule = String::from("|---|");
            for e in &self.e2e {
                let _ = write!(header, " {} {}t {} µm |", e.choice, e.threads, e.pixel_size);
                rule.push_str("---|");
            }
            let _ = writeln!(s, "{header}\n{rule}");
            // Every stage, then what ran outside them.
            for stage in TimedStage::ALL.iter().copied().map(Some).chain([None]) {
                let label = stage.map_or("the rest (outside these stages)", TimedStage::label);
                let mut row = format!("| {label} |");
                for e in &self.e2e {
                    let seconds = match stage {
                        Some(stage) => e.stages.of(stage),
                        None => (e.stages_run - e.stages.total()).max(0.0),
                    };
                    let share = 100.0 * seconds / e.stages_run.max(f64::MIN_POSITIVE);
                    let _ = write!(row, " {seconds:.3} ({share:.0} %) |");
                }
                let _ = writeln!(s, "{row}");
            }
        }
        if let Some(j) = &self.jni {
            let _ = writeln!(
                s,
                "\n### JNI call vs in-process call (same image, tract, {} thread{})\n",
                j.threads,
                if j.threads == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                s,
                "| the Java call returns | in process ms | Java API ms | vs in process | \
                 bridge ms per call | segmenting ms in the call | bridge overhead |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|");
            for (what, c) in j.kinds() {
                let _ = writeln!(
                    s,
                    "| {what} | {:.0} | {:.0} | {:+.1} % | {:.1} | {:.0} | {:.2} % |",
                    j.in_process_ms,
                    c.jni_ms,
                    c.against(j.in_process_ms),
                    c.bridge_ms,
                    c.work_ms,
                    c.bridge_share()
                );
            }
            let _ = writeln!(
                s,
                "\nThe bridge overhead is each Java call's time minus the native segmentation \
                 time it reports (pixels in, results out, Java objects), measured inside the same \
                 calls; \"vs in process\" compares the Java calls with the same call in this \
                 process, timed in turns (medians of at least 5 rounds)."
            );
        }
        if let Some(first) = self.memory.first() {
            let _ = writeln!(
                s,
                "\n### Peak memory (brightseg find-nuclei, {0} × {0} 16-bit TIFF)\n",
                first.size
            );
            let _ = writeln!(
                s,
                "| backend | threads | µm per pixel | peak RSS MB | image MB | beyond the image \
                 MB | `brightseg resources` MB | peak / resources | seconds |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
            for m in &self.memory {
                let image_mb = (m.size * m.size * 2) as f64 / 1e6;
                let peak_mb = m.peak_kb as f64 * 1024.0 / 1e6;
                let (predicted, ratio) = m.predicted_mb.map_or_else(
                    || ("—".to_owned(), "—".to_owned()),
                    |p| (p.to_string(), format!("{:.2}", peak_mb / p.max(1) as f64)),
                );
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {peak_mb:.0} | {image_mb:.0} | {:.0} | {predicted} | {ratio} \
                     | {:.0} |",
                    m.choice,
                    m.threads,
                    m.pixel_size,
                    peak_mb - image_mb,
                    m.seconds
                );
            }
        }
        #[cfg(feature = "train")]
        if let Some(first) = self.training.first() {
            let _ = writeln!(
                s,
                "\n### Training step (batch 8 × 128², forward, loss, backward, Adam; median of \
                 the timed steps after {} untimed)\n",
                first.warmup
            );
            let _ = writeln!(
                s,
                "| architecture | engine | threads | s per step | vs flex | of which batch s |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for t in &self.training {
                let ratio = t
                    .flex_seconds_per_step
                    .map_or_else(String::new, |f| format!("{:.2}×", f / t.seconds_per_step));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} | {ratio} | {:.3} |",
                    t.architecture, t.engine, t.threads, t.seconds_per_step, t.batch_seconds
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}

/// CPU model, cores, memory, GPU and OS, as one line.
pub(super) fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "?".to_owned(),
            |kb| format!("{:.0}", kb / 1024.0 / 1024.0),
        );
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let gpu = Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|g| !g.is_empty())
        .map_or_else(String::new, |g| format!(" · GPU {g}"));
    format!("{cpu} · {cores} logical cores · {memory_gb} GiB · {os}{gpu}")
}
