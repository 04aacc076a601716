//! Everything the worker's main loop reacts to, from every thread, through one channel.
//!
//! The stdin reader, the signal thread, the bus sync handler and GStreamer's streaming threads
//! (through pad probes) only ever send an [`Event`]; all decisions and all stdout writes happen on
//! the main thread, in `worker::run`.

use std::sync::mpsc;

#[derive(Debug)]
pub enum Event {
    /// One line from stdin (without its newline).
    Line(String),
    /// stdin reached EOF: the server is gone; stop.
    StdinClosed,
    /// SIGTERM or SIGINT: stop.
    Signal(i32),
    Bus(gst::Message),
    /// A depayloader asked for a keyframe on this SSRC.
    KeyframeWanted(u32),
    /// The first buffer reached one of the outputs' sinks.
    OutputFlowing,
    /// The first buffer reached this RTMP output's sink.
    StreamFlowing(String),
    /// An RTCP sender report from the media tap (see `sync`).
    SenderReport(u32, crate::sync::SenderReport),
    /// A removed track's branch has drained (its EOS reached the mixer) and may be taken down.
    TrackDrained(u32),
}

/// A cloneable, thread-safe sender; a send after the main loop has ended is dropped silently.
#[derive(Clone)]
pub struct EventSender(mpsc::Sender<Event>);

impl EventSender {
    pub fn channel() -> (EventSender, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        (EventSender(tx), rx)
    }

    pub fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }
}
