//! Machinery shared by every controller: leader election on Leases.

pub mod leader;
