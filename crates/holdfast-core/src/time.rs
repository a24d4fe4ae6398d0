//! Time: stored as UTC microseconds since the Unix epoch; a [`Clock`] so tests can move time.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// Where services get "now" from.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch, UTC.
    fn now(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Timestamp::now().as_microsecond()
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(micros: i64) -> Self {
        ManualClock(AtomicI64::new(micros))
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// RFC 3339 text of a stored time, e.g. `2026-11-22T19:56:39.123456Z`.
pub fn format_timestamp(micros: i64) -> String {
    match Timestamp::from_microsecond(micros) {
        Ok(ts) => ts.to_string(),
        Err(_) => micros.to_string(),
    }
}

/// Parses an RFC 3339 time, or a bare date meaning its midnight UTC.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts.as_microsecond());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && let Ok(zoned) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(zoned.timestamp().as_microsecond());
    }
    Err(format!("'{text}' is not a time such as 2026-11-22T09:30:00Z or a date such as 2026-11-22"))
}

/// Checks a calendar date and returns it as `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<String, String> {
    text.parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| format!("'{text}' is not a date such as 2026-11-22"))
}

/// The date (UTC) of a stored time, as `YYYY-MM-DD`.
pub fn date_of(micros: i64) -> String {
    Timestamp::from_microsecond(micros)
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}
