//! Time as a type: a [`Timestamp`] is a point in time (Unix epoch milliseconds, as LiteLLM's
//! and the edge's records carry it, with the fraction kept); durations stay plain milliseconds
//! (`f64`, named `_ms`). People read and write it as RFC 3339, parsed and formatted by `chrono`
//! (already built for Parquet), never by hand.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A point in time: Unix epoch milliseconds (UTC). In JSON, SQL and TypeScript it is that
/// number; in what people read, RFC 3339 (`Display`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Timestamp(f64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0.0);
    /// Later than any time a record holds ("no end").
    pub const FAR_FUTURE: Timestamp = Timestamp(f64::MAX);

    /// The time now by the system clock.
    pub fn now() -> Self {
        Self::of(std::time::SystemTime::now()).unwrap_or(Self::EPOCH)
    }

    /// A system time (a file's modification time); `None` before 1970.
    pub fn of(t: std::time::SystemTime) -> Option<Self> {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| Self(d.as_secs_f64() * 1000.0))
    }

    pub const fn from_ms(ms: f64) -> Self {
        Self(ms)
    }

    /// From Unix epoch seconds (the edge's records, the key registry, LiteLLM's callbacks).
    pub fn from_secs(s: f64) -> Self {
        Self(s * 1000.0)
    }

    /// Unix epoch milliseconds.
    pub const fn ms(self) -> f64 {
        self.0
    }

    /// Unix epoch seconds.
    pub fn secs(self) -> f64 {
        self.0 / 1000.0
    }

    /// Milliseconds from `earlier` to this time (negative when `earlier` is later).
    pub fn ms_since(self, earlier: Timestamp) -> f64 {
        self.0 - earlier.0
    }

    /// This time moved by `ms` milliseconds.
    pub fn plus_ms(self, ms: f64) -> Self {
        Self(self.0 + ms)
    }

    /// This time `days` whole days (of 86,400 s) earlier.
    pub fn days_before(self, days: u32) -> Self {
        Self(self.0 - f64::from(days) * 86_400_000.0)
    }

    /// The later of two times.
    pub fn max(self, other: Timestamp) -> Self {
        Self(self.0.max(other.0))
    }

    /// The earlier of two times.
    pub fn min(self, other: Timestamp) -> Self {
        Self(self.0.min(other.0))
    }

    /// RFC 3339 in UTC to the millisecond (see [`rfc3339`]).
    pub fn rfc3339(self) -> String {
        rfc3339(self.0)
    }

    /// Epoch milliseconds, RFC 3339 or a date (see [`parse_ms`]).
    pub fn parse(s: &str) -> Option<Self> {
        parse_ms(s).map(Self)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl rusqlite::ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

/// Unix epoch milliseconds as RFC 3339 in UTC to the millisecond (`2026-11-27T20:52:15.130Z`);
/// a time no calendar holds (not finite, or past year 262,143) is written as its number.
pub fn rfc3339(ms: f64) -> String {
    let t = ms
        .is_finite()
        .then(|| DateTime::<Utc>::from_timestamp_millis(ms.round() as i64));
    match t.flatten() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("{ms:e}"),
    }
}

/// Unix epoch milliseconds from epoch milliseconds, an RFC 3339 date and time (`Z` or an offset;
/// fractions of a second kept to the microsecond), or a date (its midnight, UTC).
pub fn parse_ms(s: &str) -> Option<f64> {
    if let Ok(ms) = s.parse::<f64>() {
        return ms.is_finite().then_some(ms);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros() as f64 / 1000.0);
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_utc_to_the_millisecond() {
        // Reference values: `date -u -d @1795812735.13 +%FT%T.%3NZ` and friends.
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_812_735_129.78), "2026-11-27T20:52:15.130Z");
        assert_eq!(rfc3339(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1.0), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(f64::NAN), "NaN");
        assert_eq!(rfc3339(1e300), "1e300");
    }

    #[test]
    fn read_in_every_accepted_form() {
        // 2026-11-28T00:00:00Z = 1795824000 s (date -u -d 2026-11-28 +%s).
        assert_eq!(parse_ms("2026-11-28"), Some(1_795_824_000_000.0));
        for (s, ms) in [
            ("2026-11-28T10:30:00Z", 1_795_861_800_000.0),
            ("2026-11-28t10:30:00z", 1_795_861_800_000.0),
            ("2026-11-28 10:30:00Z", 1_795_861_800_000.0),
            ("2026-11-28T12:30:00+02:00", 1_795_861_800_000.0),
            ("2026-11-28T10:30:00.5Z", 1_795_861_800_500.0),
            ("2026-11-28T10:30:00.000250Z", 1_795_861_800_000.25),
            ("1795861800000", 1_795_861_800_000.0),
            ("1795861800000.5", 1_795_861_800_000.5),
        ] {
            assert_eq!(parse_ms(s), Some(ms), "{s}");
        }
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-11-28T25:00:00Z",
            "2026-11-28T10:00",
            "2026-11-28T10:00:00",
            "NaN",
            "inf",
            "",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_timestamp_is_its_number_on_the_wire_and_rfc3339_for_people() {
        let t = Timestamp::from_secs(1_795_861_800.5);
        assert_eq!(t.ms(), 1_795_861_800_500.0);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795861800500.0");
        assert_eq!(
            serde_json::from_str::<Timestamp>("1795861800500").unwrap(),
            t
        );
        assert_eq!(t.to_string(), "2026-11-28T10:30:00.500Z");
        assert_eq!(Timestamp::parse("2026-11-28T10:30:00.5Z"), Some(t));
        assert_eq!(t.plus_ms(250.0).ms_since(t), 250.0);
        assert!(Timestamp::now() > t);
    }

    #[test]
    fn what_is_written_reads_back() {
        for ms in [
            0.0,
            1_795_812_735_130.0,
            951_782_400_000.0,
            4_102_444_800_000.0,
        ] {
            assert_eq!(parse_ms(&rfc3339(ms)), Some(ms));
        }
    }
}
