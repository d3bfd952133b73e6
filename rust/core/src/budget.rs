//! Memory limits: how much memory a job may use, and how much a given image needs, so that an
//! image too large for the machine is refused with a message before anything big is allocated
//! (instead of the process, or the Fiji session around it, being killed by the system).
//!
//! The need is estimated on the high side from measurements on this project's reference machine
//! (2 cores; see [`find_nuclei_bytes`] for the figures): every plane pixel costs about 12 bytes
//! while nuclei are found whole (normalised tile input, probability, labels and object
//! bookkeeping), a plane processed band by band costs 24 bytes per pixel of the rows it holds at
//! once plus its objects, and each tile in flight costs the network's working memory, which the
//! backend estimates from the network itself where it can (tract) and is otherwise taken as
//! 300 MB per 512 × 512 tile.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// Share of the machine's memory (or of the container's limit) a job may use by default.
pub const DEFAULT_SHARE: f64 = 0.8;
/// Bytes per plane pixel while nuclei are found in a whole plane, beyond the decoded image.
pub const WORK_BYTES_PER_PIXEL: u64 = 12;
/// Bytes per pixel of the rows a plane processed band by band holds at once (the band, the rows
/// below it and a row of tiles: probability, labels, resampled rows and the rows on their way
/// to the output files).
pub const BANDED_WORK_BYTES_PER_PIXEL: u64 = 24;
/// Bytes per pixel of a whole plane processed band by band for the objects measured so far
/// (about 700 nuclei per megapixel on dense transmitted light, a few hundred bytes each).
pub const BANDED_OBJECT_BYTES_PER_PIXEL: f64 = 0.5;
/// Network working memory per tile in flight, for a 512 × 512 tile, when the backend cannot
/// estimate it (scales with the tile area): wide U-Nets such as `unet2d_nuclei_broad` measured
/// 170–220 MB.
pub const TILE_BYTES_AT_512: u64 = 300_000_000;
/// The program, the loaded model and allocator slack.
pub const BASE_BYTES: u64 = 150_000_000;

/// How a plane is held while nuclei are found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// The whole plane's maps at once.
    Whole,
    /// Band by band, this many rows of the plane's maps at once.
    Bands {
        /// Rows held at once (a band, the rows below it and a row of tiles).
        held_rows: usize,
    },
}

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

/// The memory that calls running in this process have reserved, and the order in which waiting
/// calls are let in (first come, first served, so a large call is not passed over for ever).
struct Pool {
    /// Bytes reserved beyond [`BASE_BYTES`] (the program is counted once, not once per call).
    reserved: u64,
    /// Ticket of the next call that has to wait.
    next_ticket: u64,
    /// Ticket of the waiting call that is let in next.
    serving: u64,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    reserved: 0,
    next_ticket: 0,
    serving: 0,
});
/// Signalled when memory is given back or a waiting call is let in.
static POOL_CHANGED: Condvar = Condvar::new();

thread_local! {
    /// Reservations the current thread holds (a call made from inside another call's progress
    /// listener must not wait for memory its own thread holds).
    static HELD_BY_THIS_THREAD: Cell<usize> = const { Cell::new(0) };
}

fn pool() -> MutexGuard<'static, Pool> {
    // Nothing panics while the lock is held; a poisoned lock still holds consistent numbers.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Memory reserved beyond the program itself by the calls running in this process now (see
/// [`MemoryBudget::reserve`]); for diagnostics and tests.
pub fn reserved_in_process() -> u64 {
    pool().reserved
}

/// Memory reserved for one call from the process-wide pool; given back when dropped. It belongs
/// to the thread that reserved it.
#[must_use = "the memory is given back as soon as the reservation is dropped"]
#[derive(Debug)]
pub struct Reservation {
    /// Bytes beyond [`BASE_BYTES`].
    bytes: u64,
    /// Not `Send`: the count of reservations held is per thread.
    _this_thread: PhantomData<*const ()>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut pool = pool();
        pool.reserved = pool.reserved.saturating_sub(self.bytes);
        HELD_BY_THIS_THREAD.set(HELD_BY_THIS_THREAD.get().saturating_sub(1));
        drop(pool);
        POOL_CHANGED.notify_all();
    }
}

