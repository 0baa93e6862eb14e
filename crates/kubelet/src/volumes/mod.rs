//! Volume contents the kubelet writes itself: ConfigMap, Secret, downward API and
//! projected volumes (files computed from API objects, swapped in atomically so a
//! container never sees half an update), plus `/etc/hosts` and `/etc/resolv.conf`.

pub mod atomic_writer;
pub mod dns;
pub mod projection;
