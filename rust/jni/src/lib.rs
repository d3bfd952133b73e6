//! # brightseg-jni
//!
//! The native library behind brightseg's Java API (`io.github.brightseg`) and Fiji plugin: a thin
//! JNI bridge over the `brightseg` core. It holds no image science of its own.
//!
//! Every export is one line: it hands its arguments to an inner function returning
//! [`error::JniResult`] and resolves the outcome with [`error::ThrowJavaException`], which turns
//! errors into Java exceptions (the table is in [`error`]) and catches panics (`with_env` wraps
//! the call in `catch_unwind`), so no Rust panic ever reaches the JVM. Models are `long` handles
//! from a registry ([`session`]), so a closed or forged handle is an exception, not a crash.
//! Log lines wait in a queue ([`logging`]) until Java collects them.
//!
//! The Java declarations live in `java/src/main/java/io/github/brightseg/NativeLib.java`; each
//! export names its declaration in a comment.
#![deny(missing_docs)]

/// The same allocator as the CLI, so the Java path and the command line spend the same time
/// and memory in allocation (glibc's per-thread arenas kept worker memory resident).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod error;
pub mod logging;
pub mod nuclei;
pub mod session;
#[cfg(feature = "train")]
pub mod training;

use std::path::PathBuf;

use brightseg::backend::BackendChoice;
use brightseg::budget::MemoryBudget;
use brightseg::measure::{
    ObjectMeasurement, PopulationStats, POOR_FIT_MESSAGE, SUMMARY_LEAD_COLUMNS,
    SUMMARY_TAIL_COLUMNS, UNCALIBRATED_MESSAGE,
};
use jni::objects::{
    JByteArray, JClass, JDoubleArray, JFloatArray, JIntArray, JObject, JShortArray, JString,
};
use jni::sys::{jboolean, jdouble, jint, jlong};
use jni::{Env, EnvUnowned};

use error::{JniError, JniResult, ThrowJavaException};
use nuclei::Request;

/// Runs `inner` with a JNI environment: errors become Java exceptions and panics are caught.
fn run_jni<'local, T: Default>(
    unowned: &mut EnvUnowned<'local>,
    inner: impl FnOnce(&mut Env<'local>) -> JniResult<T>,
) -> T {
    logging::init();
    unowned.with_env(inner).resolve::<ThrowJavaException>()
}

fn java_string<'local>(env: &mut Env<'local>, s: &str) -> JniResult<JString<'local>> {
    Ok(JString::from_str(env, s)?)
}

fn rust_string(env: &Env<'_>, s: &JString<'_>, what: &str) -> JniResult<String> {
    if s.is_null() {
        return Err(JniError::InvalidArgument(format!("{what} is null")));
    }
    Ok(s.try_to_string(env)?)
}

fn double_array<'local>(env: &mut Env<'local>, values: &[f64]) -> JniResult<JDoubleArray<'local>> {
    let array = env.new_double_array(values.len())?;
    array.set_region(env, 0, values)?;
    Ok(array)
}

fn version_inner<'local>(env: &mut Env<'local>) -> JniResult<JString<'local>> {
    java_string(env, env!("CARGO_PKG_VERSION"))
}

fn open_inner(
    env: &mut Env<'_>,
    path: &JString<'_>,
    threads: jint,
    backend: &JString<'_>,
    ort_library: &JString<'_>,
    limits: (jlong, jint),
) -> JniResult<jlong> {
    let path = rust_string(env, path, "the model path")?;
    let choice: BackendChoice = rust_string(env, backend, "the backend")?.parse()?;
    let ort_library = if ort_library.is_null() {
        None
    } else {
        Some(PathBuf::from(rust_string(
            env,
            ort_library,
            "the ONNX Runtime library",
        )?))
    };
    let (memory_budget, tile_size) = limits;
    let memory_budget = match u64::try_from(memory_budget) {
        Ok(0) => MemoryBudget::automatic(),
        Ok(bytes) => MemoryBudget::bytes(bytes),
        Err(_) => {
            return Err(JniError::InvalidArgument(format!(
                "memory budget {memory_budget} bytes is invalid: give 0 (automatic) or a \
                 positive number of bytes"
            )))
        }
    };
    let tile_size = match usize::try_from(tile_size) {
        Ok(0) => None,
        Ok(size) => Some(size),
        Err(_) => {
            return Err(JniError::InvalidArgument(format!(
                "tile size {tile_size} is invalid: give 0 (the model's) or a positive number"
            )))
        }
    };
    let engine = session::Engine {
        threads,
        choice,
        ort_library,
        memory_budget,
        tile_size,
    };
    session::open(&PathBuf::from(path), &engine)
}

