//! Timestamps as people read and write them: RFC 3339, parsed and formatted by `chrono` (already
//! built for Parquet), never by hand. Inside StackPerf a time is Unix epoch milliseconds (`f64`,
//! as LiteLLM's and the edge's records carry it).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

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
