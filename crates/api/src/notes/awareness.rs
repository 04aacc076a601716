//! Who is where in a notes document (cursors, names): y-protocols' awareness states, kept by
//! the server per client id with the socket that owns each, plus the server's own entry that
//! tells every client the document's mode. Pure: the room task calls it and sends what it
//! returns.
//!
//! The rule for applying an entry is y-protocols': a higher clock replaces the state; the same
//! clock with `null` removes it. Beyond that the server keeps each socket to its own client
//! ids, so no editor can rewrite or remove another's cursor, nor the server's entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::wire::{close_code, valid_client_id, AwarenessEntry, Refusal};
use super::PeerId;

/// The client id of the server's own entry. Yjs picks random 32-bit ids, so a real client has
/// 0 once in four billion; entries a client sends for it are ignored.
pub const SERVER_CLIENT_ID: u64 = 0;

/// Limits on what one socket may keep here.
#[derive(Debug, Clone, Copy)]
pub struct AwarenessLimits {
    /// The largest state, in bytes of JSON.
    pub max_state_bytes: usize,
    /// Client ids one socket may hold (a y-websocket client has one).
    pub max_clients_per_socket: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    clock: u32,
    state: Option<Arc<str>>,
    owner: Option<PeerId>,
}

#[derive(Debug, Default)]
pub struct AwarenessTable {
    entries: BTreeMap<u64, Entry>,
}

impl AwarenessTable {
    /// Applies what `peer` sent and returns the entries that changed, to relay to the others.
    /// A state over the size limit, or more client ids than a socket may hold, refuses the
    /// socket; entries for the server's id or another socket's ids are dropped.
    pub fn handle_update(&mut self, peer: PeerId, incoming: Vec<AwarenessEntry>, limits: &AwarenessLimits) -> Result<Vec<AwarenessEntry>, Refusal> {
        let mut changed = Vec::new();
        for e in incoming {
            if e.state.as_ref().is_some_and(|s| s.len() > limits.max_state_bytes) {
                return Err(Refusal::new(close_code::TOO_BIG, format!("an awareness state is larger than {} bytes", limits.max_state_bytes)));
            }
            if e.client == SERVER_CLIENT_ID || !valid_client_id(e.client) {
                continue;
            }
            let current = self.entries.get(&e.client);
            if current.is_some_and(|c| c.owner.is_some_and(|o| o != peer)) {
                continue;
            }
            if current.is_none() && self.owned_by(peer) >= limits.max_clients_per_socket {
                return Err(Refusal::new(close_code::POLICY, format!("one connection may hold at most {} awareness clients", limits.max_clients_per_socket)));
            }
            let (clock, has_state) = current.map_or((0, false), |c| (c.clock, c.state.is_some()));
            let removal = e.state.is_none() && has_state && clock == e.clock;
            if clock < e.clock || removal {
                self.entries.insert(e.client, Entry { clock: e.clock, state: e.state.clone(), owner: Some(peer) });
                changed.push(e);
            }
        }
        Ok(changed)
    }

    /// Forgets `peer`'s clients and returns their removals (`null` with a newer clock), for
    /// everyone still connected.
    pub fn handle_leave(&mut self, peer: PeerId) -> Vec<AwarenessEntry> {
        let mine: Vec<u64> = self.entries.iter().filter(|(_, e)| e.owner == Some(peer)).map(|(id, _)| *id).collect();
        let mut removed = Vec::with_capacity(mine.len());
        for client in mine {
            if let Some(e) = self.entries.remove(&client) {
                if e.state.is_some() {
                    removed.push(AwarenessEntry { client, clock: e.clock.wrapping_add(1), state: None });
                }
            }
        }
        removed
    }

    /// Sets the server's own state. Its clock never goes back, also across restarts (clients
    /// ignore an older clock for an id they have seen): at least the wall clock in seconds.
    pub fn set_server_state(&mut self, state: Arc<str>, now_secs: u32) -> AwarenessEntry {
        let clock = self.entries.get(&SERVER_CLIENT_ID).map_or(0, |e| e.clock.wrapping_add(1)).max(now_secs);
        self.entries.insert(SERVER_CLIENT_ID, Entry { clock, state: Some(state.clone()), owner: None });
        AwarenessEntry { client: SERVER_CLIENT_ID, clock, state: Some(state) }
    }

