//! Rate limits and admission bounds at the HTTP edge: who the client is (its address, through
//! a trusted reverse proxy when one is configured), how many attempts it may make at guessing
//! something (passwords, meeting codes, accounts), and how many password hashes run at once.
//!
//! Every limit here is check-and-count in one step ([`Attempts::take`]): an attempt is counted
//! *before* the slow work it guards (an argon2 hash, a database lookup), so concurrent
//! requests cannot all pass the check before any of them is counted. An attempt that turns
//! out to be legitimate (the right password, a code that exists) is given back
//! ([`Ticket::forgive`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::tencent::error::ApiError;

/// Bounds the memory of one [`Attempts`] under a flood of distinct keys.
const MAX_KEYS: usize = 100_000;

/// Password hashes (argon2id, about 19 MiB and tens of milliseconds each) running at once.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// How long a request waits for a hashing slot before it is told to come back later.
const HASH_WAIT: Duration = Duration::from_secs(10);

/// Counts attempts per key within a sliding window.
#[derive(Clone)]
pub struct Attempts {
    window_secs: i64,
    seen: Arc<Mutex<HashMap<String, Vec<i64>>>>,
}

/// Attempts counted by [`Attempts::take`]; [`Ticket::forgive`] removes them again.
#[must_use = "a ticket is either kept (the attempt counts) or forgiven"]
pub struct Ticket {
    attempts: Attempts,
    keys: Vec<String>,
    at: i64,
}

impl Ticket {
    /// The attempt was legitimate: it no longer counts against any of its keys.
    pub fn forgive(self) {
        let mut map = self.attempts.lock();
        for k in &self.keys {
            if let Some(list) = map.get_mut(k) {
                if let Some(i) = list.iter().rposition(|t| *t == self.at) {
                    list.remove(i);
                }
                if list.is_empty() {
                    map.remove(k);
                }
            }
        }
    }
}

impl Attempts {
    pub fn new(window: Duration) -> Self {
        Self { window_secs: window.as_secs() as i64, seen: Default::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<i64>>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt against every `(key, limit)` at once, unless any key has already
    /// reached its limit within the window; then nothing is counted and `None` is returned.
    pub fn take(&self, keys: &[(String, usize)], now: i64) -> Option<Ticket> {
        let window = self.window_secs;
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, v| v.iter().any(|t| now - t < window));
        }
        if map.len() >= MAX_KEYS {
            // Every key is recent: forget the tenth whose last attempt is oldest, so memory
            // stays bounded whatever the flood (those keys start counting afresh).
            let mut last: Vec<(i64, String)> = map.iter().map(|(k, v)| (v.iter().copied().max().unwrap_or(0), k.clone())).collect();
            last.sort_unstable();
            for (_, k) in last.into_iter().take(MAX_KEYS / 10) {
                map.remove(&k);
            }
        }
        for (k, limit) in keys {
            if let Some(list) = map.get_mut(k) {
                list.retain(|t| now - t < window);
                if list.len() >= *limit {
                    return None;
                }
            }
        }
        for (k, _) in keys {
            map.entry(k.clone()).or_default().push(now);
        }
        Some(Ticket { attempts: self.clone(), keys: keys.iter().map(|(k, _)| k.clone()).collect(), at: now })
    }

    /// Attempts counted against `key` within the window.
    pub fn count(&self, key: &str, now: i64) -> usize {
        let window = self.window_secs;
        self.lock().get(key).map_or(0, |v| v.iter().filter(|t| now - *t < window).count())
    }
}

/// The key a client address is counted under: an IPv4 address as is (also when it arrives
/// IPv4-mapped in IPv6), an IPv6 address by its /64, the block one subscriber usually holds,
/// so that one attacker with a /64 does not get a fresh budget per address.
pub fn address_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned back into IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The HTTP edge's limits, shared by every handler.
#[derive(Clone)]
pub struct Limits {
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<Vec<IpAddr>>,
    /// Failed portal sign-ins (and sign-ups with a taken email), per address and per account.
    pub signin: Attempts,
    /// Sign-ups per address.
    pub signup: Attempts,
    /// Wrong meeting passwords, per address and per meeting.
    pub join_password: Attempts,
    /// Lookups of meeting codes that do not exist, per address and over the whole server.
    pub unknown_codes: Attempts,
    /// Slots for password hashing.
    hashing: Arc<Semaphore>,
}

