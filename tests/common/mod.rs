//! Helpers shared by the integration tests (each file one concern).
pub mod hblab;
pub mod lab;
