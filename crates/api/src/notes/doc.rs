//! One notes document as a state machine with no sockets, store or clock: the authoritative
//! `yrs::Doc` (one `Y.Text` named `notes`, Markdown source), the awareness table, and the
//! read-only mode. The room task (`super::room`) feeds it parsed messages with
//! [`NotesDoc::handle_message`] and does what the [`Outcome`] says, in order: an applied
//! update is stored before it is sent to anyone.
//!
//! What this module decides: whether an update adds anything, whether its sender may edit now
//! ([`may_edit`]), whether the document would grow past its limit, and what every newcomer is
//! sent. An update it refuses never touches the document.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, TextRef, Transact, Update};

use super::awareness::{AwarenessLimits, AwarenessTable};
use super::wire::{self, close_code, Incoming, Refusal};
use super::PeerId;

/// The name of the shared text every client binds its editor to.
pub const TEXT_NAME: &str = "notes";

/// The reason sent with the permission-denied message when the notes are read-only.
pub const READ_ONLY: &str = "read-only";

/// Who is sending, for the read-only rule: hosts and co-hosts edit always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Host,
    Participant,
}

/// Whether someone in `role` may change the notes now.
pub fn may_edit(role: Role, read_only: bool) -> bool {
    role == Role::Host || !read_only
}

#[derive(Debug, Clone, Copy)]
pub struct DocLimits {
    /// The largest encoded state (Yjs v1) the document may reach.
    pub max_doc_bytes: usize,
    pub awareness: AwarenessLimits,
}

/// What the room task does after a message.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Nothing to send.
    Nothing,
    /// Frames for the sender only.
    Reply(Vec<Vec<u8>>),
    /// The document took an update: store `update` (what it added, as a Yjs v1 update), then
    /// send `frame` to every other socket.
    Applied { update: Vec<u8>, frame: Vec<u8> },
    /// Awareness changes: send the frame to every other socket.
    Relay(Vec<u8>),
}

/// A stored row the document could not take.
#[derive(Debug, thiserror::Error)]
#[error("stored notes update {index} cannot be applied: {why}")]
pub struct LoadError {
    pub index: usize,
    pub why: String,
}

pub struct NotesDoc {
    doc: Doc,
    text: TextRef,
    awareness: AwarenessTable,
    read_only: bool,
    limits: DocLimits,
    /// An upper bound of the encoded state's size: exact after a load or a check, plus the
    /// length of each update since (merging only shrinks). Checked exactly near the limit.
    size_bound: usize,
    /// Set when yrs failed halfway through an update: the document may hold part of it, so
    /// the room reloads it from the store (which never saw that update).
    poisoned: bool,
}

