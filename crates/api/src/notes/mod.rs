//! Shared meeting notes: one collaborative Markdown document per meeting, edited by every
//! participant over the Yjs sync and awareness protocols (y-websocket's wire format) at
//! `GET /api/notes`, with a `yrs` document on the server as the authority.
//!
//! - [`wire`]: the messages, parsed at the edge, and the close codes.
//! - [`doc`]: one document as a sans-IO state machine: sync, the read-only rule, the size
//!   limit; [`awareness`]: cursors and the server's own entry (`{"huiyi":{"readOnly":…}}`).
//! - [`room`]: the task that owns one loaded document, its sockets and its store writes.
//! - [`socket`]: the endpoints: who may connect (presence), the per-socket limits, and the
//!   participants' Markdown download.
//! - [`Notes`] (here): the hub that finds or starts a room's task, and lets it go when its last
//!   socket has left.
//!
//! The server document is the authority: every update it applies is stored before anyone else
//! sees it, and an update it refuses (read-only, too large, malformed) reaches neither the
//! document, the store nor another client.

pub mod awareness;
pub mod doc;
mod room;
pub mod socket;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use room::Command;
use wire::{close_code, Refusal};

/// A socket's id within the hub.
pub type PeerId = u64;

/// Every bound of the notes, in one place.
#[derive(Debug, Clone)]
pub struct NotesConfig {
    /// Sockets one document takes; the next is closed with 1008.
    pub max_sockets_per_doc: usize,
    /// Documents held in memory at once; a socket for another is closed with 1013.
    pub max_docs: usize,
    /// The largest frame a client may send; a larger one closes it with 1009.
    pub max_frame_bytes: usize,
    /// The largest encoded document; an update past it is refused (permission denied).
    pub max_doc_bytes: usize,
    /// The largest awareness state of one client (JSON bytes); a larger one closes with 1009.
    pub max_awareness_state_bytes: usize,
    /// Awareness client ids one socket may hold.
    pub max_awareness_clients_per_socket: usize,
    /// Messages a socket may send at once, and per second after that (a token bucket); past
    /// it the socket is closed with 1008 and y-websocket reconnects and resyncs.
    pub message_burst: u32,
    pub messages_per_second: u32,
    /// Stored updates after which a room's rows are compacted into one snapshot.
    pub compact_after: usize,
    /// How often a socket checks that its holder is still an admitted participant (and
    /// whether a host), and how often the server renews its awareness entry.
    pub presence_interval: Duration,
    pub renew_interval: Duration,
    /// Frames queued for one socket; a socket that falls this far behind is closed (1008).
    pub outgoing_queue: usize,
}

impl Default for NotesConfig {
    fn default() -> Self {
        NotesConfig {
            max_sockets_per_doc: 200,
            max_docs: 1_000,
            max_frame_bytes: 256 * 1024,
            max_doc_bytes: 1024 * 1024,
            max_awareness_state_bytes: 4 * 1024,
            max_awareness_clients_per_socket: 4,
            message_burst: 300,
            messages_per_second: 100,
            compact_after: 200,
            presence_interval: Duration::from_secs(3),
            renew_interval: Duration::from_secs(10),
            outgoing_queue: 1024,
        }
    }
}

/// What the room sends a socket.
#[derive(Debug)]
pub enum Out {
    Frame(bytes::Bytes),
    /// The room has dropped this socket: close it so.
    Close(Refusal),
}

/// The notes hub: the documents in memory, by room. Cheap to clone.
#[derive(Clone)]
pub struct Notes {
    inner: Arc<Hub>,
}

struct Hub {
    store: huiyi_store::Store,
    config: NotesConfig,
    /// The running room tasks. A task is started here by the first socket of a room and
    /// removes its own entry, under this lock, once it has no socket and no command queued;
    /// joins are queued under the same lock, so none is lost to a task that is ending.
    rooms: Mutex<HashMap<String, RoomEntry>>,
    next_peer: AtomicU64,
    next_room: AtomicU64,
}

struct RoomEntry {
    /// Tells a retiring task its own entry from a newer one for the same room.
    id: u64,
    commands: mpsc::Sender<Command>,
}

/// Commands one room's queue holds before joins are refused as busy (1013) and sockets wait.
const COMMAND_QUEUE: usize = 1024;

/// A socket's place in a room: where to send its messages, and the room's answer to its join.
pub(crate) struct Membership {
    pub commands: mpsc::Sender<Command>,
    pub joined: oneshot::Receiver<Result<(), Refusal>>,
}

impl Notes {
    pub fn new(store: huiyi_store::Store, config: NotesConfig) -> Self {
        Notes { inner: Arc::new(Hub { store, config, rooms: Mutex::new(HashMap::new()), next_peer: AtomicU64::new(1), next_room: AtomicU64::new(1) }) }
    }

    pub fn config(&self) -> &NotesConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &huiyi_store::Store {
        &self.inner.store
    }

