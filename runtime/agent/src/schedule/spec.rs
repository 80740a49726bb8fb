//! When a job runs: a cron expression in an IANA time zone (evaluated by
//! `croner`, which handles daylight-saving changes: a time that falls in
//! the spring-forward gap runs once at the first valid time after it, a
//! time that occurs twice at fall-back runs once, at its first occurrence),
//! a one-shot instant ("in 20 minutes", RFC 3339) or a fixed interval
//! ("30m", "2h", "1d").

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::str::FromStr;
use thiserror::Error;

/// The shortest interval accepted.
pub const MIN_INTERVAL_MS: i64 = 60_000;

/// The longest interval or "in N …" delay accepted (about ten years).
const MAX_SPAN_MS: i64 = 3650 * 86_400_000;

/// Longest input echoed in an error.
const SHOWN: usize = 80;

/// A schedule that does not parse; each names the input.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// Not a cron expression.
    #[error(
        "`{expr}` is not a cron expression ({why}); for example \"0 7 * * *\" is every day at 07:00"
    )]
    BadCron {
        /// The input.
        expr: String,
        /// What the parser said.
        why: String,
    },
    /// Not an IANA time zone.
    #[error("`{0}` is not a time zone; use an IANA name such as Europe/Paris or UTC")]
    UnknownTz(String),
    /// Not a time.
    #[error(
        "`{0}` is not a time; use \"in 20 minutes\" (minutes, hours or days) or an RFC 3339 time such as 2026-05-01T07:00:00+02:00"
    )]
    BadTime(String),
    /// The time is not in the future.
    #[error("`{0}` is in the past")]
    Past(String),
    /// Not an interval.
    #[error(
        "`{0}` is not an interval; use a number and a unit, such as 30m, 2h or 1d (at least 1m)"
    )]
    BadInterval(String),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Spec {
    /// A cron expression in a time zone.
    Cron {
        /// The expression as given.
        expr: String,
        /// The zone it is read in.
        tz: Tz,
        /// The parsed expression.
        cron: Box<Cron>,
    },
    /// Once, at this instant (ms since the epoch).
    At(i64),
    /// Every this many milliseconds (written as `expr`).
    Every {
        /// As given ("30m").
        expr: String,
        /// The period.
        ms: i64,
    },
}

fn shown(s: &str) -> String {
    chitin_sandbox::text::one_line(s, SHOWN)
}

/// An IANA time zone.
pub fn parse_tz(tz: &str) -> Result<Tz, SpecError> {
    Tz::from_str(tz.trim()).map_err(|_| SpecError::UnknownTz(shown(tz)))
}

impl Spec {
    /// A cron expression (five fields, or an alias such as `@daily`) in `tz`.
    pub fn cron(expr: &str, tz: &str) -> Result<Spec, SpecError> {
        let tz = parse_tz(tz)?;
        if expr.split_whitespace().count() > 5 {
            return Err(SpecError::BadCron {
                expr: shown(expr),
                why: "use five fields: minute hour day-of-month month day-of-week".into(),
            });
        }
        let cron = Cron::from_str(expr.trim()).map_err(|e| SpecError::BadCron {
            expr: shown(expr),
            why: e.to_string(),
        })?;
        Ok(Spec::Cron {
            expr: expr.trim().to_string(),
            tz,
            cron: Box::new(cron),
        })
    }

