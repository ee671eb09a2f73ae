//! Random bytes from the operating system, for session ids, token secrets,
//! keys and file names (password salts stay with argon2). Server only.
//!
//! The OS source cannot fail on the platforms Herald runs on once it has
//! answered once; [`check`] asks it at start-up, so a failure later is a
//! broken machine, reported by the panic catcher as a 500.

/// Fails start-up if the OS random source does not answer.
pub fn check() -> Result<(), String> {
    let mut probe = [0u8; 16];
    getrandom::fill(&mut probe).map_err(|e| format!("the OS random source failed: {e}"))
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the OS random source answered at start-up");
    out
}

/// `N` random bytes as lower-case hex (2·N characters).
pub fn hex<const N: usize>() -> String {
    bytes::<N>().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ_and_have_their_size() {
        assert!(check().is_ok());
        assert_ne!(bytes::<16>(), bytes::<16>());
        let text = hex::<16>();
        assert_eq!(text.len(), 32);
        assert!(text.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