impl MemoryBudget {
    /// Reserves `need` bytes (counted as [`find_nuclei_bytes`] counts them, the program's
    /// [`BASE_BYTES`] included) for `what` from the one pool that every call in this process
    /// draws from, so that calls running at once (threads of a Fiji macro, several Java
    /// handles) never together need more than this budget. A call that does not fit now waits,
    /// in order of arrival, until enough is given back; one that could never fit is refused
    /// with `options` (see [`MemoryBudget::check_with`]), and so is one that does not fit and is
    /// made from a thread that already holds a reservation (a progress listener calling
    /// again), which could wait for ever.
    ///
    /// Call it outside any rayon pool that the calls share: a pool worker that waits here may
    /// have the frames of the very call it waits for below it on its stack.
    pub fn reserve(&self, need: u64, what: &str, options: &str) -> Result<Reservation> {
        self.check_with(need, what, options)?;
        let work = need.saturating_sub(BASE_BYTES);
        let fits = |pool: &Pool| pool.reserved.saturating_add(need) <= self.bytes;
        let mut pool = pool();
        if HELD_BY_THIS_THREAD.get() > 0 {
            if !fits(&pool) {
                return Err(Error::too_large(format!(
                    "{what} needs about {} but the calls running in this process already hold \
                     {} of the {} memory budget, and this call was made from inside one of them \
                     (a progress listener?), so it cannot wait for them to finish: make it after \
                     that call returns, or {options}",
                    Size(need),
                    Size(pool.reserved.saturating_add(BASE_BYTES)),
                    Size(self.bytes)
                )));
            }
        } else {
            let ticket = pool.next_ticket;
            pool.next_ticket += 1;
            let mut said = false;
            while pool.serving != ticket || !fits(&pool) {
                if !said && pool.serving == ticket {
                    log::info!(
                        "{what} waits for memory: the calls running in this process hold {} \
                         of the {} memory budget and it needs about {}",
                        Size(pool.reserved.saturating_add(BASE_BYTES)),
                        Size(self.bytes),
                        Size(need)
                    );
                    said = true;
                }
                pool = POOL_CHANGED
                    .wait(pool)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            pool.serving += 1;
            // The next in line may fit beside this one.
            POOL_CHANGED.notify_all();
        }
        pool.reserved = pool.reserved.saturating_add(work);
        HELD_BY_THIS_THREAD.set(HELD_BY_THIS_THREAD.get() + 1);
        Ok(Reservation {
            bytes: work,
            _this_thread: PhantomData,
        })
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

/// Network working memory of one `tile_h × tile_w` tile: `bytes_per_pixel` as the backend
/// estimated it for the model, or [`TILE_BYTES_AT_512`] scaled by area when it could not.
pub fn tile_bytes(tile_h: usize, tile_w: usize, bytes_per_pixel: Option<f64>) -> u64 {
    let per_pixel = bytes_per_pixel.unwrap_or(TILE_BYTES_AT_512 as f64 / (512.0 * 512.0));
    (tile_h as f64 * tile_w as f64 * per_pixel) as u64
}

/// Memory to find nuclei in one `width × height` plane held as `holding` says, with `workers`
/// tiles of `tile` bytes each in flight, beyond the decoded image itself.
///
/// Measured peaks (2026-12-07, 2 workers, dense ndev content, peak resident memory minus the
/// 16-bit image): the shipped `fast` model (768² tiles, ~70 MB each by the tract estimate)
/// whole at 3000² and 6000²: 8–9 bytes per pixel; band by band at 9000², 12000² and 20000²:
/// 17–22 bytes per held pixel, the most when resampled; `unet2d_nuclei_broad` (512² tiles)
/// 170–220 MB per extra worker. The constants cover each with 20–60 % to spare.
pub fn find_nuclei_bytes(
    width: usize,
    height: usize,
    holding: Holding,
    tile: u64,
    workers: usize,
) -> u64 {
    let pixels = (width as u64).saturating_mul(height as u64);
    let tiles = (workers.max(1) as u64).saturating_mul(tile);
    let maps = match holding {
        Holding::Whole => pixels.saturating_mul(WORK_BYTES_PER_PIXEL),
        Holding::Bands { held_rows } => (width as u64)
            .saturating_mul(held_rows.min(height) as u64)
            .saturating_mul(BANDED_WORK_BYTES_PER_PIXEL)
            .saturating_add((pixels as f64 * BANDED_OBJECT_BYTES_PER_PIXEL) as u64),
    };
    BASE_BYTES.saturating_add(tiles).saturating_add(maps)
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
    fn the_estimate_grows_with_what_costs_memory_and_saturates() {
        let tile = tile_bytes(512, 512, None);
        assert_eq!(tile, TILE_BYTES_AT_512);
        assert_eq!(tile_bytes(256, 512, Some(100.0)), 256 * 512 * 100);
        let base = find_nuclei_bytes(1000, 1000, Holding::Whole, tile, 2);
        assert_eq!(base, BASE_BYTES + 2 * tile + 12_000_000);
        assert!(find_nuclei_bytes(1000, 1000, Holding::Whole, tile, 4) > base);
        assert!(find_nuclei_bytes(1000, 1000, Holding::Whole, tile / 4, 2) < base);
        assert!(find_nuclei_bytes(2000, 1000, Holding::Whole, tile, 2) > base);
        // Band by band: the held rows at 24 bytes, and half a byte per plane pixel for objects.
        let bands = find_nuclei_bytes(20_000, 20_000, Holding::Bands { held_rows: 1000 }, 0, 1);
        assert_eq!(bands, BASE_BYTES + 20_000 * 1000 * 24 + 200_000_000);
        assert_eq!(
            find_nuclei_bytes(usize::MAX, usize::MAX, Holding::Whole, u64::MAX, 1),
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

    /// The process-wide pool: a call that does not fit beside the running ones waits until they
    /// give memory back (it neither fails nor runs over), calls are let in in order, a call
    /// that could never fit is refused at once, and a call from a thread that already holds a
    /// reservation is refused instead of waiting for itself. The only test that reserves, so
    /// other tests running at once do not move the pool's numbers.
    #[test]
    fn calls_running_at_once_share_one_budget_and_wait_their_turn() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::mpsc;
        use std::time::Duration;
        let budget = MemoryBudget::bytes(BASE_BYTES + 100);
        let first = budget
            .reserve(BASE_BYTES + 60, "first", "help")
            .expect("fits");
        assert_eq!(reserved_in_process(), 60);

        // From the same thread (a listener calling again): what fits is granted, what does
        // not is refused, not waited for.
        let small = budget
            .reserve(BASE_BYTES + 40, "nested", "help")
            .expect("fits");
        let e = budget
            .reserve(BASE_BYTES + 10, "a nested call", "raise it")
            .expect_err("would wait for its own thread");
        assert_eq!(e.kind(), ErrorKind::ResourceLimit);
        assert!(e.message().contains("from inside one of them"), "{e}");
        drop(small);

        // Another thread waits until the first call gives its memory back.
        let (got, granted) = mpsc::channel();
        let second = std::thread::spawn(move || {
            let r = budget
                .reserve(BASE_BYTES + 60, "second", "help")
                .expect("waits, then fits");
            got.send(reserved_in_process()).expect("send");
            drop(r);
        });
        assert!(
            granted.recv_timeout(Duration::from_millis(300)).is_err(),
            "the second call ran beside the first although both do not fit"
        );
        drop(first);
        let during = granted
            .recv_timeout(Duration::from_secs(30))
            .expect("the second call runs once the first is done");
        assert_eq!(during, 60);
        second.join().expect("no panic");

        // Never over: eight threads of different sizes, each checking the pool while it runs.
        let most = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for i in 0..8u64 {
                let most = &most;
                scope.spawn(move || {
                    for round in 0..20u64 {
                        let need = BASE_BYTES + 10 + (i * 7 + round * 13) % 90;
                        let r = budget.reserve(need, "a call", "help").expect("fits alone");
                        most.fetch_max(reserved_in_process(), Ordering::Relaxed);
                        std::thread::yield_now();
                        drop(r);
                    }
                });
            }
        });
        let most = most.load(Ordering::Relaxed);
        assert!(most <= 100 && most > 0, "{most} reserved at once");
        assert_eq!(reserved_in_process(), 0);
        assert!(budget
            .reserve(BASE_BYTES + 101, "too much", "help")
            .is_err_and(|e| e.kind() == ErrorKind::ResourceLimit));
    }
}
