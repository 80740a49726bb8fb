//! The requested time window and the date-time inputs of `create`.

use chitin_skill_sdk::ToolError;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Days shown when no `end` is given.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest window (recurrences are expanded inside it).
pub const MAX_DAYS: i64 = 366;

/// A half-open UTC interval `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// A point in time as a user gives it: RFC 3339 (`2026-12-24T18:00:00+01:00`)
/// or a date (`2026-12-24`, midnight UTC).
pub fn instant(s: &str, what: &str) -> Result<DateTime<Utc>, ToolError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            ToolError::invalid(format!(
                "{what} `{s}` is not a date-time: use RFC 3339 (2026-12-24T18:00:00+01:00) or a date (2026-12-24)"
            ))
        })
}

/// The window from optional `start`/`end` inputs (default: now, +30 days).
pub fn window(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Window, ToolError> {
    let start = start
        .map(|s| instant(s, "start"))
        .transpose()?
        .unwrap_or(now);
    let end = end
        .map(|s| instant(s, "end"))
        .transpose()?
        .unwrap_or(start + Duration::days(DEFAULT_DAYS));
    if end <= start {
        return Err(ToolError::invalid("end must be after start"));
    }
    if end - start > Duration::days(MAX_DAYS) {
        return Err(ToolError::invalid(format!(
            "the window may span at most {MAX_DAYS} days"
        )));
    }
    Ok(Window { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inputs() {
        let t = instant("2026-12-24T18:00:00+01:00", "x").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-24T17:00:00+00:00");
        assert!(instant("tomorrow", "x").is_err());
        let now = instant("2026-01-01", "x").unwrap();
        let w = window(None, None, now).unwrap();
        assert_eq!((w.end - w.start).num_days(), 30);
        assert!(window(Some("2026-02-01"), Some("2026-01-01"), now).is_err());
        assert!(window(Some("2026-01-01"), Some("2028-01-01"), now).is_err());
    }
}
