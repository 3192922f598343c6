//! The one timestamp every zip entry carries.

use crate::error::{Error, Result};

/// The timestamp written on every entry: `SOURCE_DATE_EPOCH`, clamped to no
/// earlier than 1980-01-01T00:00:00Z (zip's first representable instant).
/// Zip stores local "DOS" time at 2-second resolution; the UTC civil time of
/// the epoch is written, odd seconds rounded down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceDateEpoch(i64);

impl SourceDateEpoch {
    /// 1980-01-01T00:00:00Z, the earliest instant a zip can hold.
    pub const MIN: i64 = 315_532_800;
    /// 2107-12-31T23:59:58Z, the latest.
    pub const MAX: i64 = 4_354_819_198;
    /// Used when `SOURCE_DATE_EPOCH` is unset: the earliest zip time, so the
    /// default never depends on when or where the build ran.
    pub const DEFAULT: SourceDateEpoch = SourceDateEpoch(Self::MIN);

    /// Clamps `seconds` up to 1980-01-01; refuses instants past 2107.
    pub fn new(seconds: i64) -> Result<Self> {
        if seconds > Self::MAX {
            return Err(Error::InvalidEpoch {
                value: seconds.to_string(),
                problem: "is after 2107-12-31, the last time a zip can hold",
            });
        }
        Ok(SourceDateEpoch(seconds.max(Self::MIN)))
    }

    /// Parses the value of a `SOURCE_DATE_EPOCH` variable (decimal seconds).
    pub fn parse(value: &str) -> Result<Self> {
        let seconds = value
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::InvalidEpoch {
                value: value.to_owned(),
                problem: "is not a whole number of seconds since 1970",
            })?;
        Self::new(seconds)
    }

    /// Seconds since 1970-01-01T00:00:00Z, after clamping.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// The UTC civil time: (year, month, day, hour, minute, second).
    pub fn civil(self) -> (u16, u8, u8, u8, u8, u8) {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // The ranges are guaranteed by MIN..=MAX; the casts cannot truncate.
        (
            year as u16,
            month as u8,
            day as u8,
            (secs / 3600) as u8,
            (secs % 3600 / 60) as u8,
            (secs % 60) as u8,
        )
    }

    pub(crate) fn zip_datetime(self) -> zip::DateTime {
        let (year, month, day, hour, minute, second) = self.civil();
        zip::DateTime::from_date_and_time(year, month, day, hour, minute, second)
            .unwrap_or_else(|_| zip::DateTime::default_for_write())
    }
}

impl Default for SourceDateEpoch {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_to_1980() {
        assert_eq!(
            SourceDateEpoch::new(0).unwrap().seconds(),
            SourceDateEpoch::MIN
        );
        assert_eq!(
            SourceDateEpoch::new(-5).unwrap().civil(),
            (1980, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn converts_to_utc_civil_time() {
        // 2024-02-29T13:14:15Z
        assert_eq!(
            SourceDateEpoch::new(1_709_212_455).unwrap().civil(),
            (2024, 2, 29, 13, 14, 15)
        );
        assert_eq!(
            SourceDateEpoch::new(SourceDateEpoch::MAX).unwrap().civil(),
            (2107, 12, 31, 23, 59, 58)
        );
    }

    #[test]
    fn refuses_garbage_and_far_future() {
        assert!(SourceDateEpoch::parse("yesterday").is_err());
        assert!(SourceDateEpoch::parse("99999999999").is_err());
        assert_eq!(
            SourceDateEpoch::parse(" 1700000000\n").unwrap().seconds(),
            1_700_000_000
        );
    }
}
