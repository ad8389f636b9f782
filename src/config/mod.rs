//! ha.cf, haresources, authkeys and the TOML form, into one typed [`Config`].
pub mod authkeys;
pub mod load;
pub mod model;
pub use load::{load, resolve_script, to_toml, LoadOptions, Loaded, Purpose};
pub use model::*;
