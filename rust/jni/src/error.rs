//! The one error table of the bridge: which Java exception each failure becomes.
//!
//! | failure | Java exception |
//! |---|---|
//! | bad parameter (core `InvalidParameter`, wrong array length, null array) | `IllegalArgumentException` |
//! | file problem (core `Io`) | `java.io.IOException` |
//! | closed or unknown handle | `IllegalStateException` |
//! | training cancelled before anything was kept (core `Cancelled`) | `java.util.concurrent.CancellationException` |
//! | anything else, and panics | `io.github.brightseg.BrightsegException` |
//!
//! A Java exception already pending (thrown by a callback such as a progress listener) is left
//! to propagate untouched.

use std::any::Any;

use brightseg::ErrorKind;
use jni::errors::ErrorPolicy;
use jni::strings::JNIString;
use jni::Env;

/// Every way a native call can fail.
#[derive(Debug)]
pub enum JniError {
    /// An error of the brightseg core.
    Core(brightseg::Error),
    /// A parameter the caller got wrong, before any work.
    InvalidArgument(String),
    /// A handle that was closed or never opened.
    ClosedHandle(String),
    /// A failure of JNI itself (including a Java exception thrown by a callback).
    Jni(jni::errors::Error),
}

impl std::fmt::Display for JniError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JniError::Core(e) => write!(f, "{e}"),
            JniError::InvalidArgument(m) | JniError::ClosedHandle(m) => f.write_str(m),
            JniError::Jni(e) => write!(f, "JNI call failed: {e}"),
        }
    }
}

impl std::error::Error for JniError {}

impl From<jni::errors::Error> for JniError {
    fn from(e: jni::errors::Error) -> Self {
        JniError::Jni(e)
    }
}

impl From<brightseg::Error> for JniError {
    fn from(e: brightseg::Error) -> Self {
        JniError::Core(e)
    }
}

/// Shorthand for results of the bridge's inner functions.
pub type JniResult<T> = Result<T, JniError>;

/// Java class of the brightseg exception, for everything that is not a bad argument or a file.
pub const BRIGHTSEG_EXCEPTION: &str = "io/github/brightseg/BrightsegException";

impl JniError {
    /// The message of the Java exception: the error's, and for a refusal by the memory budget
    /// the Java methods (and the Fiji field) that do what it advises.
    pub fn java_message(&self) -> String {
        let message = self.to_string();
        let JniError::Core(e) = self else {
            return message;
        };
        if e.kind() != ErrorKind::ResourceLimit {
            return message;
        }
        let budget = "SegmenterOptions.withMemoryBudget; in Fiji the \"Memory budget [MB]\" field";
        let methods = if message.contains("fewer worker threads or smaller tiles") {
            format!("SegmenterOptions.withThreads, withTileSize, {budget}")
        } else if message.contains("fewer worker threads") {
            format!("SegmenterOptions.withThreads, {budget}")
        } else if message.contains("smaller tiles") {
            format!("SegmenterOptions.withTileSize, {budget}")
        } else {
            budget.to_owned()
        };
        format!("{message} ({methods})")
    }

    /// The Java exception class this error becomes.
    pub fn java_class(&self) -> &'static str {
        match self {
            JniError::InvalidArgument(_) => "java/lang/IllegalArgumentException",
            JniError::ClosedHandle(_) => "java/lang/IllegalStateException",
            JniError::Core(e) => match e.kind() {
                ErrorKind::InvalidParameter => "java/lang/IllegalArgumentException",
                ErrorKind::Io => "java/io/IOException",
                ErrorKind::Cancelled => "java/util/concurrent/CancellationException",
                _ => BRIGHTSEG_EXCEPTION,
            },
            JniError::Jni(_) => BRIGHTSEG_EXCEPTION,
        }
    }
}

/// Text of a panic payload (`panic!` with a literal or with `format!`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Throws `class` with `message`; if even that fails, tries the brightseg exception, and leaves
/// it at that (the caller returns a default value either way).
fn throw(env: &mut Env<'_>, class: &str, message: &str) {
    let msg = JNIString::from(message);
    if env.throw_new(JNIString::from(class), &msg).is_err() && !env.exception_check() {
        let _ = env.throw_new(JNIString::from(BRIGHTSEG_EXCEPTION), &msg);
    }
}

/// Error policy of every export: errors and panics become Java exceptions (see the module table)
/// and the export returns the type's default value.
#[derive(Debug)]
pub struct ThrowJavaException;

impl<T: Default> ErrorPolicy<T, JniError> for ThrowJavaException {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: JniError,
    ) -> jni::errors::Result<T> {
        if !env.exception_check() {
            throw(env, err.java_class(), &err.java_message());
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        payload: Box<dyn Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let message = panic_message(payload.as_ref());
        // A panic payload's destructor may itself panic; never let that unwind.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))).is_err() {
            log::error!("a panic payload could not be dropped");
        }
        if env.exception_check() {
            env.exception_clear();
        }
        throw(
            env,
            BRIGHTSEG_EXCEPTION,
            &format!("internal error in brightseg's native code (please report it): {message}"),
        );
        Ok(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_its_exception() {
        let invalid = JniError::from(brightseg::Error::invalid("threshold 2"));
        assert_eq!(invalid.java_class(), "java/lang/IllegalArgumentException");
        let io = JniError::from(brightseg::Error::io(
            "read",
            "x.tif".as_ref(),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
        assert_eq!(io.java_class(), "java/io/IOException");
        let model = JniError::from(brightseg::Error::model("bad card"));
        assert_eq!(model.java_class(), BRIGHTSEG_EXCEPTION);
        let closed = JniError::ClosedHandle("closed".into());
        assert_eq!(closed.java_class(), "java/lang/IllegalStateException");
    }

    #[test]
    fn budget_refusals_name_the_java_methods_that_do_what_they_advise() {
        let refusal = |options: &str| {
            JniError::from(brightseg::Error::too_large(format!(
                "finding nuclei needs about 9 GB but the memory budget is 6 GB: {options}"
            )))
            .java_message()
        };
        let both = refusal("use fewer worker threads or smaller tiles, or raise the memory budget");
        assert!(
            both.ends_with("(SegmenterOptions.withThreads, withTileSize, SegmenterOptions.withMemoryBudget; in Fiji the \"Memory budget [MB]\" field)"),
            "{both}"
        );
        let threads = refusal("use fewer worker threads, or raise the memory budget");
        assert!(
            threads.contains("(SegmenterOptions.withThreads, SegmenterOptions.withMemoryBudget;"),
            "{threads}"
        );
        let only = refusal("even one worker thread needs about 5 GB, so raise the memory budget");
        assert!(only.ends_with("so raise the memory budget (SegmenterOptions.withMemoryBudget; in Fiji the \"Memory budget [MB]\" field)"), "{only}");
        // Other errors keep their message as it is.
        let invalid = JniError::from(brightseg::Error::invalid("use fewer worker threads"));
        assert_eq!(invalid.java_message(), "use fewer worker threads");
    }

    #[test]
    fn panic_messages_survive_format_and_literal_payloads() {
        // These panics reach the process-wide panic hook, which queues them as log records.
        let _queue = crate::logging::GLOBAL_LOG_TEST_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let literal = std::panic::catch_unwind(|| panic!("plain")).expect_err("panics");
        assert_eq!(panic_message(literal.as_ref()), "plain");
        let n = 3;
        let formatted = std::panic::catch_unwind(|| panic!("tile {n}")).expect_err("panics");
        assert_eq!(panic_message(formatted.as_ref()), "tile 3");
    }
}
