//! ha.cf, haresources, authkeys and the TOML form, into one typed [`Config`].
pub mod authkeys;
pub mod hacf;
pub mod haresources;
pub mod load;
pub mod model;
pub mod toml_form;
pub mod validate;
pub use load::{load, local_node_name, resolve_script, to_toml, LoadOptions, Loaded, Purpose};
pub use model::*;
