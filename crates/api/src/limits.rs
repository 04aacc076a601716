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
        let peer = peer.ip();
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
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return ip,
                // A hop we cannot read: stop trusting the chain there.
                Err(_) => return peer,
            }
        }
        peer
    }

    /// A slot to hash a password in. At most [`MAX_CONCURRENT_HASHES`] run at once, so a
    /// flood of sign-ins costs time, not memory; a request that waits too long gets a 503.
    pub async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(HASH_WAIT, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::busy("the server is busy checking passwords; try again in a moment")),
        }
    }
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
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(limits.client_ip("10.0.0.1:5000".parse().unwrap(), &h), proxy);
    }
}
