//! Password hashing (argon2id, PHC strings) with bounded time and memory. At most
//! [`MAX_CONCURRENT_HASHES`] hashes run at once (the slots of [`crate::limits::Limits`]), each
//! in one of as many reusable memory buffers: a flood of sign-ins costs waiting, never more
//! than that many 19 MiB buffers, however the allocator would otherwise keep freed memory
//! (a fresh 19 MiB allocation per hash, freed on a different thread each time, left the
//! process hundreds of MiB larger).
//!
//! The PHC strings are the standard ones (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so hashes
//! made here verify with any argon2 library and the other way round.

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;

pub use crate::limits::MAX_CONCURRENT_HASHES;

/// The largest memory cost a stored hash may ask for, in KiB: anything beyond is treated as a
/// mismatch rather than allocated.
const MAX_M_COST: u32 = 64 * 1024;

/// Memory buffers kept for reuse, at most one per hashing slot.
static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `f` with `blocks` argon2 blocks of reused memory.
fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let reused = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut memory = match reused {
        Some(m) if m.len() >= blocks => m,
        _ => vec![Block::default(); blocks],
    };
    let result = f(&mut memory[..blocks]);
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < MAX_CONCURRENT_HASHES {
        pool.push(memory);
    }
    result
}

/// An argon2id hash of `password` with a random salt and the default parameters, as a PHC
/// string. Blocking (tens of milliseconds): call it off the async threads, in a hashing slot.
pub fn hash(password: &str) -> Option<String> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).ok()?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(params.block_count(), |m| argon.hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut out, m)).ok()?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`. A malformed string, another algorithm or
/// an oversized memory cost is a mismatch. Blocking, like [`hash`].
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    if params.m_cost() > MAX_M_COST {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let done = with_memory(params.block_count(), |m| argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, m));
    // Output's equality is constant-time.
    done.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_verify_and_interoperate_with_the_standard_hasher() {
        let ours = hash("correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        assert!(verify("correct horse", &ours));
        assert!(!verify("wrong horse", &ours));
        // Ours verify with the argon2 crate's verifier, and its hashes with ours.
        assert!(Argon2::default().verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default().hash_password(b"battery staple", &salt).unwrap().to_string();
        assert!(verify("battery staple", &theirs));
        assert!(!verify("battery", &theirs));
    }

    #[test]
    fn malformed_or_greedy_hashes_do_not_match() {
        assert!(!verify("x", ""));
        assert!(!verify("x", "$argon2id$v=19$m=19456,t=2,p=1$bad"));
        // A stored hash asking for 4 GiB of memory is refused, not allocated.
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY";
        assert!(!verify("x", greedy));
    }
}
