//! ha.cf, haresources, authkeys and the TOML form, into one typed [`Config`].
pub mod model;
pub use model::*;
