//! Credentials made for one pod alone: random, never written anywhere but
//! the pod's own containers.

use std::io::Read as _;

/// 24 random hex digits from the kernel's generator.
pub fn secret() -> String {
    let mut bytes = [0u8; 12];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => hex::encode(bytes),
        Err(e) => {
            // No /dev/urandom (not Linux): time and a counter, hashed. Still
            // unique per pod; the pod's network is what keeps it private.
            use sha2::{Digest, Sha256};
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            tracing::debug!("no /dev/urandom ({e}); deriving a pod secret from the clock");
            let mut hasher = Sha256::new();
            hasher.update(format!("{:?}", std::time::SystemTime::now()));
            hasher.update(std::process::id().to_le_bytes());
            hasher.update(
                COUNTER
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .to_le_bytes(),
            );
            hex::encode(&hasher.finalize()[..12])
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_differ_and_are_hex() {
        let (a, b) = (super::secret(), super::secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
