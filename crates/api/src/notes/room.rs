//! The task that owns one room's loaded notes: it loads the document from the store, runs
//! every socket's messages through [`NotesDoc`] one at a time, stores each applied update
//! before sending it to the other sockets, compacts the stored rows, renews the server's
//! awareness entry, and ends (removing itself from the hub) when its last socket has left.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::awareness::AwarenessLimits;
use super::doc::{DocLimits, NotesDoc, Outcome, Role};
use super::wire::{close_code, Incoming, Refusal};
use super::{Notes, Out, PeerId};

/// What sockets and the hub ask of a room.
pub(crate) enum Command {
    Join { peer: PeerId, out: mpsc::Sender<Out>, reply: oneshot::Sender<Result<(), Refusal>> },
    /// A parsed message, with the sender's role as its socket last checked it.
    Message { peer: PeerId, role: Role, message: Incoming },
    Leave { peer: PeerId },
    ReadOnly(bool),
}

struct Room {
    hub: Notes,
    name: String,
    doc: NotesDoc,
    peers: HashMap<PeerId, mpsc::Sender<Out>>,
    /// The sequence number of the room's last stored row.
    last_seq: i64,
    /// Rows stored since the last compaction.
    since_compaction: usize,
}

fn now_secs() -> u32 {
    u32::try_from(crate::unix_now()).unwrap_or(u32::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Loads a room's document (rows and read-only mode) from the store.
async fn load(hub: &Notes, room: &str) -> Result<(NotesDoc, i64, usize), String> {
    let store = hub.store();
    let rows = store.notes_updates(room).await.map_err(|e| e.to_string())?;
    let controls = store.meeting_controls(room).await.map_err(|e| e.to_string())?;
    let read_only = crate::meeting::controls::Controls::from_json(controls).notes_read_only;
    let c = hub.config();
    let limits = DocLimits {
        max_doc_bytes: c.max_doc_bytes,
        awareness: AwarenessLimits { max_state_bytes: c.max_awareness_state_bytes, max_clients_per_socket: c.max_awareness_clients_per_socket },
    };
    let doc = NotesDoc::load(rows.iter().map(|r| r.data.as_slice()), read_only, limits, now_secs()).map_err(|e| e.to_string())?;
    Ok((doc, rows.last().map_or(0, |r| r.seq), rows.len().saturating_sub(1)))
}

pub(crate) async fn run(hub: Notes, name: String, id: u64, mut queue: mpsc::Receiver<Command>) {
    let (doc, last_seq, since_compaction) = match load(&hub, &name).await {
        Ok(loaded) => loaded,
        Err(e) => {
            warn!(room = %name, error = %e, "cannot load the notes");
            refuse_all(&hub, &name, id, &mut queue, Refusal::new(close_code::INTERNAL, "the notes cannot be loaded; try again"));
            return;
        }
    };
    debug!(room = %name, last_seq, "notes loaded");
    let mut room = Room { hub: hub.clone(), name, doc, peers: HashMap::new(), last_seq, since_compaction };
    let period = hub.config().renew_interval.max(Duration::from_millis(100));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut next = None;
    loop {
        let command = match next.take() {
            Some(c) => c,
            None => tokio::select! {
                c = queue.recv() => match c {
                    Some(c) => c,
                    None => return,
                },
                _ = renew.tick() => {
                    if let Some(frame) = room.doc.poll_renewal(now_secs()) {
                        room.broadcast(None, frame);
                    }
                    continue;
                }
            },
        };
        if let Err(e) = room.handle(command).await {
            warn!(room = %room.name, error = %e, "cannot store a notes update; closing the notes");
            let why = Refusal::new(close_code::INTERNAL, "the notes could not be saved; reconnect");
            for peer in room.peers.keys().copied().collect::<Vec<_>>() {
                room.close(peer, why.clone());
            }
            refuse_all(&hub, &room.name, id, &mut queue, why);
            return;
        }
        if room.doc.is_poisoned() {
            // The store never saw the failed update: reload what it has.
            match load(&hub, &room.name).await {
                Ok((doc, last_seq, since)) => (room.doc, room.last_seq, room.since_compaction) = (doc, last_seq, since),
                Err(e) => {
                    warn!(room = %room.name, error = %e, "cannot reload the notes");
                    let why = Refusal::new(close_code::INTERNAL, "the notes cannot be loaded; reconnect");
                    for peer in room.peers.keys().copied().collect::<Vec<_>>() {
                        room.close(peer, why.clone());
                    }
                    refuse_all(&hub, &room.name, id, &mut queue, why);
                    return;
                }
            }
        }
        if room.peers.is_empty() {
            room.compact().await;
            next = hub.retire(&room.name, id, &mut queue);
            if next.is_none() {
                debug!(room = %room.name, "notes closed: no editor left");
                return;
            }
        }
    }
}

/// Ends a room that cannot go on: its entry is removed and every queued join refused.
fn refuse_all(hub: &Notes, name: &str, id: u64, queue: &mut mpsc::Receiver<Command>, why: Refusal) {
    while let Some(command) = hub.retire(name, id, queue) {
        if let Command::Join { reply, .. } = command {
            let _ = reply.send(Err(why.clone()));
        }
    }
}

impl Room {
    /// One command. An error is the store's: the caller ends the room.
    async fn handle(&mut self, command: Command) -> Result<(), huiyi_store::StoreError> {
        match command {
            Command::Join { peer, out, reply } => {
                if self.peers.len() >= self.hub.config().max_sockets_per_doc {
                    let why = format!("the notes have {} editors connected, the most they take", self.peers.len());
                    let _ = reply.send(Err(Refusal::new(close_code::POLICY, why)));
                    return Ok(());
                }
                if reply.send(Ok(())).is_err() {
                    // The socket went away while waiting.
                    return Ok(());
                }
                self.peers.insert(peer, out);
                for frame in self.doc.handle_connect() {
                    self.send(peer, frame);
                }
            }
            Command::Message { peer, role, message } => {
                if !self.peers.contains_key(&peer) {
                    return Ok(());
                }
                match self.doc.handle_message(peer, role, message) {
                    Ok(Outcome::Nothing) => {}
                    Ok(Outcome::Reply(frames)) => {
                        for frame in frames {
                            self.send(peer, frame);
                        }
                    }
                    Ok(Outcome::Relay(frame)) => self.broadcast(Some(peer), frame),
                    Ok(Outcome::Applied { update, frame }) => {
                        self.store(&update).await?;
                        self.broadcast(Some(peer), frame);
                    }
                    Err(why) => {
                        info!(room = %self.name, peer, code = why.code, reason = %why.reason, "closing a notes socket");
                        self.close(peer, why);
                    }
                }
            }
            Command::Leave { peer } => {
                if self.peers.remove(&peer).is_some() {
                    if let Some(frame) = self.doc.handle_leave(peer) {
                        self.broadcast(None, frame);
                    }
                }
            }
            Command::ReadOnly(on) => {
                if let Some(frame) = self.doc.set_read_only(on, now_secs()) {
                    info!(room = %self.name, read_only = on, "notes mode changed");
                    self.broadcast(None, frame);
                }
            }
        }
        Ok(())
    }

    /// Stores an applied update as the room's next row, compacting when enough have piled up.
    async fn store(&mut self, update: &[u8]) -> Result<(), huiyi_store::StoreError> {
        let seq = self.last_seq + 1;
        self.hub.store().append_notes_update(&self.name, seq, update, now_ms()).await?;
        self.last_seq = seq;
        self.since_compaction += 1;
        if self.since_compaction >= self.hub.config().compact_after {
            self.compact().await;
        }
        Ok(())
    }

    /// Replaces the stored rows with one snapshot. A failure leaves the rows, which are
    /// still the document; the next compaction tries again.
    async fn compact(&mut self) {
        if self.since_compaction == 0 {
            return;
        }
        let snapshot = self.doc.snapshot();
        match self.hub.store().compact_notes(&self.name, self.last_seq, &snapshot, now_ms()).await {
            Ok(()) => {
                debug!(room = %self.name, seq = self.last_seq, bytes = snapshot.len(), "notes compacted");
                self.since_compaction = 0;
            }
            Err(e) => warn!(room = %self.name, error = %e, "cannot compact the notes"),
        }
    }

    /// Queues a frame for one socket. One that has fallen a whole queue behind is closed
    /// (the last slot is kept for the close), so a slow editor never holds up the others.
    fn send(&mut self, peer: PeerId, frame: impl Into<Bytes>) {
        if let Some(slow) = self.queue(peer, frame.into()) {
            self.close(peer, slow);
        }
    }

    fn queue(&self, peer: PeerId, frame: Bytes) -> Option<Refusal> {
        let out = self.peers.get(&peer)?;
        if out.capacity() <= 1 {
            return Some(Refusal::new(close_code::POLICY, "too slow to keep up with the notes; reconnect"));
        }
        let _ = out.try_send(Out::Frame(frame));
        None
    }

    /// Sends a frame to every socket but `except`.
    fn broadcast(&mut self, except: Option<PeerId>, frame: Vec<u8>) {
        let frame = Bytes::from(frame);
        let slow: Vec<(PeerId, Refusal)> = self.peers.keys().filter(|p| Some(**p) != except).filter_map(|p| self.queue(*p, frame.clone()).map(|why| (*p, why))).collect();
        for (peer, why) in slow {
            self.close(peer, why);
        }
    }

    /// Drops a socket from the room, tells it why, and tells the others its cursors left.
    fn close(&mut self, peer: PeerId, why: Refusal) {
        let mut pending = vec![(peer, why)];
        while let Some((peer, why)) = pending.pop() {
            let Some(out) = self.peers.remove(&peer) else { continue };
            let _ = out.try_send(Out::Close(why));
            if let Some(frame) = self.doc.handle_leave(peer) {
                let frame = Bytes::from(frame);
                pending.extend(self.peers.keys().filter_map(|p| self.queue(*p, frame.clone()).map(|why| (*p, why))));
            }
        }
    }
}
