//! Where Find Nuclei's time goes, stage by stage: wall-clock seconds collected process-wide
//! while a [`StageClock`] runs (`brightseg bench` starts one around its end-to-end runs).
//! Nothing is collected otherwise; switched off, a timed section costs one relaxed atomic load.
//!
//! Stages on the calling thread are timed exclusively: a stage started inside another (the band
//! path finds objects while the probability is being emitted) pauses the outer one, so the
//! stages add up to the run. Tiles run on every worker at once; their two stages (filling and
//! normalising a tile, running the network) are summed as thread time and share the wall time
//! of the tile phase in proportion.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A stage of Find Nuclei, in the order data flows through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedStage {
    /// Input rows for a round of tiles: copied, or resampled to the model's pixel size.
    Input,
    /// Tiles cut from those rows and normalised (thread time within the tile phase).
    Normalise,
    /// The network on the tiles (thread time within the tile phase).
    Network,
    /// Overlapping tile outputs blended into rows.
    Blend,
    /// Probability rows resampled back to the image's grid and handed on.
    Output,
    /// Threshold and connected components.
    Components,
    /// Holes filled, touching nuclei split (distance seeds and watershed).
    Split,
    /// Objects below the minimum size removed, labels renumbered.
    SizeFilter,
    /// Per-object measurements.
    Measure,
}

impl TimedStage {
    /// Every stage, in data-flow order.
    pub const ALL: [TimedStage; 9] = [
        TimedStage::Input,
        TimedStage::Normalise,
        TimedStage::Network,
        TimedStage::Blend,
        TimedStage::Output,
        TimedStage::Components,
        TimedStage::Split,
        TimedStage::SizeFilter,
        TimedStage::Measure,
    ];