    /// The server's entry again with a newer clock: y-protocols drops a state not renewed for
    /// 30 s, and y-websocket reconnects after 30 s without a message.
    pub fn renew_server_state(&mut self, now_secs: u32) -> Option<AwarenessEntry> {
        let state = self.entries.get(&SERVER_CLIENT_ID)?.state.clone()?;
        Some(self.set_server_state(state, now_secs))
    }

    /// Every present state, for a newcomer or a query.
    pub fn states(&self) -> Vec<AwarenessEntry> {
        self.entries.iter().filter(|(_, e)| e.state.is_some()).map(|(id, e)| AwarenessEntry { client: *id, clock: e.clock, state: e.state.clone() }).collect()
    }

    fn owned_by(&self, peer: PeerId) -> usize {
        self.entries.values().filter(|e| e.owner == Some(peer)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AwarenessLimits = AwarenessLimits { max_state_bytes: 64, max_clients_per_socket: 2 };

    fn entry(client: u64, clock: u32, state: Option<&str>) -> AwarenessEntry {
        AwarenessEntry { client, clock, state: state.map(Arc::from) }
    }

    #[test]
    fn newer_clocks_win_and_a_socket_keeps_to_its_own_clients() {
        let mut t = AwarenessTable::default();
        assert_eq!(t.handle_update(1, vec![entry(10, 1, Some("{}"))], &LIMITS).unwrap().len(), 1);
        // An older or equal clock changes nothing; a newer one does.
        assert!(t.handle_update(1, vec![entry(10, 1, Some(r#"{"a":1}"#))], &LIMITS).unwrap().is_empty());
        assert_eq!(t.handle_update(1, vec![entry(10, 2, Some(r#"{"a":1}"#))], &LIMITS).unwrap().len(), 1);
        // Another socket can neither rewrite nor remove client 10, nor touch the server's entry.
        assert!(t.handle_update(2, vec![entry(10, 9, None), entry(SERVER_CLIENT_ID, 99, None)], &LIMITS).unwrap().is_empty());
        t.set_server_state(Arc::from(r#"{"huiyi":{"readOnly":false}}"#), 5);
        assert!(t.handle_update(2, vec![entry(SERVER_CLIENT_ID, 99, Some("{}"))], &LIMITS).unwrap().is_empty());
        assert_eq!(t.states().iter().map(|e| (e.client, e.clock)).collect::<Vec<_>>(), [(0, 5), (10, 2)]);
        // The same clock with null is the owner's own removal.
        assert_eq!(t.handle_update(1, vec![entry(10, 2, None)], &LIMITS).unwrap(), [entry(10, 2, None)]);
        assert_eq!(t.states().len(), 1);
    }

    #[test]
    fn leaving_removes_a_sockets_clients_with_a_newer_clock() {
        let mut t = AwarenessTable::default();
        t.handle_update(1, vec![entry(10, 4, Some("{}")), entry(11, 1, Some("{}"))], &LIMITS).unwrap();
        t.handle_update(2, vec![entry(20, 1, Some("{}"))], &LIMITS).unwrap();
        assert_eq!(t.handle_leave(1), [entry(10, 5, None), entry(11, 2, None)]);
        assert_eq!(t.states(), [entry(20, 1, Some("{}"))]);
        assert!(t.handle_leave(1).is_empty());
        // Client 10 is free again for whoever has it next.
        assert_eq!(t.handle_update(3, vec![entry(10, 6, Some("{}"))], &LIMITS).unwrap().len(), 1);
    }

    #[test]
    fn bounds_refuse_the_socket() {
        let mut t = AwarenessTable::default();
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(80));
        assert_eq!(t.handle_update(1, vec![entry(10, 1, Some(&big))], &LIMITS).unwrap_err().code, close_code::TOO_BIG);
        let three = vec![entry(10, 1, Some("{}")), entry(11, 1, Some("{}")), entry(12, 1, Some("{}"))];
        assert_eq!(t.handle_update(1, three, &LIMITS).unwrap_err().code, close_code::POLICY);
    }

    #[test]
    fn the_server_clock_only_moves_forward() {
        let mut t = AwarenessTable::default();
        assert!(t.renew_server_state(10).is_none(), "nothing to renew before a state is set");
        assert_eq!(t.set_server_state(Arc::from("{}"), 1_000).clock, 1_000);
        assert_eq!(t.renew_server_state(900).unwrap().clock, 1_001, "a clock that went back is ignored");
        assert_eq!(t.renew_server_state(2_000).unwrap().clock, 2_000);
    }
}
