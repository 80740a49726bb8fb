//! RFC 5545 text to the event occurrences inside a window: parsing (line
//! unfolding, parameters, escaped text) is `icalendar`'s, recurrence
//! expansion (RRULE, RDATE, EXDATE) is `rrule`'s; this module bounds the
//! work and shapes the output.

use crate::text::clean;
use crate::window::Window;
use chrono::{DateTime, Duration, TimeZone, Utc};
use icalendar::{
    CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike,
};
use serde::Serialize;
use std::collections::HashSet;

/// VEVENTs looked at per calendar.
pub const MAX_EVENTS: usize = 20_000;
/// Recurrence steps taken per event before giving up on it (a daily rule
/// started a century before the window is ~37,000 steps).
const MAX_STEPS_PER_EVENT: usize = 50_000;
/// Recurrence steps for a whole calendar.
const MAX_STEPS: usize = 1_000_000;

/// One occurrence of an event inside the window.
#[derive(Debug, Clone, Serialize)]
pub struct Occurrence {
    /// SUMMARY.
    pub summary: String,
    /// RFC 3339 in the event's own time zone, or `YYYY-MM-DD` when all-day.
    pub start: String,
    /// Like `start`; for all-day events the (exclusive) end date.
    pub end: String,
    /// A DATE (not DATE-TIME) event.
    pub all_day: bool,
    /// LOCATION.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// DESCRIPTION (capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// UID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// One occurrence of a recurring event.
    pub recurring: bool,
    /// The CalDAV resource it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Start in UTC, for sorting.
    #[serde(skip)]
    pub sort_key: DateTime<Utc>,
}

/// What expanding a calendar found.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Occurrences inside the window (unsorted).
    pub items: Vec<Occurrence>,
    /// Problems worth telling the user (bad dates, dense rules…), capped.
    pub warnings: Vec<String>,
}

impl Expanded {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < 10 {
            self.warnings.push(clean(&w, 200));
        }
    }
}

/// Parse calendar text. The error names what the parser saw.
pub fn parse(text: &str) -> Result<Vec<Event>, String> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err("it does not start with BEGIN:VCALENDAR".into());
    }
    let cal: icalendar::Calendar = text.parse().map_err(|e: String| clean(&e, 200))?;
    Ok(cal
        .components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .take(MAX_EVENTS)
        .collect())
}

/// A DATE or DATE-TIME as UTC. Floating times (no zone) are read as UTC;
/// an unknown TZID falls back to the same, with `None` for "unknown zone".
fn utc(d: &DatePerhapsTime) -> (DateTime<Utc>, bool) {
    match d {
        DatePerhapsTime::Date(date) => (
            date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            true,
        ),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => (*t, true),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(n)) => (n.and_utc(), true),
        DatePerhapsTime::DateTime(dt @ CalendarDateTime::WithTimezone { date_time, .. }) => {
            match dt.try_into_utc() {
                Some(t) => (t, true),
                None => (date_time.and_utc(), false),
            }
        }
    }
}

/// `t` as RFC 3339 in the zone `start` names (UTC when it names none).
fn local(t: DateTime<Utc>, start: &DatePerhapsTime) -> String {
    if let DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { tzid, .. }) = start
        && let Ok(tz) = tzid.parse::<chrono_tz::Tz>()
    {
        return t.with_timezone(&tz).to_rfc3339();
    }
    t.to_rfc3339()
}

fn shape(
    e: &Event,
    start: String,
    end: String,
    all_day: bool,
    recurring: bool,
    key: DateTime<Utc>,
) -> Occurrence {
    let opt = |v: Option<&str>, max| v.map(|s| clean(s, max)).filter(|s| !s.is_empty());
    Occurrence {
        summary: opt(e.get_summary(), 200).unwrap_or_else(|| "(no title)".into()),
        start,
        end,
        all_day,
        location: opt(e.get_location(), 200),
        description: opt(e.get_description(), 500),
        uid: opt(e.get_uid(), 200),
        recurring,
        href: None,
        sort_key: key,
    }
}

