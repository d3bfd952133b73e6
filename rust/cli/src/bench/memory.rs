//! Peak resident memory of find-nuclei on a huge image, in a child process.

use super::*;

/// Peak resident memory of `brightseg find-nuclei` on a `large_size²` 16-bit TIFF.
pub(super) struct MemoryUse {
    pub(super) size: usize,
    pub(super) choice: BackendChoice,
    pub(super) threads: usize,
    pub(super) pixel_size: f64,
    pub(super) peak_kb: u64,
    pub(super) seconds: f64,
    /// What `brightseg resources --pixel-size` states for the same job, MB.
    pub(super) predicted_mb: Option<u64>,
}

pub(super) fn peak_memory(
    source: &Plane,
    model_path: &Path,
    (choice, threads, pixel_size): (BackendChoice, usize, f64),
    args: &BenchArgs,
    work: &Path,
) -> Result<MemoryUse> {
    let size = args.large_size;
    // Written once per bench run, without a calibration: each run gives its pixel size.
    let big = work.join(format!("large-{size}.tif"));
    if !big.is_file() {
        eprintln!("writing a {size} × {size} 16-bit test image…");
        let plane = mirrored(source, size, size)?;
        let PixelData::U16(pixels) = plane.data() else {
            bail!("the peak-memory image must be 16-bit");
        };
        io::write_tiff(
            &big,
            size,
            size,
            &[OutputPlane::Gray16(pixels)],
            1,
            Calibration::default(),
        )?;
    }
    eprintln!("find-nuclei on it with {choice} at {threads} thread(s)…");
    let exe = std::env::current_exe().context("cannot find the brightseg executable")?;
    let mut command = Command::new(exe);
    command
        .arg("find-nuclei")
        .arg(&big)
        .arg("--pixel-size")
        .arg(pixel_size.to_string())
        .arg("--model")
        .arg(model_path)
        .arg("--backend")
        .arg(choice.name())
        .arg("--jobs")
        .arg(threads.to_string())
        // A folder of its own per run, and --overwrite: a finished image in it would be
        // skipped, and its "peak" would be that of a process that did nothing.
        .arg("--out")
        .arg(work.join(format!("large-out-{choice}-{threads}-{pixel_size}")))
        .arg("--overwrite")
        .arg("--quiet")
        .arg("--report-peak-memory");
    if let Some(lib) = &args.ort_lib {
        command.arg("--ort-lib").arg(lib);
    }
    let start = Instant::now();
    let out = command.output().context("cannot start find-nuclei")?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("find-nuclei failed: {stderr}");
    }
    let peak_kb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .context("find-nuclei reported no peak memory")?;
    let predicted_mb = crate::resources::planning_model(model_path, None)
        .and_then(|model| {
            crate::resources::estimate_mb(&model, threads, (size, size), Some(pixel_size))
        })
        .map_err(|e| eprintln!("no resources estimate: {e:#}"))
        .ok();
    Ok(MemoryUse {
        size,
        choice,
        threads,
        pixel_size,
        peak_kb,
        seconds,
        predicted_mb,
    })
}

/// This process's peak resident memory in kB (Linux: VmHWM in /proc/self/status).
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