    /// What the stage does, for tables.
    pub fn label(self) -> &'static str {
        match self {
            TimedStage::Input => "input rows (copied or resampled)",
            TimedStage::Normalise => "tiles cut and normalised",
            TimedStage::Network => "network",
            TimedStage::Blend => "tiles blended",
            TimedStage::Output => "probability back to the image grid",
            TimedStage::Components => "threshold and connected components",
            TimedStage::Split => "holes, seeds and watershed",
            TimedStage::SizeFilter => "size filter and renumbering",
            TimedStage::Measure => "measurements",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const STAGES: usize = TimedStage::ALL.len();

/// The counters one clock reads: the process-wide [`LEDGER`], or a test's own.
struct Ledger {
    active: AtomicBool,
    /// Exclusive wall nanoseconds per stage on the calling threads.
    wall: [AtomicU64; STAGES],
    /// Thread nanoseconds per stage inside tile phases.
    thread: [AtomicU64; STAGES],
    /// Exclusive wall nanoseconds of tile phases.
    tile_phase: AtomicU64,
}

static LEDGER: Ledger = Ledger::new();
/// One clock at a time.
static CLOCK: Mutex<()> = Mutex::new(());

thread_local! {
    /// Open sections on this thread: which counter of which ledger, and since when it runs.
    static OPEN: RefCell<Vec<(&'static Ledger, Counter, Instant)>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug, Clone, Copy)]
enum Counter {
    Stage(TimedStage),
    TilePhase,
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

impl Ledger {
    const fn new() -> Ledger {
        Ledger {
            active: AtomicBool::new(false),
            wall: [const { AtomicU64::new(0) }; STAGES],
            thread: [const { AtomicU64::new(0) }; STAGES],
            tile_phase: AtomicU64::new(0),
        }
    }

    fn add(&self, counter: Counter, elapsed: Duration) {
        let target = match counter {
            Counter::Stage(s) => &self.wall[s.index()],
            Counter::TilePhase => &self.tile_phase,
        };
        target.fetch_add(nanos(elapsed), Ordering::Relaxed);
    }

    fn exclusive<R>(&'static self, counter: Counter, f: impl FnOnce() -> R) -> R {
        if !self.active.load(Ordering::Relaxed) {
            return f();
        }
        let now = Instant::now();
        OPEN.with_borrow_mut(|open| {
            if let Some((ledger, outer, since)) = open.last_mut() {
                ledger.add(*outer, now - *since);
            }
            open.push((self, counter, now));
        });
        let result = f();
        let now = Instant::now();
        OPEN.with_borrow_mut(|open| {
            if let Some((ledger, counter, since)) = open.pop() {
                ledger.add(counter, now - since);
            }
            if let Some((_, _, since)) = open.last_mut() {
                *since = now;
            }
        });
        result
    }

    fn in_tile<R>(&self, stage: TimedStage, f: impl FnOnce() -> R) -> R {
        if !self.active.load(Ordering::Relaxed) {
            return f();
        }
        let start = Instant::now();
        let result = f();
        self.thread[stage.index()].fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
        result
    }

    fn start(&self) {
        for counter in self
            .wall
            .iter()
            .chain(&self.thread)
            .chain([&self.tile_phase])
        {
            counter.store(0, Ordering::Relaxed);
        }
        self.active.store(true, Ordering::Relaxed);
    }

    fn stop(&self) -> StageTimes {
        self.active.store(false, Ordering::Relaxed);
        let seconds = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 * 1e-9;
        let phase = seconds(&self.tile_phase);
        let in_tiles: f64 = self.thread.iter().map(seconds).sum();
        let seconds = TimedStage::ALL
            .iter()
            .map(|&s| {
                let own = seconds(&self.wall[s.index()]);
                let share = if in_tiles > 0.0 {
                    phase * seconds(&self.thread[s.index()]) / in_tiles
                } else {
                    0.0
                };
                (s, own + share)
            })
            .collect();
        StageTimes { seconds }
    }
}

/// Runs `f` as `stage` on the calling thread (exclusive wall time).
pub fn time<R>(stage: TimedStage, f: impl FnOnce() -> R) -> R {
    LEDGER.exclusive(Counter::Stage(stage), f)
}

/// Runs `f`, the parallel phase in which tiles are normalised and run by the network.
pub fn time_tile_phase<R>(f: impl FnOnce() -> R) -> R {
    LEDGER.exclusive(Counter::TilePhase, f)
}

/// Runs `f` as `stage` inside a tile phase, on whichever worker runs it (thread time).
pub fn time_in_tile<R>(stage: TimedStage, f: impl FnOnce() -> R) -> R {
    LEDGER.in_tile(stage, f)
}

/// Collects stage times until [`StageClock::stop`]. One clock runs at a time; a second waits.
/// Only for measuring: calls running beside the measured one add their time to it.
pub struct StageClock {
    _one: std::sync::MutexGuard<'static, ()>,
}

impl StageClock {
    /// Clears the counters and starts collecting.
    pub fn start() -> StageClock {
        let one = CLOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        LEDGER.start();
        StageClock { _one: one }
    }

    /// Stops collecting and returns the seconds per stage, in data-flow order.
    pub fn stop(self) -> StageTimes {
        LEDGER.stop()
    }
}

impl Drop for StageClock {
    fn drop(&mut self) {
        LEDGER.active.store(false, Ordering::Relaxed);
    }
}

/// Seconds per stage of what ran while a [`StageClock`] ran.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTimes {
    /// Every stage with its seconds, in data-flow order.
    pub seconds: Vec<(TimedStage, f64)>,
}

impl StageTimes {
    /// Seconds of all stages together.
    pub fn total(&self) -> f64 {
        self.seconds.iter().map(|(_, s)| s).sum()
    }

    /// Seconds of one stage.
    pub fn of(&self, stage: TimedStage) -> f64 {
        self.seconds
            .iter()
            .find(|(s, _)| *s == stage)
            .map_or(0.0, |(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// Catches nested stages counted twice (the outer one not paused) and a tile phase not
    /// shared between its two stages by their thread time. A ledger of its own, so tests
    /// running beside it cannot add to it; bounds only from below where the machine may pause
    /// the thread.
    #[test]
    fn nested_stages_count_once_and_the_tile_phase_is_shared_by_thread_time() {
        let ledger: &'static Ledger = Box::leak(Box::new(Ledger::new()));
        let stage = |s: TimedStage, f: &dyn Fn()| ledger.exclusive(Counter::Stage(s), f);
        ledger.start();
        let started = Instant::now();
        stage(TimedStage::Output, &|| {
            busy(20);
            stage(TimedStage::Measure, &|| busy(30));
            busy(10);
        });
        ledger.exclusive(Counter::TilePhase, || {
            ledger.in_tile(TimedStage::Normalise, || busy(5));
            ledger.in_tile(TimedStage::Network, || busy(40));
        });
        let wall = started.elapsed().as_secs_f64();
        let times = ledger.stop();
        assert!(times.of(TimedStage::Output) >= 0.030, "{times:?}");
        assert!(times.of(TimedStage::Measure) >= 0.030, "{times:?}");
        assert!(
            times.of(TimedStage::Network) > times.of(TimedStage::Normalise),
            "{times:?}"
        );
        // Exclusive: the stages add up to the wall time, never more.
        assert!(
            times.total() <= wall + 1e-6 && times.total() >= 0.95 * wall,
            "{times:?} in {wall} s"
        );
        // Stopped: nothing more is collected.
        stage(TimedStage::Input, &|| busy(5));
        assert_eq!(ledger.stop().of(TimedStage::Input), 0.0);
    }
}
