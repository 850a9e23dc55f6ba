//! The HTTP API over a real embedded store and the real sync task, on loopback.
#![allow(clippy::unwrap_used)] // A panic is how a test fails.

mod access;
mod checks;
mod collections;
mod console;
mod controls;
mod harness;
mod lifecycle;
mod validation;
