//! A new VEVENT as an iCalendar object, ready to PUT (RFC 4791 §5.3.2).

use crate::window::instant;
use chitin_skill_sdk::ToolError;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

/// Longest SUMMARY / LOCATION accepted.
const MAX_LINE: usize = 1_000;
/// Longest DESCRIPTION accepted.
const MAX_DESCRIPTION: usize = 10_000;

/// When the new event happens.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// `DTSTART;VALUE=DATE` .. `DTEND;VALUE=DATE` (exclusive).
    AllDay(NaiveDate, NaiveDate),
    /// UTC date-times.
    Timed(DateTime<Utc>, DateTime<Utc>),
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Read `start`/`end`: two dates make an all-day event (end defaults to
/// the next day), date-times a timed one (end defaults to one hour later).
pub fn when(start: &str, end: Option<&str>) -> Result<When, ToolError> {
    let w = match (date(start), end.map(date)) {
        (Some(s), None) => When::AllDay(s, s + Duration::days(1)),
        (Some(s), Some(Some(e))) => When::AllDay(s, e),
        (Some(_), Some(None)) | (None, Some(Some(_))) => {
            return Err(ToolError::invalid(
                "start and end must both be dates (all-day) or both date-times",
            ));
        }
        (None, _) => {
            let s = instant(start, "start")?;
            let e = end
                .map(|e| instant(e, "end"))
                .transpose()?
                .unwrap_or(s + Duration::hours(1));
            When::Timed(s, e)
        }
    };
    let ordered = match &w {
        When::AllDay(s, e) => e > s,
        When::Timed(s, e) => e > s,
    };
    if !ordered {
        return Err(ToolError::invalid("end must be after start"));
    }
    Ok(w)
}

fn text(s: &str, what: &str, max: usize) -> Result<String, ToolError> {
    if s.chars().count() > max {
        return Err(ToolError::invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(s.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect())
}

/// The fields of a new event.
pub struct NewEvent<'a> {
    /// SUMMARY.
    pub summary: &'a str,
    /// DTSTART/DTEND.
    pub when: When,
    /// LOCATION.
    pub location: Option<&'a str>,
    /// DESCRIPTION.
    pub description: Option<&'a str>,
}

/// The iCalendar text of `ev` with this UID (escaping and line folding
/// are `icalendar`'s).
pub fn ics(ev: &NewEvent<'_>, uid: &str) -> Result<String, ToolError> {
    let summary = text(ev.summary, "summary", MAX_LINE)?;
    if summary.trim().is_empty() {
        return Err(ToolError::invalid("summary must not be empty"));
    }
    let mut e = Event::new();
    e.uid(uid).summary(&summary).timestamp(Utc::now());
    match ev.when {
        When::AllDay(s, end) => e.starts(s).ends(end),
        When::Timed(s, end) => e.starts(s).ends(end),
    };
    if let Some(l) = ev.location {
        e.location(&text(l, "location", MAX_LINE)?);
    }
    if let Some(d) = ev.description {
        e.description(&text(d, "description", MAX_DESCRIPTION)?);
    }
    let mut cal = Calendar::new();
    cal.push(e.done());
    Ok(cal.done().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_day_and_timed() {
        assert!(matches!(
            when("2026-12-24", None).unwrap(),
            When::AllDay(_, _)
        ));
        assert!(matches!(
            when("2026-12-24T10:00:00Z", None).unwrap(),
            When::Timed(_, _)
        ));
        assert!(when("2026-12-24", Some("2026-12-24T10:00:00Z")).is_err());
        assert!(when("2026-12-24T10:00:00Z", Some("2026-12-24T09:00:00Z")).is_err());
    }
}