fn model_name_inner<'local>(env: &mut Env<'local>, handle: jlong) -> JniResult<JString<'local>> {
    let s = session::get(handle)?;
    java_string(env, &s.model.card().name)
}

fn backend_inner<'local>(env: &mut Env<'local>, handle: jlong) -> JniResult<JString<'local>> {
    let s = session::get(handle)?;
    java_string(env, &s.model.backend_description())
}

/// What Java reads of a card's defaults: threshold, minimum size µm², pixel size µm (NaN: none).
fn card_defaults(card: &brightseg::model::ModelCard) -> [f64; 3] {
    [
        f64::from(card.defaults.threshold),
        card.defaults.min_size_um2,
        card.pixel_size_um.unwrap_or(f64::NAN),
    ]
}

fn defaults_inner<'local>(env: &mut Env<'local>, handle: jlong) -> JniResult<JDoubleArray<'local>> {
    let s = session::get(handle)?;
    double_array(env, &card_defaults(s.model.card()))
}

/// The defaults of the model in `path`, from its description alone (no network is loaded): what
/// a dialog pre-fills.
fn card_defaults_inner<'local>(
    env: &mut Env<'local>,
    path: &JString<'_>,
) -> JniResult<JDoubleArray<'local>> {
    let path = PathBuf::from(rust_string(env, path, "the model folder")?);
    let card = brightseg::model::ModelCard::load(&path)?;
    double_array(env, &card_defaults(&card))
}

/// A search path given as folders joined by the platform's path separator.
fn search_path(env: &Env<'_>, joined: &JString<'_>) -> JniResult<Vec<PathBuf>> {
    let joined = rust_string(env, joined, "the model search path")?;
    Ok(std::env::split_paths(&joined).collect())
}

fn resolve_inner<'local>(
    env: &mut Env<'local>,
    name_or_path: &JString<'_>,
    joined: &JString<'_>,
) -> JniResult<JString<'local>> {
    let name = rust_string(env, name_or_path, "the model")?;
    let dirs = search_path(env, joined)?;
    let found = brightseg::catalog::resolve(&name, &dirs)?;
    java_string(env, &found.display().to_string())
}

fn discover_inner<'local>(
    env: &mut Env<'local>,
    search_path: &JString<'_>,
) -> JniResult<JString<'local>> {
    let dirs = self::search_path(env, search_path)?;
    let found: Vec<String> = brightseg::catalog::discover(&dirs)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    java_string(env, &found.join("\n"))
}

fn columns_inner<'local>(env: &mut Env<'local>, which: jint) -> JniResult<JString<'local>> {
    let columns: &[&str] = match which {
        0 => &ObjectMeasurement::COLUMNS,
        1 => &PopulationStats::COLUMNS,
        2 => &SUMMARY_LEAD_COLUMNS,
        3 => &SUMMARY_TAIL_COLUMNS,
        4 => &[UNCALIBRATED_MESSAGE],
        5 => &[POOR_FIT_MESSAGE],
        _ => return Err(JniError::InvalidArgument(format!("no column list {which}"))),
    };
    java_string(env, &columns.join("\t"))
}

fn layout_inner<'local>(env: &mut Env<'local>) -> JniResult<JIntArray<'local>> {
    let layout = [nuclei::HEADER_LEN, nuclei::STATS_LEN, nuclei::OBJECT_LEN].map(|v| v as i32);
    let array = env.new_int_array(layout.len())?;
    array.set_region(env, 0, &layout)?;
    Ok(array)
}

fn drain_log_inner<'local>(env: &mut Env<'local>) -> JniResult<JString<'local>> {
    java_string(env, &logging::drain())
}

/// Settings, field names and sizes, and the two concatenated pixel arrays of a training call
/// (brightfield, and the stain or the label planes).
#[cfg(feature = "train")]
struct TrainingCall<'a, 'l> {
    settings: &'a JString<'l>,
    names: &'a JString<'l>,
    sizes: &'a JIntArray<'l>,
    brightfield: &'a JFloatArray<'l>,
    targets: &'a JFloatArray<'l>,
}

