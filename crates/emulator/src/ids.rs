//! Identifiers and timestamps in the shapes Lambda uses: request ids, X-Ray trace ids,
//! log stream names.
//!
//! The randomness only has to make ids unique, not unguessable, so it comes from std's
//! randomly keyed SipHash rather than a random-number crate.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lamina_context::time::utc_date;

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
    let (year, month, day) = utc_date(now);
    format!(
        "{year:04}/{month:02}/{day:02}/[$LATEST]{:016x}{:016x}",
        random_u64(),
        random_u64()
    )
}

/// Milliseconds since the Unix epoch.
pub fn epoch_millis(time: SystemTime) -> u128 {
    since_epoch(time).as_millis()
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
