//! ICE over TCP (RFC 6544, passive side) with RFC 4571 framing: each packet is preceded by
//! its length as two bytes. Each connection gets a reader (frames → engine) and a writer
//! (engine → frames). Garbage that is not valid framing closes only that connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::debug;

use crate::Command;

/// How long a new connection may take to send its first (STUN) frame.
const FIRST_FRAME_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an established connection may stay silent.
const IDLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A STUN message: the first two bits zero and the magic cookie (RFC 5389).
fn is_stun(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[0] < 2 && frame[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// Limits the connections one attacker can hold open.
const MAX_CONNECTIONS: usize = 4096;

pub(crate) async fn accept_loop(listener: TcpListener, engine: mpsc::WeakSender<Command>) {
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let Ok((stream, remote)) = listener.accept().await else { continue };
        let Some(tx) = engine.upgrade() else { return };
        if open.load(std::sync::atomic::Ordering::Relaxed) >= MAX_CONNECTIONS {
            continue;
        }
        let open = open.clone();
        open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            serve(stream, remote, tx.clone()).await;
            let _ = tx.send(Command::TcpClosed { remote }).await;
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

async fn serve(stream: TcpStream, remote: SocketAddr, engine: mpsc::Sender<Command>) {
    let Ok(local) = stream.local_addr() else { return };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (frames_tx, mut frames_rx) = mpsc::channel::<Vec<u8>>(256);
    if engine.send(Command::TcpOpened { remote, frames: frames_tx }).await.is_err() {
        return;
    }
    let write = async move {
        while let Some(frame) = frames_rx.recv().await {
            let Ok(len) = u16::try_from(frame.len()) else { continue };
            if writer.write_all(&len.to_be_bytes()).await.is_err() || writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    let read = async move {
        let mut buf = vec![0u8; u16::MAX as usize];
        let mut first = true;
        loop {
            // The first frame must come soon; later ones at least as often as ICE consent
            // checks (every few seconds). A stalled or silent peer is dropped.
            let limit = if first { FIRST_FRAME_WITHIN } else { IDLE_LIMIT };
            let frame = tokio::time::timeout(limit, async {
                let mut len = [0u8; 2];
                reader.read_exact(&mut len).await.ok()?;
                let len = u16::from_be_bytes(len) as usize;
                if len == 0 {
                    return None;
                }
                reader.read_exact(&mut buf[..len]).await.ok()?;
                Some(len)
            })
            .await;
            let Ok(Some(len)) = frame else {
                debug!(%remote, "ICE-TCP connection closed, stalled or sent an empty frame");
                return;
            };
            // ICE over TCP starts with a STUN binding request; anything else is not ICE.
            if first && !is_stun(&buf[..len]) {
                debug!(%remote, "ICE-TCP connection did not start with STUN; closing");
                return;
            }
            if first {
                tracing::info!(%remote, "ICE-TCP connection established");
            }
            first = false;
            let cmd = Command::TcpPacket { source: remote, destination: local, data: buf[..len].to_vec() };
            if engine.send(cmd).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = write => {}
        _ = read => {}
    }
}