impl Limits {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        let ten_minutes = Duration::from_secs(600);
        Self {
            trusted_proxies: Arc::new(trusted_proxies),
            signin: Attempts::new(ten_minutes),
            signup: Attempts::new(Duration::from_secs(3600)),
            join_password: Attempts::new(ten_minutes),
            unknown_codes: Attempts::new(ten_minutes),
            hashing: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
        }
    }

    /// The client's address: the connection's peer, or, when that peer is a trusted proxy,
    /// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            // Some proxies add the port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
            let ip = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical);
            match ip {
                Some(ip) if self.trusted_proxies.contains(&ip) => continue,
                Some(ip) => return ip,
                // A hop we cannot read (`unknown`, garbage): the last hop the proxy vouched
                // for is gone; count the request under the unreadable text itself rather than
                // under the proxy, so one odd client cannot lock out everyone behind it.
                None => return IpAddr::V6(std::net::Ipv6Addr::from(u128::from_be_bytes(sha_prefix(hop)))),
            }
        }
        peer
    }

    /// A slot to hash a password in. At most [`MAX_CONCURRENT_HASHES`] run at once, so a
    /// flood of sign-ins costs time, not memory; a request that waits too long gets a 503.
    /// The permit must be moved into the blocking task that hashes, so that a cancelled
    /// request does not free its slot while its hash still runs.
    pub async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(HASH_WAIT, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::busy("the server is busy checking passwords; try again in a moment")),
        }
    }
}

/// 16 bytes that stand for an unreadable forwarded address, in the documentation range
/// `2001:db8::/32` so they can never be a real client's.
fn sha_prefix(text: &str) -> [u8; 16] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    out
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_counts_every_key_or_none() {
        let a = Attempts::new(Duration::from_secs(600));
        let keys = |ip: &str| vec![(format!("ip:{ip}"), 2), ("account:x".to_owned(), 3)];
        assert!(a.take(&keys("1"), 0).is_some());
        assert!(a.take(&keys("1"), 1).is_some());
        // The address is at its limit: refused, and the account is not charged for it.
        assert!(a.take(&keys("1"), 2).is_none());
        assert!(a.take(&keys("2"), 3).is_some(), "the account has one attempt left");
        assert!(a.take(&keys("3"), 4).is_none(), "the account's limit holds across addresses");
        // The window slides.
        assert!(a.take(&keys("1"), 601).is_some());
    }

    #[test]
    fn forgiven_attempts_do_not_count() {
        let a = Attempts::new(Duration::from_secs(600));
        let keys = [("k".to_owned(), 1)];
        a.take(&keys, 10).unwrap().forgive();
        let kept = a.take(&keys, 11).expect("the forgiven attempt left room");
        drop(kept);
        assert!(a.take(&keys, 12).is_none());
    }

    #[test]
    fn concurrent_takes_never_exceed_the_limit() {
        let a = Attempts::new(Duration::from_secs(600));
        let passed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..40 {
                s.spawn(|| {
                    if a.take(&[("ip:1".to_owned(), 10)], 0).is_some() {
                        passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(passed.into_inner(), 10);
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwards() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = Limits::new(vec![proxy]);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.1".parse().unwrap());
        // Through the proxy: the right-most untrusted hop (the first one is the client's claim).
        assert_eq!(limits.client_ip("10.0.0.1:5000".parse().unwrap(), &h), "1.2.3.4".parse::<IpAddr>().unwrap());
        // Anyone else's header is ignored.
        assert_eq!(limits.client_ip("9.9.9.9:5000".parse().unwrap(), &h), "9.9.9.9".parse::<IpAddr>().unwrap());
        // Off by default.
        assert_eq!(Limits::default().client_ip("10.0.0.1:1".parse().unwrap(), &h), proxy);
        // Ports are ignored; an unreadable hop is counted apart from the proxy itself.
        h.insert("x-forwarded-for", "1.2.3.4:5678".parse().unwrap());
        assert_eq!(limits.client_ip("10.0.0.1:5000".parse().unwrap(), &h), "1.2.3.4".parse::<IpAddr>().unwrap());
        h.insert("x-forwarded-for", "unknown".parse().unwrap());
        let odd = limits.client_ip("10.0.0.1:5000".parse().unwrap(), &h);
        assert_ne!(odd, proxy);
        assert!(odd.to_string().starts_with("2001:db8:"), "{odd}");
        // An IPv4-mapped proxy address is the proxy.
        h.insert("x-forwarded-for", "5.6.7.8".parse().unwrap());
        assert_eq!(limits.client_ip("[::ffff:10.0.0.1]:5000".parse().unwrap(), &h), "5.6.7.8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    #[test]
    fn the_key_map_stays_bounded_under_a_flood_of_recent_keys() {
        let a = Attempts::new(Duration::from_secs(600));
        for i in 0..(MAX_KEYS + 50) {
            let _ = a.take(&[(format!("k{i}"), 5)], 0);
        }
        assert!(a.lock().len() <= MAX_KEYS);
    }
}
