//! Shared helpers: where things are, skipping outside CI, .npy files, running the CLI and the
//! Python oracles.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `path` if it exists; in CI a missing path fails the test, elsewhere it skips with a message.
pub fn require(path: PathBuf, how_to_get_it: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{} is missing ({how_to_get_it})", path.display());
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// The third-party bioimage.io model in ../shared/models.
pub fn shared_model() -> Option<PathBuf> {
    require(
        repo_root().join("../shared/models/unet2d_nuclei_broad"),
        "the shared models folder sits beside the repository in CI and on developer machines",
    )
}

/// A data file fetched by scripts/fetch-data.sh.
pub fn data(relative: &str) -> Option<PathBuf> {
    let dir =
        std::env::var_os("BRIGHTSEG_DATA").map_or_else(|| repo_root().join("data"), PathBuf::from);
    require(dir.join(relative), "run scripts/fetch-data.sh")
}

/// The Python interpreter with the oracle packages (tests/oracle/requirements.txt).
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("BRIGHTSEG_PYTHON")
        .map_or_else(|| repo_root().join(".venv/bin/python"), PathBuf::from);
    require(candidate, "create it with scripts/setup-test-env.sh")
}

/// Runs tests/oracle/oracle.py with `args`; panics with its stderr when it fails.
pub fn oracle(python: &Path, args: &[&OsStr]) {
    let out = Command::new(python)
        .arg(repo_root().join("tests/oracle/oracle.py"))
        .args(args)
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn brightseg(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brightseg"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("BRIGHTSEG_MODEL_PATH")
        .output()
        .expect("start brightseg")
}

/// A minimal .npy (format 1.0) of little-endian values.
pub trait NpyScalar: Copy {
    const DESCR: &'static str;
    fn to_le(self) -> Vec<u8>;
    fn from_le(b: &[u8]) -> Self;
}

impl NpyScalar for f32 {
    const DESCR: &'static str = "<f4";
    fn to_le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl NpyScalar for u32 {
    const DESCR: &'static str = "<u4";
    fn to_le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_le(b: &[u8]) -> Self {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl NpyScalar for f64 {
    const DESCR: &'static str = "<f8";
    fn to_le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_le(b: &[u8]) -> Self {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        f64::from_le_bytes(a)
    }
}

pub fn write_npy<T: NpyScalar>(path: &Path, shape: &[usize], data: &[T]) {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_txt}, }}",
        T::DESCR
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend(v.to_le());
    }
    std::fs::write(path, bytes).expect("write npy");
}

/// Reads a .npy written by numpy (version 1 or 2 header); returns shape and values.
pub fn read_npy<T: NpyScalar>(path: &Path) -> (Vec<usize>, Vec<T>) {
    let bytes = std::fs::read(path).expect("read npy");
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("header");
    assert!(header.contains(T::DESCR), "{header} is not {}", T::DESCR);
    assert!(header.contains("'fortran_order': False"));
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_txt
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let size = std::mem::size_of::<T>();
    let data = bytes[start + header_len..]
        .chunks_exact(size)
        .map(T::from_le)
        .collect();
    (shape, data)
}

/// Runs the CLI with `args`, which must succeed; returns its standard output.
pub fn brightseg_ok(args: &[&OsStr]) -> String {
    let out = brightseg(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "brightseg {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Scores `model` on ndev's test region (frames 7-9, x 384-575, never trained on) against the
/// dataset's `nuclei` labels, the model seeing `channel`: the object F1 and the `total` line.
pub fn ndev_test_region_f1(series: &Path, model: &Path, channel: &str) -> (f64, String) {
    let total = evaluate_total(&[
        os("evaluate"),
        series.as_os_str(),
        os("--model"),
        model.as_os_str(),
        os("--channel"),
        os(channel),
        os("--frames"),
        os("7-9"),
        os("--region"),
        os("384,0,192,210"),
        os("--truth-channel"),
        os("nuclei"),
    ]);
    let f1 = total
        .split_whitespace()
        .nth(6)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no object F1 in {total}"));
    (f1, total)
}

/// Runs `brightseg evaluate` with `args` (which must succeed) and returns its `total` line.
pub fn evaluate_total(args: &[&OsStr]) -> String {
    let out = brightseg_ok(args);
    out.lines()
        .find(|l| l.starts_with("total"))
        .map(String::from)
        .unwrap_or_else(|| panic!("no total line in:\n{out}"))
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The ONNX Runtime library of the test environment's CPU wheel (or $BRIGHTSEG_TEST_ORT_LIB).
pub fn ort_library() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BRIGHTSEG_TEST_ORT_LIB") {
        return require(PathBuf::from(path), "BRIGHTSEG_TEST_ORT_LIB names it");
    }
    let lib = repo_root().join(".venv/lib");
    let python = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        })
    });
    require(
        python.map_or(lib, |p| p.join("site-packages/onnxruntime/capi")),
        "create it with scripts/setup-test-env.sh (it installs the onnxruntime wheel)",
    )
}

/// The largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A model folder around the shared dynamic-size ONNX with our own card.
pub fn dynamic_model(dir: &Path, tile_size: usize, sizes: &str) -> std::path::PathBuf {
    let src = dir.join("weights_dynamic_hw.onnx");
    let folder = tempfile::tempdir().expect("tempdir").keep();
    std::fs::copy(src, folder.join("model.onnx")).expect("copy weights");
    let card = format!(
        r#"format_version: 0.5.4
type: model
name: dynamic test
inputs:
  - id: raw
    axes:
      - type: batch
      - type: channel
        channel_names: [raw]
      - {{type: space, id: y, size: {sizes}}}
      - {{type: space, id: x, size: {sizes}}}
    preprocessing:
      - id: zero_mean_unit_variance
outputs:
  - id: prob
    axes:
      - type: batch
      - type: channel
        channel_names: [prob]
      - {{type: space, id: y, halo: 32, size: {{tensor_id: raw, axis_id: y}}}}
      - {{type: space, id: x, halo: 32, size: {{tensor_id: raw, axis_id: x}}}}
    postprocessing:
      - id: sigmoid
weights:
  onnx: {{source: model.onnx}}
config:
  brightseg: {{tile_size: {tile_size}}}
"#
    );
    std::fs::write(folder.join("bioimageio.yaml"), card).expect("write card");
    folder
}

/// The header and rows of a CSV table (quoted cells read as CSV readers read them).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("row").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Runs `brightseg find-nuclei INPUT --model MODEL --out OUT --quiet` with `extra` arguments,
/// which must succeed, and returns its summary table (header, rows).
pub fn find_nuclei_summary(
    model: &Path,
    input: &Path,
    out: &Path,
    extra: &[&str],
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut args = vec![
        os("find-nuclei"),
        input.as_os_str(),
        os("--model"),
        model.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("--quiet"),
    ];
    args.extend(extra.iter().map(|a| os(a)));
    brightseg_ok(&args);
    read_csv(&out.join("summary.csv"))
}