    /// A one-shot time: "in N minutes|hours|days" from `now_ms`, or RFC 3339.
    pub fn at(text: &str, now_ms: i64) -> Result<Spec, SpecError> {
        let t = text.trim();
        let bad = || SpecError::BadTime(shown(text));
        let at = if let Some(rest) = t.strip_prefix("in ") {
            let mut words = rest.split_whitespace();
            let n: i64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
            let unit = words.next().ok_or_else(bad)?;
            if words.next().is_some() || n <= 0 {
                return Err(bad());
            }
            let per = unit_ms(unit.trim_end_matches('s')).ok_or_else(bad)?;
            let span = n
                .checked_mul(per)
                .filter(|s| *s <= MAX_SPAN_MS)
                .ok_or_else(bad)?;
            now_ms + span
        } else {
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad())?
                .timestamp_millis()
        };
        if at <= now_ms {
            return Err(SpecError::Past(shown(text)));
        }
        Ok(Spec::At(at))
    }

    /// An interval: a number and `m`, `h` or `d` ("30m"), at least a minute.
    pub fn every(text: &str) -> Result<Spec, SpecError> {
        let t = text.trim();
        let bad = || SpecError::BadInterval(shown(text));
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = t.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(per).ok_or_else(bad)?;
        if !(MIN_INTERVAL_MS..=MAX_SPAN_MS).contains(&ms) {
            return Err(bad());
        }
        Ok(Spec::Every {
            expr: t.to_string(),
            ms,
        })
    }

    /// A schedule as stored (`kind`: cron, at, every).
    pub fn stored(kind: &str, expr: &str, tz: &str) -> Result<Spec, SpecError> {
        match kind {
            "cron" => Spec::cron(expr, tz),
            "at" => expr
                .parse::<i64>()
                .map(Spec::At)
                .map_err(|_| SpecError::BadTime(shown(expr))),
            _ => Spec::every(expr),
        }
    }

    /// Its kind as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::Cron { .. } => "cron",
            Spec::At(_) => "at",
            Spec::Every { .. } => "every",
        }
    }

    /// Its expression as stored.
    pub fn expr(&self) -> String {
        match self {
            Spec::Cron { expr, .. } | Spec::Every { expr, .. } => expr.clone(),
            Spec::At(ms) => ms.to_string(),
        }
    }

    /// Its time zone as stored ("UTC" unless a cron job's).
    pub fn tz(&self) -> String {
        match self {
            Spec::Cron { tz, .. } => tz.name().to_string(),
            _ => "UTC".into(),
        }
    }

    /// Whether it runs only once.
    pub fn one_shot(&self) -> bool {
        matches!(self, Spec::At(_))
    }

    /// For people: "cron 0 7 * * * (Europe/Paris)", "every 30m", "at …".
    pub fn describe(&self) -> String {
        match self {
            Spec::Cron { expr, tz, .. } => format!("cron {expr} ({})", tz.name()),
            Spec::Every { expr, .. } => format!("every {expr}"),
            Spec::At(ms) => format!("once at {}", utc(*ms)),
        }
    }
}

fn unit_ms(unit: &str) -> Option<i64> {
    match unit {
        "minute" | "min" => Some(60_000),
        "hour" => Some(3_600_000),
        "day" => Some(86_400_000),
        _ => None,
    }
}

/// The first run strictly after `after_ms`; `None` when there is none (a
/// one-shot time already passed, a cron expression that never matches).
pub fn next_after(spec: &Spec, after_ms: i64) -> Option<i64> {
    match spec {
        Spec::At(at) => (*at > after_ms).then_some(*at),
        Spec::Every { ms, .. } => after_ms.checked_add(*ms),
        Spec::Cron { tz, cron, .. } => cron_next(cron, *tz, after_ms),
    }
}

/// How far a minute-by-minute search looks around a clock change.
const FOLD_SCAN_MS: i64 = 26 * 3_600_000;

/// The next cron time after `after_ms`. `croner` alone is right for jobs
/// at fixed times (02:30 runs once at fall-back, after the gap at spring
/// forward), but for jobs whose hour or minute is a range or wildcard it
/// skips the repeated hour at fall-back (and may answer a time before the
/// start inside it): near a change of UTC offset those are found by
/// checking each minute in UTC (bounded by [`FOLD_SCAN_MS`]), so "every
/// hour" stays every real hour.
fn cron_next(cron: &Cron, tz: Tz, after_ms: i64) -> Option<i64> {
    use chrono::Offset;
    let at = |ms: i64| tz.timestamp_millis_opt(ms).single();
    let start = at(after_ms)?;
    let found = cron
        .find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp_millis())
        .filter(|t| *t > after_ms);
    if cron.determine_job_type() == croner::JobType::FixedTime {
        return found;
    }
    let horizon = found
        .unwrap_or(after_ms + FOLD_SCAN_MS)
        .min(after_ms + FOLD_SCAN_MS);
    let offset = |ms: i64| at(ms).map(|t| t.offset().fix().local_minus_utc());
    if found.is_some() && offset(after_ms) == offset(horizon) {
        return found;
    }
    let mut t = (after_ms / 60_000 + 1) * 60_000;
    while t <= horizon {
        if at(t).is_some_and(|dt| cron.is_time_matching(&dt).unwrap_or(false)) {
            return Some(t);
        }
        t += 60_000;
    }
    found.or_else(|| cron_next_plain(cron, tz, horizon))
}

fn cron_next_plain(cron: &Cron, tz: Tz, after_ms: i64) -> Option<i64> {
    let start = tz.timestamp_millis_opt(after_ms).single()?;
    let next = cron.find_next_occurrence(&start, false).ok()?;
    Some(next.timestamp_millis()).filter(|t| *t > after_ms)
}

