//! Identifiers and timestamps in the shapes Lambda uses: request ids, X-Ray trace ids,
//! log stream names, RFC 3339 times.
//!
//! The randomness only has to make ids unique, not unguessable, so it comes from std's
//! randomly keyed SipHash rather than a random-number crate.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 fresh random-looking bits.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(since_epoch(SystemTime::now()).as_nanos());
    hasher.finish()
}

/// A version-4 UUID in lower case, the shape of Lambda's request ids.
pub fn request_id() -> String {
    let high = random_u64();
    let low = random_u64();
    let version = (high & 0xffff_ffff_ffff_0fff) | 0x4000;
    let variant = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        version >> 32,
        (version >> 16) & 0xffff,
        version & 0xffff,
        variant >> 48,
        variant & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header as Lambda passes it: `Root=1-{epoch hex}-{96 random bits};Parent={64 bits};Sampled=0`.
pub fn trace_id(now: SystemTime) -> String {
    let seconds = since_epoch(now).as_secs();
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        seconds & 0xffff_ffff,
        random_u64() & 0xffff_ffff,
        random_u64(),
        random_u64()
    )
}

/// A log stream name as Lambda makes them: `YYYY/MM/DD/[$LATEST]{32 hex}`.
pub fn log_stream_name(now: SystemTime) -> String {
    let (year, month, day) = civil_date(since_epoch(now).as_secs() / 86_400);
    format!(
        "{year:04}/{month:02}/{day:02}/[$LATEST]{:016x}{:016x}",
        random_u64(),
        random_u64()
    )
}

/// `2026-11-22T10:00:00.123Z`.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let since = since_epoch(time);
    let seconds = since.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Milliseconds since the Unix epoch.
pub fn epoch_millis(time: SystemTime) -> u128 {
    since_epoch(time).as_millis()
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    let z = days_since_epoch + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn request_ids_are_uuid_v4_and_distinct() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn trace_ids_have_xray_shape() {
        let now = UNIX_EPOCH + Duration::from_secs(0x6543_2100);
        let trace = trace_id(now);
        let parts: Vec<&str> = trace.split(';').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[0].starts_with("Root=1-65432100-"), "{trace}");
        assert_eq!(parts[0].len(), "Root=1-".len() + 8 + 1 + 24);
        assert_eq!(parts[1].len(), "Parent=".len() + 16);
        assert_eq!(parts[2], "Sampled=0");
    }
}
