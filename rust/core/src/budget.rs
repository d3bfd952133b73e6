//! Memory limits: how much memory a job may use, and how much a given image needs, so that an
//! image too large for the machine is refused with a message before anything big is allocated
//! (instead of the process, or the Fiji session around it, being killed by the system).
//!
//! The need is estimated on the high side from measurements on this project's reference machine
//! (BENCHMARKS.md): every plane pixel costs about 12 bytes while nuclei are found (normalised
//! tile input, probability, labels and object bookkeeping), and each tile in flight holds about
//! 300 MB of network activations per 512 × 512 tile.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// Share of the machine's memory (or of the container's limit) a job may use by default.
pub const DEFAULT_SHARE: f64 = 0.8;
/// Bytes per plane pixel while nuclei are found, beyond the decoded image itself.
pub const WORK_BYTES_PER_PIXEL: u64 = 12;
/// Network working memory per tile in flight, for a 512 × 512 tile (scales with the tile area).
pub const TILE_BYTES_AT_512: u64 = 300_000_000;
/// The program, the loaded model and allocator slack.
pub const BASE_BYTES: u64 = 150_000_000;

/// How much memory a job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    bytes: u64,
    automatic: bool,
}

impl MemoryBudget {
    /// A budget of exactly `bytes`.
    pub fn bytes(bytes: u64) -> Self {
        MemoryBudget {
            bytes,
            automatic: false,
        }
    }

    /// No limit (the budget is larger than any allocation).
    pub fn unlimited() -> Self {
        Self::bytes(u64::MAX)
    }

    /// The default: 80 % of this machine's memory, or of the container's (cgroup) limit when that
    /// is lower; unlimited where neither can be read.
    pub fn automatic() -> Self {
        let limit = [total_memory_bytes(), cgroup_limit_bytes()]
            .into_iter()
            .flatten()
            .min();
        MemoryBudget {
            bytes: limit.map_or(u64::MAX, |b| (b as f64 * DEFAULT_SHARE) as u64),
            automatic: true,
        }
    }

    /// Parses a size such as `8G`, `8GB`, `1.5 GiB`, `512M`, `2000000000` (bytes), or
    /// `auto` / `none` (unlimited). Units are binary (1G = 1024³ bytes), as in `ulimit` and Slurm.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "auto" | "" => return Ok(Self::automatic()),
            "none" | "unlimited" => return Ok(Self::unlimited()),
            _ => {}
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let bad = || {
            Error::invalid(format!(
                "memory budget `{text}` is not a size: give one such as 8G, 512M or 1.5GiB (or \
                 auto, none)"
            ))
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(bad()),
        };
        let bytes = value * scale as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(Self::bytes(bytes as u64))
    }

    /// The budget in bytes (`u64::MAX` when unlimited).
    pub fn limit(&self) -> u64 {
        self.bytes
    }

    /// Refuses `need` bytes for `what` when they exceed the budget; `advice` says how to need
    /// less (the budget flag is mentioned by the caller's adapter).
    pub fn check(&self, need: u64, what: &str, advice: &str) -> Result<()> {
        self.check_with(need, what, &format!("{advice}, or raise the memory budget"))
    }

    /// As [`MemoryBudget::check`], with `options` the whole of what helps (e.g. "raise the
    /// memory budget" when nothing else would).
    pub fn check_with(&self, need: u64, what: &str, options: &str) -> Result<()> {
        if need <= self.bytes {
            return Ok(());
        }
        let origin = if self.automatic {
            format!(" ({:.0} % of this machine's memory)", DEFAULT_SHARE * 100.0)
        } else {
            String::new()
        };
        Err(Error::too_large(format!(
            "{what} needs about {} but the memory budget is {}{origin}: {options}",
            Size(need),
            Size(self.bytes)
        )))
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::automatic()
    }
}

impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes == u64::MAX {
            f.write_str("unlimited")
        } else {
            Size(self.bytes).fmt(f)
        }
    }
}

/// A byte count shown the way users read it (`5.6 GB`, `300 MB`).
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if self.0 == u64::MAX {
            f.write_str("more than 18 million TB")
        } else if b >= 1e12 {
            write!(f, "{:.0} TB", b / 1e12)
        } else if b >= 1e9 {
            write!(f, "{:.1} GB", b / 1e9)
        } else if b >= 1e6 {
            write!(f, "{:.0} MB", b / 1e6)
        } else {
            write!(f, "{:.0} kB", (b / 1e3).ceil())
        }
    }
}

