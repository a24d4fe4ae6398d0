//! Record, event and credential ids: UUIDv7 (time-ordered), random bits from the thread-local
//! CSPRNG. `Uuid::now_v7()` asks the kernel for randomness on every call (a `getrandom` syscall
//! per id, measurable on the audited read path); this asks once per thread.

use rand::Rng;
use uuid::Uuid;

/// A new UUIDv7 for the current time.
pub fn new_id() -> Uuid {
    let millis =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_v7_and_unique() {
        let a = super::new_id();
        let b = super::new_id();
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
    }
}
