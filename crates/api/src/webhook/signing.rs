//! Tencent Meeting's webhook signing and optional encryption.
//!
//! `signature = hex(SHA1(concat(sort([token, timestamp, nonce, data]))))`, sent in the
//! `signature` header with `timestamp` and `nonce`. With an AES key (43 characters of base64,
//! as Tencent's EncodingAESKey), `data` and `check_str` are AES-256-CBC encrypted, IV the
//! first 16 bytes of the key, PKCS#7 padded, then base64; otherwise they are plain base64.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use sha1::{Digest, Sha1};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

pub fn signature(token: &str, timestamp: &str, nonce: &str, data: &str) -> String {
    let mut parts = [token, timestamp, nonce, data];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// The 32-byte key of an EncodingAESKey, or why it is not one.
pub fn aes_key(encoding_key: &str) -> Result<[u8; 32], String> {
    // Keys are 43 arbitrary base64 characters, so the last one may carry stray low bits, which
    // Tencent's own decoders accept.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient
        .decode(format!("{encoding_key}="))
        .map_err(|_| "aes_key must be 43 characters of base64".to_owned())?;
    bytes.try_into().map_err(|_| "aes_key must be 43 characters of base64 (32 bytes)".to_owned())
}

/// `data` as it goes on the wire: base64 of the plaintext, or of its encryption.
pub fn encode(plain: &[u8], key: Option<&[u8; 32]>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    match key {
        None => b64.encode(plain),
        Some(k) => {
            let iv: [u8; 16] = k[..16].try_into().expect("a 32-byte key has 16 leading bytes");
            b64.encode(Enc::new(k.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain))
        }
    }
}

/// The inverse of [`encode`], as a receiver does it.
pub fn decode(data: &str, key: Option<&[u8; 32]>) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    match key {
        None => Some(raw),
        Some(k) => {
            let iv: [u8; 16] = k[..16].try_into().ok()?;
            Dec::new(k.into(), &iv.into()).decrypt_padded_vec_mut::<Pkcs7>(&raw).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_sorts_before_hashing() {
        let a = signature("tok", "1700000000", "n1", "ZGF0YQ==");
        assert_eq!(a.len(), 40);
        assert_eq!(a, signature("tok", "1700000000", "n1", "ZGF0YQ=="));
        // The same four strings in any role give the same signature: they are sorted.
        assert_eq!(a, signature("n1", "ZGF0YQ==", "tok", "1700000000"));
        assert_ne!(a, signature("tok", "1700000001", "n1", "ZGF0YQ=="));
        // sha1("123") for the sorted concat of "1","2","3","" is hex of SHA1("123").
        assert_eq!(signature("3", "1", "2", ""), "40bd001563085fc35165329ea1ff5c5ecbdbbeef");
    }

    #[test]
    fn encryption_round_trips_and_needs_the_key() {
        let key = aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let data = encode(b"{\"event\":\"x\"}", Some(&key));
        assert_eq!(decode(&data, Some(&key)).unwrap(), b"{\"event\":\"x\"}");
        assert_ne!(decode(&data, None).unwrap(), b"{\"event\":\"x\"}");
        assert!(aes_key("short").is_err());
        assert_eq!(decode(&encode(b"plain", None), None).unwrap(), b"plain");
    }
}