    /// Documents in memory now.
    pub fn open_documents(&self) -> usize {
        self.rooms().len()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomEntry>> {
        // A panic while holding this lock would be a bug in a few lines of map code; the map
        // stays consistent at every step, so a poisoned lock is still usable.
        self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a socket's join to `room`'s task, starting the task (which loads the document)
    /// if the room has none.
    pub(crate) fn join(&self, room: &str, out: mpsc::Sender<Out>) -> Result<(PeerId, Membership), Refusal> {
        let peer = self.inner.next_peer.fetch_add(1, Ordering::Relaxed);
        let (reply, joined) = oneshot::channel();
        let mut command = Command::Join { peer, out, reply };
        let mut rooms = self.rooms();
        if let Some(entry) = rooms.get(room) {
            match entry.commands.try_send(command) {
                Ok(()) => return Ok((peer, Membership { commands: entry.commands.clone(), joined })),
                Err(mpsc::error::TrySendError::Full(_)) => return Err(Refusal::new(close_code::TRY_AGAIN, "the notes are busy; try again")),
                // The task ended without removing its entry (it can only have panicked).
                Err(mpsc::error::TrySendError::Closed(c)) => {
                    rooms.remove(room);
                    command = c;
                }
            }
        }
        if rooms.len() >= self.inner.config.max_docs {
            return Err(Refusal::new(close_code::TRY_AGAIN, "the server has as many notes open as it may; try again later"));
        }
        let (commands, queue) = mpsc::channel(COMMAND_QUEUE);
        // A new channel has room for one.
        let _ = commands.try_send(command);
        let id = self.inner.next_room.fetch_add(1, Ordering::Relaxed);
        rooms.insert(room.to_owned(), RoomEntry { id, commands: commands.clone() });
        drop(rooms);
        tokio::spawn(room::run(self.clone(), room.to_owned(), id, queue));
        Ok((peer, Membership { commands, joined }))
    }

    /// Sets a room's read-only mode in its loaded document, if it has one (a document loaded
    /// later reads the mode from the meeting's controls).
    pub async fn set_read_only(&self, room: &str, on: bool) {
        let commands = self.rooms().get(room).map(|e| e.commands.clone());
        if let Some(commands) = commands {
            let _ = commands.send(Command::ReadOnly(on)).await;
        }
    }

    /// Called by a room task with no sockets left: removes its entry unless a command is
    /// queued, which it returns for the task to handle instead of ending.
    fn retire(&self, room: &str, id: u64, queue: &mut mpsc::Receiver<Command>) -> Option<Command> {
        let mut rooms = self.rooms();
        if let Ok(command) = queue.try_recv() {
            return Some(command);
        }
        if rooms.get(room).is_some_and(|e| e.id == id) {
            rooms.remove(room);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::doc::Role;
    use super::wire::Incoming;
    use super::*;
    use yrs::{Doc, Text, Transact};

    async fn hub(config: NotesConfig) -> Notes {
        let dir = std::env::temp_dir().join(format!("huiyi-notes-{}", rand::random::<u64>()));
        Notes::new(huiyi_store::Store::open_data_dir(&dir).await.unwrap(), config)
    }

    async fn join(notes: &Notes, room: &str) -> Result<(PeerId, mpsc::Sender<Command>, mpsc::Receiver<Out>), Refusal> {
        let (out, rx) = mpsc::channel(64);
        let (peer, m) = notes.join(room, out)?;
        m.joined.await.expect("the room answers")?;
        Ok((peer, m.commands, rx))
    }

    async fn next_frame(rx: &mut mpsc::Receiver<Out>) -> Vec<u8> {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Out::Frame(f))) => f.to_vec(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn rooms_are_bounded_and_let_go_when_their_last_socket_leaves() {
        let notes = hub(NotesConfig { max_sockets_per_doc: 2, max_docs: 1, ..NotesConfig::default() }).await;
        let (a, a_commands, _a_rx) = join(&notes, "m1").await.unwrap();
        let (b, b_commands, _b_rx) = join(&notes, "m1").await.unwrap();
        assert_eq!(join(&notes, "m1").await.err().map(|r| r.code), Some(close_code::POLICY), "a third socket");
        assert_eq!(join(&notes, "m2").await.err().map(|r| r.code), Some(close_code::TRY_AGAIN), "a second document");
        assert_eq!(notes.open_documents(), 1);
        a_commands.send(Command::Leave { peer: a }).await.unwrap();
        b_commands.send(Command::Leave { peer: b }).await.unwrap();
        for _ in 0..100 {
            if notes.open_documents() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(notes.open_documents(), 0, "the room let go of its document");
        assert!(join(&notes, "m2").await.is_ok(), "room for another document now");
    }

    #[tokio::test]
    async fn an_update_is_stored_before_the_others_see_it_and_outlives_the_room() {
        let notes = hub(NotesConfig::default()).await;
        let (a, a_commands, mut a_rx) = join(&notes, "m1").await.unwrap();
        let (b, b_commands, mut b_rx) = join(&notes, "m1").await.unwrap();
        // Each socket gets sync step 1 and the awareness states first.
        for rx in [&mut a_rx, &mut b_rx] {
            assert_eq!(next_frame(rx).await[..2], [0, 0]);
            assert_eq!(next_frame(rx).await[0], 1);
        }
        let client = Doc::with_client_id(5);
        let update = {
            let text = client.get_or_insert_text(doc::TEXT_NAME);
            let mut txn = client.transact_mut();
            text.insert(&mut txn, 0, "# Minutes\n");
            txn.encode_update_v1()
        };
        a_commands.send(Command::Message { peer: a, role: Role::Participant, message: Incoming::Update(update) }).await.unwrap();
        let frame = next_frame(&mut b_rx).await;
        assert_eq!(frame[..2], [0, 2], "a sync update");
        // By the time Bob has it, it is in the store.
        assert_eq!(socket::stored_markdown(notes.store(), "m1").await.unwrap(), "# Minutes\n");
        a_commands.send(Command::Leave { peer: a }).await.unwrap();
        b_commands.send(Command::Leave { peer: b }).await.unwrap();
        let (_, _, mut c_rx) = join(&notes, "m1").await.unwrap();
        let Incoming::SyncStep1(sv) = wire::parse(&next_frame(&mut c_rx).await).unwrap() else { panic!("step 1") };
        assert!(sv.get(&yrs::ClientID::new(5)) > 0, "a new socket finds the text again");
    }
}
