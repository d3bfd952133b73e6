//! Open models behind `long` handles.
//!
//! A handle is a number from a registry, not a pointer: a closed, forged or stale handle is an
//! error (`IllegalStateException` in Java), never a dangling dereference. Calls in flight hold
//! their own reference, so closing a model while another thread uses it cannot free it under
//! that thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::budget::MemoryBudget;
use brightseg::pipeline::Model;

use crate::error::{JniError, JniResult};

/// One open model and the threads that run it.
pub struct Session {
    /// The loaded model.
    pub model: Model,
    /// Worker threads for this model's tiles (as many as the caller asked for).
    pub pool: rayon::ThreadPool,
}

static NEXT_HANDLE: AtomicI64 = AtomicI64::new(1);
static SESSIONS: Mutex<Option<HashMap<i64, Arc<Session>>>> = Mutex::new(None);

fn with_sessions<R>(f: impl FnOnce(&mut HashMap<i64, Arc<Session>>) -> R) -> R {
    let mut guard = SESSIONS.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashMap::new))
}

/// How a session's model runs: what `NativeLib.open` was given.
pub struct Engine {
    /// Worker threads (negative is refused, 0: one per core).
    pub threads: i32,
    /// The backend asked for.
    pub choice: BackendChoice,
    /// ONNX Runtime library, when given.
    pub ort_library: Option<PathBuf>,
    /// Memory a prediction may use.
    pub memory_budget: MemoryBudget,
    /// Preferred tile edge (None: the model's).
    pub tile_size: Option<usize>,
}

/// Loads the model in `path` on the `engine` asked for and returns its handle.
pub fn open(path: &Path, engine: &Engine) -> JniResult<i64> {
    let threads = engine.threads;
    let threads = usize::try_from(threads).map_err(|_| {
        JniError::InvalidArgument(format!(
            "threads = {threads} is invalid: give 0 (one per core) or a positive number"
        ))
    })?;
    if path.as_os_str().is_empty() {
        return Err(JniError::InvalidArgument(
            "no model given: pass a model folder or its bioimageio.yaml".into(),
        ));
    }
    let mut model = Model::load_with(
        path,
        &BackendOptions {
            choice: engine.choice,
            threads,
            ort_library: engine.ort_library.clone(),
        },
    )?;
    model.set_memory_budget(engine.memory_budget);
    if let Some(size) = engine.tile_size {
        model.set_tile_size(size)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("brightseg-worker-{i}"))
        .build()
        .map_err(|e| {
            JniError::Core(brightseg::Error::backend(format!(
                "cannot start {threads} worker threads: {e}"
            )))
        })?;
    log::info!(
        "opened model \"{}\" from {} on {} ({} threads)",
        model.card().name,
        path.display(),
        model.backend_description(),
        pool.current_num_threads()
    );
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    with_sessions(|s| s.insert(handle, Arc::new(Session { model, pool })));
    Ok(handle)
}

/// The session behind `handle`, kept alive for as long as the caller holds it.
pub fn get(handle: i64) -> JniResult<Arc<Session>> {
    with_sessions(|s| s.get(&handle).cloned()).ok_or_else(|| {
        JniError::ClosedHandle(if handle == 0 {
            "this Segmenter is closed".to_owned()
        } else {
            format!("model handle {handle} is closed or was never opened")
        })
    })
}

/// Releases `handle`; 0 and handles already closed are ignored. Memory is freed when the last
/// call using the model returns.
pub fn close(handle: i64) {
    if handle != 0 && with_sessions(|s| s.remove(&handle)).is_some() {
        log::debug!("closed model handle {handle}");
    }
}

/// Number of open models (for tests and diagnostics).
pub fn open_count() -> usize {
    with_sessions(|s| s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_closed_handles_are_errors_not_crashes() {
        assert!(matches!(get(0), Err(JniError::ClosedHandle(_))));
        assert!(matches!(get(123_456_789), Err(JniError::ClosedHandle(_))));
        close(0);
        close(987_654_321);
    }

    fn engine(threads: i32) -> Engine {
        Engine {
            threads,
            choice: BackendChoice::Tract,
            ort_library: None,
            memory_budget: MemoryBudget::automatic(),
            tile_size: None,
        }
    }

    #[test]
    fn bad_arguments_are_refused_before_loading() {
        assert!(matches!(
            open(Path::new("/x"), &engine(-1)),
            Err(JniError::InvalidArgument(_))
        ));
        assert!(matches!(
            open(Path::new(""), &engine(1)),
            Err(JniError::InvalidArgument(_))
        ));
        let missing = open(Path::new("/no/such/model"), &engine(1));
        assert!(matches!(missing, Err(JniError::Core(_))), "{missing:?}");
    }

    /// The promise at the top of this file: a model closed by another thread while a call holds
    /// it is not freed under that call, which finishes with the result it would have had; the
    /// handle is closed for everyone after. Catches a registry that hands out references which
    /// closing can invalidate.
    #[test]
    fn closing_while_a_call_holds_the_model_lets_the_call_finish() {
        use brightseg::image::{PixelData, Plane};
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/nuclei-brightfield");
        let handle = open(&model, &engine(1)).expect("open the shipped model");
        let plane = Plane::new(
            96,
            80,
            PixelData::F32((0..96 * 80).map(|i| ((i * 37) % 101) as f32).collect()),
        )
        .expect("plane");
        let expected = get(handle)
            .expect("open")
            .model
            .predict(&plane, &|_| {})
            .expect("predict");
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
        let call = std::thread::spawn(move || {
            let session = get(handle).expect("still open");
            held_tx.send(()).expect("send");
            closed_rx.recv().expect("closed");
            session.model.predict(&plane, &|_| {}).expect("predict")
        });
        held_rx.recv().expect("the call holds the model");
        close(handle);
        assert!(matches!(get(handle), Err(JniError::ClosedHandle(_))));
        closed_tx.send(()).expect("send");
        let during = call.join().expect("the call did not panic");
        assert_eq!(during, expected);
    }
}
