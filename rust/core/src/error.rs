//! Errors of the brightseg library: one type, a kind the caller can match on, and a message that
//! says what was wrong and what to do about it.

use std::fmt;

/// What went wrong, coarse enough for adapters to map it (CLI exit codes, Java exception types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter the user chose is out of range or inconsistent (threshold, channel, size…).
    InvalidParameter,
    /// A file could not be read or written.
    Io,
    /// An image is unreadable, corrupt, empty, or has content we cannot segment (NaN, RGB…).
    Image,
    /// A model folder, its description or its ONNX file is missing, corrupt or unsupported.
    Model,
    /// The inference backend failed while running a model.
    Backend,
    /// The work would need more memory than the memory budget allows (see [`crate::budget`]).
    ResourceLimit,
    /// The user stopped long work (training) before it had produced anything to keep.
    Cancelled,
}

/// The error type of every fallible brightseg function.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a user-facing `message` (what was wrong and what to do).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the lower-level cause, shown after the message.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Shorthand for [`ErrorKind::InvalidParameter`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    /// Shorthand for [`ErrorKind::Image`].
    pub fn image(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Image, message)
    }

    /// Shorthand for [`ErrorKind::Model`].
    pub fn model(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Model, message)
    }

    /// Shorthand for [`ErrorKind::Backend`].
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend, message)
    }

    /// Shorthand for [`ErrorKind::ResourceLimit`].
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceLimit, message)
    }

    /// Shorthand for [`ErrorKind::Cancelled`].
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// An I/O error on `path`, keeping the OS error as its source.
    pub fn io(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::new(
            ErrorKind::Io,
            format!("cannot {action} {}: {source}", path.display()),
        )
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The user-facing message, without the source chain.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_kind_are_kept() {
        let e = Error::invalid("threshold 2 is outside [0, 1]");
        assert_eq!(e.kind(), ErrorKind::InvalidParameter);
        assert_eq!(e.to_string(), "threshold 2 is outside [0, 1]");
    }
}