impl NotesDoc {
    /// A document from its stored rows, in order, with the server's awareness entry set.
    pub fn load<'a>(rows: impl IntoIterator<Item = &'a [u8]>, read_only: bool, limits: DocLimits, now_secs: u32) -> Result<Self, LoadError> {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        for (index, row) in rows.into_iter().enumerate() {
            let applied = catch_unwind(AssertUnwindSafe(|| {
                let update = Update::decode_v1(row).map_err(|e| e.to_string())?;
                doc.transact_mut().apply_update(update).map_err(|e| e.to_string())
            }));
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Err(LoadError { index, why }),
                Err(_) => return Err(LoadError { index, why: "yrs panicked".into() }),
            }
        }
        let mut me = NotesDoc { doc, text, awareness: AwarenessTable::default(), read_only, limits, size_bound: 0, poisoned: false };
        me.size_bound = me.snapshot().len();
        me.awareness.set_server_state(server_state(read_only), now_secs);
        Ok(me)
    }

    /// What a new socket is sent first: the server's sync step 1 (so the client sends what
    /// the server lacks) and everyone's awareness, the server's entry included.
    pub fn handle_connect(&self) -> Vec<Vec<u8>> {
        vec![wire::sync_step1(&self.doc.transact().state_vector()), wire::awareness(&self.awareness.states())]
    }

    /// One message from `peer`. An error closes that socket (and only it).
    pub fn handle_message(&mut self, peer: PeerId, role: Role, message: Incoming) -> Result<Outcome, Refusal> {
        match message {
            Incoming::SyncStep1(sv) => {
                let diff = self.doc.transact().encode_state_as_update_v1(&sv);
                Ok(Outcome::Reply(vec![wire::sync_step2(diff)]))
            }
            Incoming::Update(bytes) => self.handle_update(role, bytes),
            Incoming::Awareness(entries) => {
                let changed = self.awareness.handle_update(peer, entries, &self.limits.awareness)?;
                Ok(if changed.is_empty() { Outcome::Nothing } else { Outcome::Relay(wire::awareness(&changed)) })
            }
            Incoming::QueryAwareness => Ok(Outcome::Reply(vec![wire::awareness(&self.awareness.states())])),
            Incoming::Auth => Ok(Outcome::Nothing),
        }
    }

    fn handle_update(&mut self, role: Role, bytes: Vec<u8>) -> Result<Outcome, Refusal> {
        let invalid = |why: String| Refusal::new(close_code::INVALID_PAYLOAD, format!("not a Yjs update: {why}"));
        let update = match catch_unwind(|| Update::decode_v1(&bytes)) {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => return Err(invalid(e.to_string())),
            Err(_) => return Err(invalid("undecodable".into())),
        };
        if !self.adds_to_document(&update) {
            // A step 2 or an echo with nothing new: fine from anyone, also while read-only.
            return Ok(Outcome::Nothing);
        }
        if !may_edit(role, self.read_only) {
            return Ok(Outcome::Reply(vec![wire::permission_denied(READ_ONLY)]));
        }
        if self.size_bound + bytes.len() > self.limits.max_doc_bytes {
            self.size_bound = self.snapshot().len();
            if self.size_bound + bytes.len() > self.limits.max_doc_bytes {
                let reason = format!("the notes are full: at most {} KiB", self.limits.max_doc_bytes / 1024);
                return Ok(Outcome::Reply(vec![wire::permission_denied(&reason)]));
            }
        }
        let applied = catch_unwind(AssertUnwindSafe(|| {
            let mut txn = self.doc.transact_mut();
            txn.apply_update(update).map_err(|e| e.to_string())?;
            let changed = !txn.delete_set().is_empty() || txn.after_state() != txn.before_state();
            Ok::<_, String>(changed.then(|| txn.encode_update_v1()))
        }));
        let added = match applied {
            Ok(Ok(added)) => added,
            Ok(Err(why)) => {
                self.poisoned = true;
                return Err(invalid(why));
            }
            Err(_) => {
                self.poisoned = true;
                return Err(invalid("yrs panicked".into()));
            }
        };
        self.size_bound += bytes.len();
        // Content whose predecessors are missing waits inside yrs and adds nothing yet.
        Ok(match added {
            Some(update) => Outcome::Applied { frame: wire::sync_update(update.clone()), update },
            None => Outcome::Nothing,
        })
    }

    /// Whether `update` holds an insertion past the document's state vector or a deletion the
    /// document has not made: what a read-only refusal is about (a reconnecting client's step
    /// 2 with nothing new must pass).
    fn adds_to_document(&self, update: &Update) -> bool {
        if update.is_empty() {
            return false;
        }
        let txn = self.doc.transact();
        let sv = txn.state_vector();
        let inserts = update.insertions(true).iter().any(|(client, ranges)| ranges.iter().any(|r| r.end > sv.get(client)));
        if inserts {
            return true;
        }
        let deletes = update.delete_set();
        if deletes.is_empty() {
            return false;
        }
        let deleted = txn.snapshot().delete_set;
        deletes.client_ids().any(|client| match (deletes.get(&client), deleted.get(&client)) {
            (Some(mine), Some(done)) => !mine.subset_of(done),
            (Some(_), None) => true,
            (None, _) => false,
        })
    }

    /// `peer` left: the removal of its awareness clients, for the others.
    pub fn handle_leave(&mut self, peer: PeerId) -> Option<Vec<u8>> {
        let removed = self.awareness.handle_leave(peer);
        (!removed.is_empty()).then(|| wire::awareness(&removed))
    }

    /// Turns read-only on or off; on a change, the server's new awareness entry for everyone.
    pub fn set_read_only(&mut self, on: bool, now_secs: u32) -> Option<Vec<u8>> {
        if self.read_only == on {
            return None;
        }
        self.read_only = on;
        Some(wire::awareness(&[self.awareness.set_server_state(server_state(on), now_secs)]))
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The server's awareness entry renewed, for everyone (see
    /// [`AwarenessTable::renew_server_state`]); call every few seconds.
    pub fn poll_renewal(&mut self, now_secs: u32) -> Option<Vec<u8>> {
        self.awareness.renew_server_state(now_secs).map(|e| wire::awareness(&[e]))
    }

    /// The whole state as one Yjs v1 update: a snapshot to store.
    pub fn snapshot(&self) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v1(&StateVector::default())
    }

    /// The notes' Markdown source.
    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

