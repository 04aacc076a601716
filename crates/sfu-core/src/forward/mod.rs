//! The forwarding core: which packets a subscriber gets, and how they are rewritten.
//!
//! Everything here is pure and clock-free: `now` and every packet field come in as arguments,
//! so the unit tests run in virtual time.

pub mod keyframe;
pub mod layer;
pub mod munger;