/// `ms` as an RFC 3339 UTC time (for people and logs).
pub fn utc(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn fires(spec: &Spec, from: &str, to: &str) -> Vec<String> {
        let (mut t, end) = (ms(from), ms(to));
        let mut out = Vec::new();
        for _ in 0..1000 {
            match next_after(spec, t) {
                Some(n) if n <= end => {
                    out.push(utc(n));
                    t = n;
                }
                _ => break,
            }
        }
        out
    }

    #[test]
    fn parses_and_names_bad_input() {
        assert!(Spec::cron("0 7 * * *", "Europe/Paris").is_ok());
        assert!(Spec::cron("@daily", "UTC").is_ok());
        let e = Spec::cron("61 7 * * *", "UTC").unwrap_err();
        assert!(e.to_string().contains("`61 7 * * *`"), "{e}");
        let e = Spec::cron("0 7 * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(e, SpecError::UnknownTz("Mars/Olympus".into()));
        assert!(matches!(
            Spec::every("30m").unwrap(),
            Spec::Every { ms: 1_800_000, .. }
        ));
        assert!(matches!(
            Spec::every("2h").unwrap(),
            Spec::Every { ms: 7_200_000, .. }
        ));
        assert!(Spec::every("30s").is_err());
        assert!(Spec::every("0m").is_err());
        assert!(Spec::every("m").is_err());
        let now = ms("2026-01-01T00:00:00Z");
        assert!(
            matches!(Spec::at("in 20 minutes", now).unwrap(), Spec::At(t) if t == now + 1_200_000)
        );
        assert!(matches!(Spec::at("in 1 day", now).unwrap(), Spec::At(t) if t == now + 86_400_000));
        assert!(
            matches!(Spec::at("2026-01-01T07:00:00+01:00", now).unwrap(), Spec::At(t) if t == ms("2026-01-01T06:00:00Z"))
        );
        assert!(matches!(
            Spec::at("tomorrow", now),
            Err(SpecError::BadTime(_))
        ));
        assert!(matches!(
            Spec::at("in 3 fortnights", now),
            Err(SpecError::BadTime(_))
        ));
        assert!(matches!(
            Spec::at("2025-01-01T00:00:00Z", now),
            Err(SpecError::Past(_))
        ));
    }

    #[test]
    fn stored_round_trip() {
        for s in [
            Spec::cron("30 2 * * *", "Europe/Berlin").unwrap(),
            Spec::every("90m").unwrap(),
            Spec::At(1234),
        ] {
            let back = Spec::stored(s.kind(), &s.expr(), &s.tz()).unwrap();
            assert_eq!(back.describe(), s.describe());
        }
    }

    #[test]
    fn spring_forward_runs_once_after_the_gap() {
        // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST.
        let s = Spec::cron("30 2 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            fires(&s, "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z"),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST, the first time after the gap
                "2026-03-30T00:30:00Z", // 02:30 CEST
                "2026-03-31T00:30:00Z",
            ]
        );
    }

    #[test]
    fn fall_back_runs_once() {
        // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET.
        let s = Spec::cron("30 2 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            fires(&s, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn hourly_keeps_every_real_hour_across_both_changes() {
        let s = Spec::cron("0 * * * *", "Europe/Berlin").unwrap();
        for (from, to) in [
            ("2026-03-28T22:00:00Z", "2026-03-29T04:00:00Z"),
            ("2026-10-24T22:00:00Z", "2026-10-25T04:00:00Z"),
        ] {
            let got = fires(&s, from, to);
            let want: Vec<String> = (1..=6).map(|h| utc(ms(from) + h * 3_600_000)).collect();
            assert_eq!(got, want, "{from}");
        }
    }

    #[test]
    fn quarter_hours_keep_every_real_quarter_at_fall_back() {
        let s = Spec::cron("*/15 * * * *", "Europe/Berlin").unwrap();
        let got = fires(&s, "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z");
        let want: Vec<String> = (1..=16)
            .map(|q| utc(ms("2026-10-24T23:00:00Z") + q * 900_000))
            .collect();
        assert_eq!(got, want);
        assert!(Spec::cron("0 0 7 * * *", "UTC").is_err(), "six fields");
    }

    #[test]
    fn one_shot_and_interval() {
        assert_eq!(next_after(&Spec::At(100), 99), Some(100));
        assert_eq!(next_after(&Spec::At(100), 100), None);
        let e = Spec::every("30m").unwrap();
        assert_eq!(next_after(&e, 0), Some(1_800_000));
    }
}
