//! heartbeat's message formats (classic and netstring) and authentication.
pub mod message;
pub use message::{Field, FieldType, Message};
