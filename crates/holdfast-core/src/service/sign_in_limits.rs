//! Limits on password guessing, counted atomically per account and per client address.
//!
//! An attempt reserves its place before the password is checked (so parallel guesses cannot run
//! past the limit) and gives it back when the password was right. An account that keeps failing
//! is not locked: after a few free failures each further attempt must wait twice as long as the
//! one before (capped), so the real co-worker gets in when the guessing stops; and a browser that
//! already signed in to that account (it holds a device cookie for it) is not held back by anyone
//! else's guesses at all. A client address that fails with many accounts is refused for the window.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::CoreError;

/// Failed sign-ins an account may have in the window before each attempt must wait.
pub const FREE_FAILURES: usize = 5;
/// Failed sign-ins one client address may have, over all accounts, in the window.
pub const CLIENT_FAILURES: usize = 30;
/// The window failures are counted over.
pub const WINDOW_SECS: i64 = 15 * 60;
/// How long an account's first attempt past the free failures waits; each further one twice that.
pub const FIRST_WAIT_SECS: i64 = 5;
/// The longest an account's next attempt may have to wait.
pub const MAX_WAIT_SECS: i64 = 15 * 60;

const MICROS: i64 = 1_000_000;

/// Failures (and attempts in flight) per key, as times in microseconds.
#[derive(Default)]
pub(crate) struct SignInLimits(Mutex<HashMap<String, Vec<i64>>>);

/// An attempt in flight: its place is kept (counted as a failure) unless it is given back.
pub(crate) struct Reservation {
    keys: Vec<String>,
    at: i64,
}

impl SignInLimits {
    /// Reserves an attempt for `email` from `client`, or says how long to wait. `trusted` skips
    /// the account's limit (the browser has signed in to this account before).
    pub(crate) fn reserve(
        &self,
        email: &str,
        client: Option<&str>,
        trusted: bool,
        now: i64,
    ) -> Result<Reservation, CoreError> {
        let poisoned = || CoreError::TooManyAttempts("sign-in is unavailable for a moment; try again".into());
        let mut map = self.0.lock().map_err(|_| poisoned())?;
        let account = format!("account:{email}");
        let client_key = client.map(|c| format!("client:{c}"));
        for key in std::iter::once(&account).chain(client_key.as_ref()) {
            if let Some(times) = map.get_mut(key) {
                times.retain(|t| now - t < WINDOW_SECS * MICROS);
            }
        }
        if let Some(key) = &client_key
            && map.get(key).is_some_and(|t| t.len() >= CLIENT_FAILURES)
        {
            return Err(CoreError::TooManyAttempts(format!(
                "too many failed sign-ins from this address in the last {} minutes; wait and try again",
                WINDOW_SECS / 60
            )));
        }
        if !trusted && let Some(times) = map.get(&account) {
            let failures = times.len();
            if failures >= FREE_FAILURES {
                let wait = (FIRST_WAIT_SECS << (failures - FREE_FAILURES).min(20)).min(MAX_WAIT_SECS);
                let last = times.iter().copied().max().unwrap_or(now);
                let ready = last + wait * MICROS;
                if now < ready {
                    let secs = (ready - now + MICROS - 1) / MICROS;
                    return Err(CoreError::TooManyAttempts(format!(
                        "{failures} failed sign-ins for {email} in the last {} minutes; try again in {secs} seconds, \
                         or sign in from a browser you have used before",
                        WINDOW_SECS / 60
                    )));
                }
            }
        }
        let mut keys = vec![account];
        keys.extend(client_key);
        for key in &keys {
            map.entry(key.clone()).or_default().push(now);
        }
        Ok(Reservation { keys, at: now })
    }

    /// The password was right: the attempt no longer counts as a failure.
    pub(crate) fn give_back(&self, r: Reservation) {
        if let Ok(mut map) = self.0.lock() {
            for key in &r.keys {
                if let Some(times) = map.get_mut(key)
                    && let Some(i) = times.iter().position(|t| *t == r.at)
                {
                    times.swap_remove(i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = MICROS;

    #[test]
    fn an_account_backs_off_instead_of_locking_and_trust_skips_the_wait() {
        let limits = SignInLimits::default();
        let t0 = 1_000 * S;
        for i in 0..FREE_FAILURES as i64 {
            limits.reserve("a@x", Some("1.1.1.1"), false, t0 + i).expect("free failures");
        }
        // The sixth attempt waits five seconds after the last failure, the seventh ten, and so on.
        let w = FIRST_WAIT_SECS * S;
        assert!(limits.reserve("a@x", Some("2.2.2.2"), false, t0 + 10).is_err());
        limits.reserve("a@x", Some("2.2.2.2"), false, t0 + 4 + w).expect("after the first wait");
        assert!(limits.reserve("a@x", None, false, t0 + 4 + w + w).is_err());
        limits.reserve("a@x", None, false, t0 + 4 + w + 2 * w).expect("after twice the wait");
        // A browser that signed in here before is not held back.
        limits.reserve("a@x", None, true, t0 + 4 + 3 * w + 1).expect("trusted");
        // The window forgets.
        limits.reserve("a@x", None, false, t0 + WINDOW_SECS * S + 10 * S).expect("a new window");
    }

    #[test]
    fn a_right_password_gives_its_place_back_and_a_client_is_limited_over_accounts() {
        let limits = SignInLimits::default();
        for _ in 0..20 {
            let r = limits.reserve("b@x", Some("3.3.3.3"), false, 5 * S).expect("reserve");
            limits.give_back(r);
        }
        for i in 0..CLIENT_FAILURES {
            limits.reserve(&format!("user{i}@x"), Some("4.4.4.4"), false, 5 * S).expect("one each");
        }
        assert!(limits.reserve("someone@x", Some("4.4.4.4"), false, 6 * S).is_err());
        limits.reserve("someone@x", Some("5.5.5.5"), false, 6 * S).expect("another address");
    }
}
