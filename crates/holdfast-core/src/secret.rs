//! Passwords (argon2id) and bearer secrets (random 256-bit, stored as SHA-256).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::CoreError;

pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes a password with argon2id (the crate's defaults are OWASP's: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, CoreError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(CoreError::invalid("password", format!("must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if password.len() > 1024 {
        return Err(CoreError::invalid("password", "must be at most 1024 bytes"));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CoreError::invalid("password", format!("could not be hashed: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends about the time a real verification takes, so unknown emails cannot be told apart.
pub fn burn_password_time(password: &str) {
    let _ = Argon2::default().hash_password(password.as_bytes());
}

/// A new bearer secret (`hf_` + 64 hex digits) and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("hf_{}", hex::encode(bytes));
    let hash = hash_token(&secret);
    (secret, hash)
}

/// A random password for `coworker add` when none is given.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_reject() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), ha);
        assert_eq!(a.len(), 67);
    }
}