fn overlaps(start: DateTime<Utc>, end: DateTime<Utc>, w: &Window) -> bool {
    start < w.end && (end > w.start || start >= w.start)
}

/// The occurrences of `events` that overlap `w`, at most `cap` of them
/// (the earliest are not guaranteed when more than `cap` match: callers
/// sort and cut, and say so).
pub fn expand(events: &[Event], w: &Window, out: &mut Expanded) {
    // Overridden instances (RECURRENCE-ID) replace the master's occurrence.
    let overrides: HashSet<(String, DateTime<Utc>)> = events
        .iter()
        .filter_map(|e| Some((e.get_uid()?.to_string(), utc(&e.get_recurrence_id()?).0)))
        .collect();
    let mut steps_left = MAX_STEPS;
    for e in events {
        let Some(start) = e.get_start() else {
            out.warn(format!(
                "event `{}` has no DTSTART; skipped",
                e.get_summary().unwrap_or("?")
            ));
            continue;
        };
        let all_day = matches!(start, DatePerhapsTime::Date(_));
        let (s_utc, known) = utc(&start);
        if !known {
            out.warn(format!(
                "unknown time zone in `{}`; its times are read as UTC",
                e.get_summary().unwrap_or("?")
            ));
        }
        let dur = match e.get_end() {
            Some(end) => (utc(&end).0 - s_utc).max(Duration::zero()),
            None if all_day => Duration::days(1),
            None => Duration::zero(),
        };
        let fmt = |t: DateTime<Utc>, local: String| {
            if all_day {
                t.format("%Y-%m-%d").to_string()
            } else {
                local
            }
        };
        let is_override = e.get_recurrence_id().is_some();
        let has_rule = e.property_value("RRULE").is_some() || e.property_value("RDATE").is_some();
        if !has_rule || is_override || !known {
            if overlaps(s_utc, s_utc + dur, w) {
                let (st, en) = (
                    fmt(s_utc, local(s_utc, &start)),
                    fmt(s_utc + dur, local(s_utc + dur, &start)),
                );
                out.items
                    .push(shape(e, st, en, all_day, is_override, s_utc));
            }
            continue;
        }
        let set = match e.get_recurrence() {
            Ok(set) => set.limit(),
            Err(err) => {
                out.warn(format!(
                    "recurrence of `{}` not expanded: {err}",
                    e.get_summary().unwrap_or("?")
                ));
                if overlaps(s_utc, s_utc + dur, w) {
                    out.items.push(shape(
                        e,
                        fmt(s_utc, local(s_utc, &start)),
                        fmt(s_utc + dur, local(s_utc + dur, &start)),
                        all_day,
                        false,
                        s_utc,
                    ));
                }
                continue;
            }
        };
        let uid = e.get_uid().unwrap_or("").to_string();
        let (mut finished, mut steps) = (false, 0);
        let budget = MAX_STEPS_PER_EVENT.min(steps_left);
        for occ in set.into_iter().take(budget) {
            steps += 1;
            // All-day occurrences come out at local midnight; keep the date.
            let o_utc = if all_day {
                occ.date_naive()
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
            } else {
                occ.with_timezone(&Utc)
            };
            if o_utc >= w.end {
                finished = true;
                break;
            }
            if !overlaps(o_utc, o_utc + dur, w) || overrides.contains(&(uid.clone(), o_utc)) {
                continue;
            }
            let end_local = occ.timezone().from_utc_datetime(&(o_utc + dur).naive_utc());
            out.items.push(shape(
                e,
                fmt(o_utc, occ.to_rfc3339()),
                fmt(o_utc + dur, end_local.to_rfc3339()),
                all_day,
                true,
                o_utc,
            ));
        }
        steps_left -= steps;
        if !finished && steps == budget {
            out.warn(format!(
                "recurrence of `{}` stopped after {steps} occurrences before reaching the window's end",
                e.get_summary().unwrap_or("?")
            ));
        }
    }
}