#[cfg(feature = "train")]
fn train_nuclei_inner<'local>(
    env: &mut Env<'local>,
    call: &TrainingCall<'_, '_>,
    listener: &JObject<'_>,
) -> JniResult<JString<'local>> {
    let settings = training::TrainingSettings::parse(&rust_string(
        env,
        call.settings,
        "the training settings",
    )?)?;
    let names = rust_string(env, call.names, "the field names")?;
    if call.sizes.is_null() {
        return Err(JniError::InvalidArgument("the sizes array is null".into()));
    }
    let count = call.sizes.len(env)?;
    let mut sizes = vec![0i32; count];
    call.sizes.get_region(env, 0, &mut sizes)?;
    let (brightfield, targets) =
        training::read_planes(env, &sizes, call.brightfield, call.targets)?;
    let fields = training::fields(
        &names,
        &sizes,
        brightfield,
        targets,
        settings.targets,
        settings.pixel_um,
    )?;
    let report = training::run(env, &settings, &fields, listener)?;
    java_string(env, &report)
}

fn self_test_panic_inner(env: &mut Env<'_>, message: &JString<'_>) -> JniResult<()> {
    let message = rust_string(env, message, "the message")?;
    panic!("self-test panic: {message}")
}

/// Exports. Each is one line over an inner function; the Java declaration is named above it.
#[allow(unsafe_code)] // `#[unsafe(no_mangle)]` is how the JVM finds the functions; nothing else.
mod exports {
    use super::*;

