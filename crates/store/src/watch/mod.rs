//! Watches: the in-process fan-out of committed events ([`hub`]) and the per-watcher stream that
//! catches up from history before following the live feed ([`stream`]).

pub(crate) mod hub;
pub(crate) mod stream;