/// The server's awareness state: `{"huiyi":{"readOnly":…}}`.
pub fn server_state(read_only: bool) -> Arc<str> {
    Arc::from(serde_json::json!({ "huiyi": { "readOnly": read_only } }).to_string())
}

/// The Markdown of stored rows (for downloads), without a room.
pub fn markdown_of<'a>(rows: impl IntoIterator<Item = &'a [u8]>) -> Result<String, LoadError> {
    let limits = DocLimits { max_doc_bytes: usize::MAX, awareness: AwarenessLimits { max_state_bytes: 0, max_clients_per_socket: 0 } };
    Ok(NotesDoc::load(rows, false, limits, 0)?.text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::Text;

    const LIMITS: DocLimits = DocLimits { max_doc_bytes: 4096, awareness: AwarenessLimits { max_state_bytes: 256, max_clients_per_socket: 2 } };

    /// A client's document, as y-websocket would hold it.
    fn client(id: u64) -> Doc {
        Doc::with_client_id(id)
    }

    fn type_into(doc: &Doc, at: u32, s: &str) -> Vec<u8> {
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, at, s);
        txn.encode_update_v1()
    }

    fn apply(doc: &Doc, update: &[u8]) {
        doc.transact_mut().apply_update(Update::decode_v1(update).unwrap()).unwrap();
    }

    fn server(read_only: bool) -> NotesDoc {
        NotesDoc::load([], read_only, LIMITS, 100).unwrap()
    }

    #[test]
    fn the_read_only_rule() {
        assert!(may_edit(Role::Host, true));
        assert!(may_edit(Role::Host, false));
        assert!(may_edit(Role::Participant, false));
        assert!(!may_edit(Role::Participant, true));
    }

    #[test]
    fn an_update_is_applied_and_returned_for_the_store_and_the_others() {
        let mut s = server(false);
        let alice = client(1);
        let u = type_into(&alice, 0, "# Agenda\n");
        let Outcome::Applied { update, frame } = s.handle_message(1, Role::Participant, Incoming::Update(u.clone())).unwrap() else { panic!("applied") };
        assert_eq!(s.text(), "# Agenda\n");
        assert_eq!(frame, wire::sync_update(update.clone()));
        // The same update again adds nothing: no store write, no broadcast.
        assert_eq!(s.handle_message(1, Role::Participant, Incoming::Update(u)).unwrap(), Outcome::Nothing);
        // A fresh client's step 1 gets everything; the stored update rebuilds the document.
        let Outcome::Reply(frames) = s.handle_message(2, Role::Participant, Incoming::SyncStep1(StateVector::default())).unwrap() else { panic!("reply") };
        assert_eq!(frames[0][..2], [0, 1], "sync step 2");
        assert_eq!(markdown_of([update.as_slice()]).unwrap(), "# Agenda\n");
        assert_eq!(markdown_of([s.snapshot().as_slice()]).unwrap(), "# Agenda\n");
    }

    #[test]
    fn while_read_only_a_participants_edit_never_reaches_the_document_but_a_hosts_does() {
        let mut s = server(false);
        let host = client(1);
        let u = type_into(&host, 0, "shared ");
        s.handle_message(1, Role::Host, Incoming::Update(u.clone())).unwrap();
        assert!(s.set_read_only(true, 200).is_some());
        assert!(s.set_read_only(true, 201).is_none(), "no change, nothing to tell");

        let guest = client(2);
        apply(&guest, &u);
        let edit = type_into(&guest, 0, "vandal ");
        assert_eq!(s.handle_message(2, Role::Participant, Incoming::Update(edit)).unwrap(), Outcome::Reply(vec![wire::permission_denied(READ_ONLY)]));
        assert_eq!(s.text(), "shared ");
        // A deletion is an edit too.
        let del = {
            let text = guest.get_or_insert_text(TEXT_NAME);
            let mut txn = guest.transact_mut();
            text.remove_range(&mut txn, 0, 3);
            txn.encode_update_v1()
        };
        assert!(matches!(s.handle_message(2, Role::Participant, Incoming::Update(del)).unwrap(), Outcome::Reply(_)));
        assert_eq!(s.text(), "shared ");
        // A step 2 holding only what the server has passes quietly.
        let known = client(3);
        apply(&known, &u);
        let sv = s.doc.transact().state_vector();
        let step2 = known.transact().encode_state_as_update_v1(&sv);
        assert_eq!(s.handle_message(3, Role::Participant, Incoming::Update(step2)).unwrap(), Outcome::Nothing);
        // The host still edits.
        let more = type_into(&host, 7, "notes");
        assert!(matches!(s.handle_message(1, Role::Host, Incoming::Update(more)).unwrap(), Outcome::Applied { .. }));
        assert_eq!(s.text(), "shared notes");
        s.set_read_only(false, 300);
        // The refused edits stay in the guest's own document, so its next ones build on
        // content the server never took: they wait inside yrs and reach nobody. A client that
        // was refused starts over from the server's state (docs/protocol.md).
        let stale = type_into(&guest, 0, "later ");
        assert_eq!(s.handle_message(2, Role::Participant, Incoming::Update(stale)).unwrap(), Outcome::Nothing);
        assert_eq!(s.text(), "shared notes");
        let fresh = client(4);
        apply(&fresh, &s.snapshot());
        let edit = type_into(&fresh, 0, "ok ");
        assert!(matches!(s.handle_message(4, Role::Participant, Incoming::Update(edit)).unwrap(), Outcome::Applied { .. }));
        assert_eq!(s.text(), "ok shared notes");
    }

    #[test]
    fn newcomers_get_step_1_and_the_servers_awareness_entry() {
        let mut s = server(true);
        let frames = s.handle_connect();
        assert_eq!(frames[0][..2], [0, 0], "sync step 1");
        let Incoming::Awareness(entries) = wire::parse(&frames[1]).unwrap() else { panic!("awareness") };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].client, super::super::awareness::SERVER_CLIENT_ID);
        assert_eq!(entries[0].state.as_deref(), Some(r#"{"huiyi":{"readOnly":true}}"#));
        assert!(s.read_only());
        let renewed = s.poll_renewal(150).unwrap();
        let Incoming::Awareness(entries) = wire::parse(&renewed).unwrap() else { panic!("awareness") };
        assert_eq!(entries[0].clock, 150);
    }

    #[test]
    fn the_size_limit_refuses_an_update_and_leaves_the_document_as_it_was() {
        let mut s = server(false);
        let alice = client(1);
        let fits = type_into(&alice, 0, &"a".repeat(2_000));
        assert!(matches!(s.handle_message(1, Role::Participant, Incoming::Update(fits)).unwrap(), Outcome::Applied { .. }));
        let too_much = type_into(&alice, 0, &"b".repeat(3_000));
        let Outcome::Reply(frames) = s.handle_message(1, Role::Participant, Incoming::Update(too_much)).unwrap() else { panic!("refused") };
        assert_eq!(frames[0][..2], [2, 0], "permission denied");
        assert_eq!(s.text().len(), 2_000);
    }

    #[test]
    fn a_garbage_update_closes_the_sender_with_1007() {
        let mut s = server(false);
        for bytes in [vec![1, 2, 3], vec![0xff; 20], vec![5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]] {
            let r = s.handle_message(1, Role::Host, Incoming::Update(bytes.clone()));
            assert_eq!(r.map_err(|e| e.code), Err(close_code::INVALID_PAYLOAD), "{bytes:?}");
        }
        assert_eq!(s.text(), "");
    }

    #[test]
    fn stored_rows_that_do_not_decode_are_a_load_error() {
        let e = NotesDoc::load([[0u8, 0].as_slice(), [7u8, 7, 7].as_slice()], false, LIMITS, 0).err().expect("refused");
        assert_eq!(e.index, 1);
    }

    #[test]
    fn awareness_is_relayed_and_removed_when_its_socket_leaves() {
        let mut s = server(false);
        let state = wire::AwarenessEntry { client: 42, clock: 1, state: Some(Arc::from(r#"{"user":{"name":"Li"}}"#)) };
        let Outcome::Relay(frame) = s.handle_message(7, Role::Participant, Incoming::Awareness(vec![state.clone()])).unwrap() else { panic!("relay") };
        assert_eq!(wire::parse(&frame).unwrap(), Incoming::Awareness(vec![state]));
        let gone = s.handle_leave(7).expect("a removal");
        assert_eq!(wire::parse(&gone).unwrap(), Incoming::Awareness(vec![wire::AwarenessEntry { client: 42, clock: 2, state: None }]));
    }
}
