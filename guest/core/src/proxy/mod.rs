//! The proxy component's rules that are not about one fetch: its settings
//! ([`config`]), the settings a plugin build carries in its own bytes
//! ([`baked`]), and the path rules that keep it from fetching anything
//! outside its origin ([`origin_path`]). The native CLI uses them too
//! (`rangeget serve`, `rangeget plugin`).

pub mod baked;
pub mod config;
pub mod origin_path;
