//! ha.cf, haresources, authkeys and the TOML form, into one typed [`Config`].
pub mod agents;
pub mod agreement;
pub mod authkeys;
pub mod facts;
pub mod hacf;
pub mod haresources;
pub mod ipaddr_runner;
pub mod load;
pub mod media6;
pub mod model;
pub mod parameters;
pub mod rcd;
pub mod toml_form;
pub mod validate;
pub use agreement::{Agreement, GroupDigest};
pub use facts::{resolve_script, FactMode};
pub use load::{load, local_node_name, to_toml, LoadOptions, Loaded, Purpose};
pub use model::*;
