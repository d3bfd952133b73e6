//! The Java API's call against the same call in process: what the JNI bridge costs.

use super::*;

pub(super) fn find_jar(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(jar) = explicit {
        return Some(jar.to_path_buf());
    }
    let dir = Path::new("java/build/libs");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("brightseg-api-") && n.ends_with(".jar"))
        })
        .collect();
    jars.sort();
    jars.pop()
}

/// The JNI path against the in-process path: same image, model, tract, threads.
pub(super) struct JniTiming {
    pub(super) threads: usize,
    pub(super) in_process_ms: f64,
    /// Java calls that return labels and measurements (the CLI's default outputs).
    pub(super) labels: JniCalls,
    /// Java calls that also return the probability image.
    pub(super) full: JniCalls,
}

impl JniTiming {
    /// Each kind of Java call with what it returns.
    pub(super) fn kinds(&self) -> [(&'static str, &JniCalls); 2] {
        [
            (
                "labels, measurements (the CLI's default outputs)",
                &self.labels,
            ),
            ("labels, measurements, probability image", &self.full),
        ]
    }
}

/// Medians over one kind of Java call.
pub(super) struct JniCalls {
    /// The whole Java call.
    pub(super) jni_ms: f64,
    /// Java call − the native segmentation time it reports: the bridge's own cost.
    pub(super) bridge_ms: f64,
    /// Native segmentation time inside the Java calls.
    pub(super) work_ms: f64,
}

impl JniCalls {
    /// Medians of (whole call, bridge, segmentation) milliseconds, each taken on its own.
    pub(super) fn median_of(calls: &[(f64, f64, f64)]) -> Self {
        let column = |pick: fn(&(f64, f64, f64)) -> f64| {
            median(&mut calls.iter().map(pick).collect::<Vec<_>>())
        };
        JniCalls {
            jni_ms: column(|c| c.0),
            bridge_ms: column(|c| c.1),
            work_ms: column(|c| c.2),
        }
    }

    /// The Java call against the in-process call of the same rounds, percent.
    pub(super) fn against(&self, in_process_ms: f64) -> f64 {
        (self.jni_ms / in_process_ms - 1.0) * 100.0
    }

    /// The bridge's cost relative to the segmentation within the same calls, percent.
    pub(super) fn bridge_share(&self) -> f64 {
        self.bridge_ms / self.work_ms * 100.0
    }
}

/// A helper process that answers each line it reads with one line (the Python reference, the
/// Java bench). Its messages go to a log file: a pipe nobody reads while it runs could fill and
/// stall it.
pub(super) struct LineHelper {
    pub(super) child: std::process::Child,
    pub(super) input: std::process::ChildStdin,
    pub(super) output: std::io::BufReader<std::process::ChildStdout>,
    pub(super) log_path: PathBuf,
}

impl LineHelper {
    /// Starts `command` with its messages going to `log_path`.
    pub(super) fn spawn(command: &mut Command, log_path: PathBuf) -> Result<Self> {
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot write {}", log_path.display()))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("no pipe to {}", command.get_program().to_string_lossy());
        };
        Ok(LineHelper {
            child,
            input,
            output: std::io::BufReader::new(output),
            log_path,
        })
    }

    /// The lines it prints before "ready" (trimmed); `Err` with them when it ends first.
    pub(super) fn until_ready(&mut self) -> std::result::Result<Vec<String>, Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match std::io::BufRead::read_line(&mut self.output, &mut line) {
                Ok(0) | Err(_) => return Err(lines),
                Ok(_) => {}
            }
            let line = line.trim().to_owned();
            if line == "ready" {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    /// Sends `request` and returns its reply, trimmed; empty when it has ended.
    pub(super) fn ask(&mut self, request: &str) -> std::io::Result<String> {
        use std::io::Write as _;
        writeln!(self.input, "{request}")?;
        self.input.flush()?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.output, &mut line)?;
        Ok(line.trim().to_owned())
    }

    /// What it has written to its log so far.
    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Closes its input, waits for it to end and returns its log.
    pub(super) fn finish(self) -> String {
        let LineHelper {
            mut child,
            input,
            log_path,
            ..
        } = self;
        drop(input);
        let _ = child.wait();
        std::fs::read_to_string(log_path).unwrap_or_default()
    }
}

/// Rounds of the JNI comparison: `--repeats`, but at least this many.
pub(super) const MIN_JNI_ROUNDS: usize = 5;

/// Times Find Nuclei through the Java API (the jar's `Bench` class, kept running) and in this
/// process in turns: every round makes one in-process call, one Java call returning labels and
/// measurements, and one returning the probability image too.
pub(super) fn jni_overhead(
    jar: &Path,
    model_path: &Path,
    (plane, pixel_size): (&Plane, f64),
    threads: usize,
    args: &BenchArgs,
    work: &Path,
) -> Result<JniTiming> {
    let PixelData::U16(pixels) = plane.data() else {
        bail!("the JNI comparison needs a 16-bit image");
    };
    let raw = work.join("plane.u16");
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).context("cannot write the JNI bench plane")?;
    let calibration = Calibration::square(pixel_size);
    let in_process = InProcess::open(model_path, BackendChoice::Tract, threads, args)?;
    in_process.seconds(plane, calibration)?;
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(jar)
        .arg("io.github.brightseg.Bench")
        .arg(model_path)
        .arg(&raw)
        .arg(plane.width().to_string())
        .arg(plane.height().to_string())
        .arg(pixel_size.to_string())
        .arg(threads.to_string());
    let mut helper = LineHelper::spawn(&mut command, work.join("java-bench.log"))?;
    if helper.until_ready().is_err() {
        bail!("the Java bench stopped: {}", helper.finish().trim());
    }
    let mut call = |kind: &str| -> Result<(f64, f64, f64)> {
        let line = match helper.ask(kind) {
            Ok(line) if !line.is_empty() => line,
            _ => bail!("the Java bench stopped: {}", helper.log().trim()),
        };
        let value = |key: &str| -> Result<f64> {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .with_context(|| {
                    format!("the Java bench printed {line:?}: {}", helper.log().trim())
                })
        };
        Ok((value("ms=")?, value("bridge_ms=")?, value("work_ms=")?))
    };
    let rounds = args.repeats.max(MIN_JNI_ROUNDS);
    let mut in_process_ms = Vec::with_capacity(rounds);
    let mut labels = Vec::with_capacity(rounds);
    let mut full = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // A pause after each Java call: the JVM frees the returned arrays in the background.
        in_process_ms.push(in_process.seconds(plane, calibration)? * 1000.0);
        labels.push(call("labels")?);
        std::thread::sleep(SETTLE);
        full.push(call("full")?);
        std::thread::sleep(SETTLE);
    }
    helper.finish();
    let timing = JniTiming {
        threads,
        in_process_ms: median(&mut in_process_ms),
        labels: JniCalls::median_of(&labels),
        full: JniCalls::median_of(&full),
    };
    for (what, c) in timing.kinds() {
        eprintln!(
            "JNI ({what}): {:.0} ms vs in process {:.0} ms ({:+.1} %); inside the Java calls \
             the bridge took {:.1} ms of {:.0} ms segmenting ({:.2} %)",
            c.jni_ms,
            timing.in_process_ms,
            c.against(timing.in_process_ms),
            c.bridge_ms,
            c.work_ms,
            c.bridge_share()
        );
    }
    Ok(timing)
}