/// Memory to find nuclei in one `width × height` plane with `workers` tiles of `tile_h × tile_w`
/// in flight, beyond the decoded image itself.
pub fn find_nuclei_bytes(
    width: usize,
    height: usize,
    tile_h: usize,
    tile_w: usize,
    workers: usize,
) -> u64 {
    let pixels = (width as u64).saturating_mul(height as u64);
    let tile_area = (tile_h * tile_w) as f64 / (512.0 * 512.0);
    let tiles = (workers.max(1) as f64 * TILE_BYTES_AT_512 as f64 * tile_area) as u64;
    BASE_BYTES
        .saturating_add(tiles)
        .saturating_add(pixels.saturating_mul(WORK_BYTES_PER_PIXEL))
}

/// Total memory of this machine, from `/proc/meminfo` (Linux).
fn total_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The memory limit of this process's cgroup (containers, Slurm jobs), when one is set.
fn cgroup_limit_bytes() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(Path::new(p)).ok())
    .filter_map(|t| t.trim().parse::<u64>().ok())
    .find(|&b| b < (1 << 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn sizes_parse_in_binary_units_and_nonsense_is_refused() {
        let gib = 1u64 << 30;
        assert_eq!(MemoryBudget::parse("8G").expect("8G").limit(), 8 * gib);
        assert_eq!(MemoryBudget::parse("8 GB").expect("8 GB").limit(), 8 * gib);
        assert_eq!(
            MemoryBudget::parse("1.5GiB").expect("1.5GiB").limit(),
            gib * 3 / 2
        );
        assert_eq!(
            MemoryBudget::parse("512m").expect("512m").limit(),
            512 << 20
        );
        assert_eq!(MemoryBudget::parse("1000").expect("bytes").limit(), 1000);
        assert_eq!(
            MemoryBudget::parse("none").expect("none"),
            MemoryBudget::unlimited()
        );
        assert!(MemoryBudget::parse("auto").expect("auto").limit() > 0);
        for bad in ["8X", "-1G", "G", "0", "1e999G", "..5G", "NaN"] {
            let e = MemoryBudget::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidParameter, "{bad}");
            assert!(e.message().contains("8G"), "{}", e.message());
        }
    }

    #[test]
    fn a_need_above_the_budget_is_refused_with_both_numbers() {
        let budget = MemoryBudget::bytes(4_000_000_000);
        budget
            .check(3_999_999_999, "this", "do less")
            .expect("fits");
        let e = budget
            .check(5_600_000_000, "a 20000 × 20000 plane", "use smaller tiles")
            .expect_err("too much");
        assert_eq!(e.kind(), ErrorKind::ResourceLimit);
        assert_eq!(
            e.message(),
            "a 20000 × 20000 plane needs about 5.6 GB but the memory budget is 4.0 GB: use \
             smaller tiles, or raise the memory budget"
        );
        assert!(MemoryBudget::automatic()
            .check(u64::MAX, "x", "y")
            .is_err_and(|e| e.message().contains("of this machine's memory")));
    }

    #[test]
    fn the_estimate_covers_measured_peaks_and_grows_with_what_costs_memory() {
        // Measured (BENCHMARKS.md): 20000² with 2 workers and 512² tiles peaked at 3.6 GB
        // beyond the image; 10000², 2 workers: 1.08 GB in all.
        let big = find_nuclei_bytes(20_000, 20_000, 512, 512, 2);
        assert!((3_600_000_000..7_000_000_000).contains(&big), "{big}");
        assert!(find_nuclei_bytes(10_000, 10_000, 512, 512, 2) > 1_080_000_000);
        let base = find_nuclei_bytes(1000, 1000, 512, 512, 2);
        assert!(find_nuclei_bytes(1000, 1000, 512, 512, 4) > base);
        assert!(find_nuclei_bytes(1000, 1000, 256, 256, 2) < base);
        assert!(find_nuclei_bytes(2000, 1000, 512, 512, 2) > base);
        assert_eq!(
            find_nuclei_bytes(usize::MAX, usize::MAX, 512, 512, 1),
            u64::MAX,
            "saturates instead of overflowing"
        );
    }

    /// The documented default is 80 % of the machine's memory or of the cgroup's limit,
    /// whichever is lower. Catches another share, or a limit read from the wrong place.
    #[test]
    fn the_automatic_budget_is_80_percent_of_this_machine_or_its_cgroup() {
        let auto = MemoryBudget::automatic().limit();
        let total = total_memory_bytes().expect("Linux has /proc/meminfo");
        let limit = cgroup_limit_bytes().map_or(total, |c| c.min(total));
        let expected = (limit as f64 * 0.8) as u64;
        assert_eq!(auto, expected, "{auto} of {limit}");
    }
}
