//! ha.cf, haresources, authkeys and the TOML form, into one typed [`Config`].
pub mod authkeys;
pub mod model;
pub use model::*;
