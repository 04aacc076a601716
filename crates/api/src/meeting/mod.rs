//! The meeting's rules in one place, as pure functions over the store's types, tested like
//! `forward/` in the SFU core: who may enter a meeting's room and who it is open to
//! (`admission`), the live controls, each person's role and the LiveKit permission the controls
//! leave them (`controls`), and polls (`polls`). The HTTP handlers (`tencent/`, `rtc.rs`,
//! `polls.rs`, `notes/`) gather inputs from the store and the engine, call these, and apply
//! the answer; what touches media is then enforced by the engine through the permission.
//!
//! # Architecture invariant
//! No I/O here: no store, no engine, no HTTP types.

pub mod admission;
pub mod controls;
pub mod polls;
