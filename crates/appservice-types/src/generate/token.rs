//! Fresh tokens: 64 symbols of `[A-Za-z0-9]` from the operating system's CSPRNG.

use super::GenerateError;
use crate::Secret;

/// The token alphabet: `[A-Za-z0-9]`.
const TOKEN_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Length of a [`generate_token`]: 64 symbols of log2(62) ≈ 5.95 bits, about 381 bits.
pub const TOKEN_LEN: usize = 64;
/// Random bytes at or above this value are rejected: 248 = 4 × 62, so `byte % 62` is uniform.
const REJECT_FROM: u8 = 248;

/// Appends to `token` the symbols encoded by `bytes` (rejection sampling), up to `TOKEN_LEN`.
fn push_symbols(token: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        if token.len() == TOKEN_LEN {
            return;
        }
        if byte < REJECT_FROM {
            let index = usize::from(byte % 62);
            token.extend(TOKEN_ALPHABET.get(index).map(|&symbol| char::from(symbol)));
        }
    }
}

/// A fresh random token of [`TOKEN_LEN`] symbols from `[A-Za-z0-9]`, from the operating
/// system's CSPRNG, each symbol uniform (rejection sampling).
pub fn generate_token() -> Result<Secret, GenerateError> {
    let mut token = String::with_capacity(TOKEN_LEN);
    let mut bytes = [0_u8; TOKEN_LEN];
    while token.len() < TOKEN_LEN {
        getrandom::fill(&mut bytes).map_err(|err| GenerateError::Random(err.to_string()))?;
        push_symbols(&mut token, &bytes);
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_has_length_and_alphabet() {
        for _ in 0..50 {
            let token = generate_token().unwrap();
            let token = token.expose();
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        }
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(generate_token().unwrap(), generate_token().unwrap());
    }

    #[test]
    fn rejection_sampling_drops_biased_bytes() {
        let mut token = String::new();
        push_symbols(&mut token, &[0, 61, 62, 247, 248, 255, 25, 26]);
        // 248 and 255 are rejected; the others map through `byte % 62`.
        assert_eq!(token, "A9A9Za");
        let mut full = String::new();
        push_symbols(&mut full, &[0; 100]);
        assert_eq!(full.len(), TOKEN_LEN);
    }

    #[test]
    fn alphabet_is_alphanumeric_without_repeats() {
        let mut symbols = TOKEN_ALPHABET.to_vec();
        symbols.sort_unstable();
        symbols.dedup();
        assert_eq!(symbols.len(), 62);
        assert!(symbols.iter().all(u8::is_ascii_alphanumeric));
    }
}
