//! Feed dates to RFC 3339 in UTC: RSS's RFC 822/2822 (`Mon, 02 Jan 2006
//! 15:04:05 GMT`, with the variants seen in real feeds) and Atom's RFC 3339.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// A parsed date, or `None` when it is in no format we know.
pub fn parse(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let fixed = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc2822(s))
        .ok()
        .or_else(|| lenient(s))?;
    Some(fixed.with_timezone(&Utc))
}

/// The forms strict parsers refuse but feeds use: `UTC`/`Z` as a zone
/// name, a missing zone (taken as UTC), a bare date.
fn lenient(s: &str) -> Option<DateTime<FixedOffset>> {
    for zone in [" UTC", " Z", " z"] {
        if let Some(head) = s.strip_suffix(zone)
            && let Ok(d) = DateTime::parse_from_rfc2822(&format!("{head} +0000"))
        {
            return Some(d);
        }
    }
    let utc = FixedOffset::east_opt(0)?;
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    naive.and_local_timezone(utc).single()
}

/// RFC 3339, UTC, whole seconds: `2024-01-15T10:00:00Z`.
pub fn format(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Secs, true)
}
