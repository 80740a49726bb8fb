//! Logging to the host (bounded per call by the host's log budget).

use crate::bindings::chitin::skill::log::{Level, log};

/// Log at debug level.
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

/// Log at info level.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Log at warn level.
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

/// Log at error level.
pub fn error(msg: &str) {
    log(Level::Error, msg);
}