    /// `static native String version()`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_version<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
    ) -> JString<'l> {
        run_jni(&mut env, version_inner)
    }

    /// `static native long open(String modelPath, int threads, String backend,
    /// String ortLibrary, long memoryBudget, int tileSize)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_open<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        path: JString<'l>,
        threads: jint,
        backend: JString<'l>,
        ort_library: JString<'l>,
        memory_budget: jlong,
        tile_size: jint,
    ) -> jlong {
        run_jni(&mut env, |env| {
            open_inner(
                env,
                &path,
                threads,
                &backend,
                &ort_library,
                (memory_budget, tile_size),
            )
        })
    }

    /// `static native void close(long handle)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_close<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        handle: jlong,
    ) {
        run_jni(&mut env, |_| {
            session::close(handle);
            Ok(())
        })
    }

    /// `static native int openCount()`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_openCount<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
    ) -> jint {
        run_jni(&mut env, |_| {
            Ok(i32::try_from(session::open_count()).unwrap_or(i32::MAX))
        })
    }

    /// `static native String modelName(long handle)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_modelName<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        handle: jlong,
    ) -> JString<'l> {
        run_jni(&mut env, |env| model_name_inner(env, handle))
    }

    /// `static native String backend(long handle)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_backend<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        handle: jlong,
    ) -> JString<'l> {
        run_jni(&mut env, |env| backend_inner(env, handle))
    }

    /// `static native double[] modelDefaults(long handle)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_modelDefaults<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        handle: jlong,
    ) -> JDoubleArray<'l> {
        run_jni(&mut env, |env| defaults_inner(env, handle))
    }

    /// `static native double[] cardDefaults(String modelFolder)`: threshold, minimum size µm²
    /// and pixel size µm (NaN: none) from the model's description, without loading it.
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_cardDefaults<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        path: JString<'l>,
    ) -> JDoubleArray<'l> {
        run_jni(&mut env, |env| card_defaults_inner(env, &path))
    }

    /// `static native double micronsPerUnit(String unit)`: the core's unit table (NaN: not a
    /// length).
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_micronsPerUnit<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        unit: JString<'l>,
    ) -> jdouble {
        run_jni(&mut env, |env| {
            let unit = rust_string(env, &unit, "the unit")?;
            Ok(brightseg::image::microns_per_unit(&unit).unwrap_or(f64::NAN))
        })
    }

    /// `static native String discoverModels(String searchPath)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_discoverModels<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        search_path: JString<'l>,
    ) -> JString<'l> {
        run_jni(&mut env, |env| discover_inner(env, &search_path))
    }

    /// `static native String resolveModel(String nameOrPath, String searchPath)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_resolveModel<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        name_or_path: JString<'l>,
        search_path: JString<'l>,
    ) -> JString<'l> {
        run_jni(&mut env, |env| {
            resolve_inner(env, &name_or_path, &search_path)
        })
    }

    /// `static native String columns(int which)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_columns<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        which: jint,
    ) -> JString<'l> {
        run_jni(&mut env, |env| columns_inner(env, which))
    }

    /// `static native int[] packedLayout()`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_packedLayout<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
    ) -> JIntArray<'l> {
        run_jni(&mut env, layout_inner)
    }

    /// `static native String drainLog()`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_drainLog<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
    ) -> JString<'l> {
        run_jni(&mut env, drain_log_inner)
    }

    /// `static native void selfTestPanic(String message)`
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_selfTestPanic<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        message: JString<'l>,
    ) {
        run_jni(&mut env, |env| self_test_panic_inner(env, &message))
    }

    /// `static native String trainNuclei(String settings, String names, int[] sizes,
    /// float[] brightfield, float[] targets, Object listener)`
    #[cfg(feature = "train")]
    #[unsafe(no_mangle)]
    #[allow(clippy::too_many_arguments)]
    pub extern "system" fn Java_io_github_brightseg_NativeLib_trainNuclei<'l>(
        mut env: EnvUnowned<'l>,
        _c: JClass<'l>,
        settings: JString<'l>,
        names: JString<'l>,
        sizes: JIntArray<'l>,
        brightfield: JFloatArray<'l>,
        targets: JFloatArray<'l>,
        listener: JObject<'l>,
    ) -> JString<'l> {
        let call = TrainingCall {
            settings: &settings,
            names: &names,
            sizes: &sizes,
            brightfield: &brightfield,
            targets: &targets,
        };
        run_jni(&mut env, |env| train_nuclei_inner(env, &call, &listener))
    }

    /// One Find Nuclei export per Java pixel array type; each is one call of
    /// [`super::find_nuclei_inner`].
    macro_rules! find_nuclei_export {
        ($(#[$doc:meta])* $name:ident, $array:ident, $convert:path) => {
            $(#[$doc])*
            #[unsafe(no_mangle)]
            #[allow(clippy::too_many_arguments)]
            pub extern "system" fn $name<'l>(
                mut env: EnvUnowned<'l>,
                _c: JClass<'l>,
                handle: jlong,
                pixels: $array<'l>,
                width: jint,
                height: jint,
                pw: jdouble,
                ph: jdouble,
                threshold: jdouble,
                min_size: jdouble,
                split: jboolean,
                depth: jdouble,
                refine: jint,
                any_pixel_size: jboolean,
                probability: JFloatArray<'l>,
                labels: JIntArray<'l>,
                exclusion: JByteArray<'l>,
                listener: JObject<'l>,
            ) -> JDoubleArray<'l> {
                let r = Request {
                    handle,
                    width,
                    height,
                    pixel_width_um: pw,
                    pixel_height_um: ph,
                    threshold,
                    min_size_um2: min_size,
                    split,
                    split_depth_px: depth,
                    refine,
                    any_pixel_size,
                };
                run_jni(&mut env, |env| {
                    let read = |env: &Env<'l>| nuclei::plane_from_java(env, &pixels, &r, $convert);
                    let outputs = nuclei::Outputs {
                        probability: &probability,
                        labels: &labels,
                        exclusion: &exclusion,
                    };
                    find_nuclei_inner(env, &r, read, &outputs, &listener)
                })
            }
        };
    }

    find_nuclei_export!(
        /// `static native double[] findNuclei8(long handle, byte[] pixels, int width, int height,
        /// double pixelWidthUm, double pixelHeightUm, double threshold, double minSizeUm2,
        /// boolean split, double splitDepthPx, int refine, boolean anyPixelSize,
        /// float[] probabilityOut, int[] labelsOut, byte[] exclusionMask, Object listener)`;
        /// `refine` is -1 for the model's refinement of the mask, else 0 none, 1 dark,
        /// 2 departure; `anyPixelSize` accepts a pixel size far from the model's; a null
        /// `probabilityOut` skips the probability plane; a non-null exclusion mask (non-zero =
        /// excluded) drops the nuclei that touch it.
        Java_io_github_brightseg_NativeLib_findNuclei8,
        JByteArray,
        nuclei::bytes_to_pixels
    );
    find_nuclei_export!(
        /// `static native double[] findNuclei16(long handle, short[] pixels, …)`, as `findNuclei8`.
        Java_io_github_brightseg_NativeLib_findNuclei16,
        JShortArray,
        nuclei::shorts_to_pixels
    );
    find_nuclei_export!(
        /// `static native double[] findNuclei32(long handle, float[] pixels, …)`, as `findNuclei8`.
        Java_io_github_brightseg_NativeLib_findNuclei32,
        JFloatArray,
        nuclei::floats_to_pixels
    );
}

fn find_nuclei_inner<'local>(
    env: &mut Env<'local>,
    request: &Request,
    read_plane: impl FnOnce(&Env<'local>) -> JniResult<brightseg::image::Plane>,
    outputs: &nuclei::Outputs<'_, '_>,
    listener: &JObject<'_>,
) -> JniResult<JDoubleArray<'local>> {
    let plane = read_plane(env)?;
    let packed = nuclei::run(env, plane, request, outputs, listener)?;
    double_array(env, &packed)
}
