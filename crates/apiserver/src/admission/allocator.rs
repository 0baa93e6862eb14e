//! Conflict-free allocation of Service cluster IPs and node ports.
//!
//! Each allocated value is a record in the store (`/registry/k3rs/serviceips/<ip>`,
//! `/registry/k3rs/servicenodeports/<port>`) created with create-if-absent, so two
//! API servers on one datastore can never hand out the same value. Records name
//! their owner Service; a repair pass at start removes records whose owner no
//! longer holds them (a crash between allocation and the Service write).

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use k3rs_api::ApiError;
use k3rs_store::Store;
use rand::Rng;
use serde_json::{Value, json};

use crate::objects;
use crate::options::Ipv4Cidr;

const IP_PREFIX: &str = "/registry/k3rs/serviceips/";
const PORT_PREFIX: &str = "/registry/k3rs/servicenodeports/";

pub struct Allocators {
    pub service_cidr: Ipv4Cidr,
    pub node_ports: RangeInclusive<u16>,
}

/// Why a requested value cannot be had.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    OutOfRange,
    Taken,
    Exhausted,
    Store(String),
}

fn owner_record(owner: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "service": owner })).unwrap_or_default()
}

async fn claim_key(store: &Store, key: &str, owner: &str) -> Result<(), ClaimError> {
    match store.create(key, owner_record(owner)).await {
        Ok(_) => Ok(()),
        Err(k3rs_store::Error::AlreadyExists { .. }) => {
            // Re-claiming what the owner already holds is fine (retried writes).
            match store.get(key).await {
                Ok(Some(kv)) if record_owner(&kv.value).as_deref() == Some(owner) => Ok(()),
                _ => Err(ClaimError::Taken),
            }
        }
        Err(e) => Err(ClaimError::Store(e.to_string())),
    }
}

fn record_owner(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(bytes).ok()?.get("service")?.as_str().map(String::from)
}

async fn release_key(store: &Store, key: &str, owner: &str) {
    if let Ok(Some(kv)) = store.get(key).await
        && record_owner(&kv.value).as_deref() == Some(owner)
    {
        let _ = store.delete(key, Some(kv.mod_revision)).await;
    }
}

async fn is_free(store: &Store, key: &str) -> bool {
    matches!(store.get(key).await, Ok(None))
}

impl Allocators {
    pub fn new(service_cidr: Ipv4Cidr, node_ports: RangeInclusive<u16>) -> Self {
        Allocators { service_cidr, node_ports }
    }

    fn ip_key(ip: Ipv4Addr) -> String {
        format!("{IP_PREFIX}{ip}")
    }

    fn port_key(port: u16) -> String {
        format!("{PORT_PREFIX}{port}")
    }

    /// Addresses handed out automatically: not the network, not .1 (the `kubernetes`
    /// Service's, claimed explicitly), not the broadcast address.
    fn ip_candidates(&self) -> (u64, u64) {
        (2, self.service_cidr.size().saturating_sub(1))
    }

    /// Claims a specific address for `owner` ("namespace/name").
    pub async fn claim_ip(&self, store: &Store, ip: Ipv4Addr, owner: &str, dry_run: bool) -> Result<(), ClaimError> {
        let Some(offset) = self.service_cidr.offset_of(ip) else { return Err(ClaimError::OutOfRange) };
        if offset == 0 || offset >= self.service_cidr.size() - 1 {
            return Err(ClaimError::OutOfRange);
        }
        if dry_run {
            return if is_free(store, &Self::ip_key(ip)).await { Ok(()) } else { Err(ClaimError::Taken) };
        }
        claim_key(store, &Self::ip_key(ip), owner).await
    }

    /// Allocates a free address, starting at a random point of the range.
    pub async fn allocate_ip(&self, store: &Store, owner: &str, dry_run: bool) -> Result<Ipv4Addr, ClaimError> {
        let (lo, hi) = self.ip_candidates();
        if hi <= lo {
            return Err(ClaimError::Exhausted);
        }
        let span = hi - lo;
        let start = rand::rng().random_range(0..span);
        for i in 0..span {
            let ip = self.service_cidr.nth(lo + (start + i) % span).ok_or(ClaimError::Exhausted)?;
            let key = Self::ip_key(ip);
            if !is_free(store, &key).await {
                continue;
            }
            if dry_run {
                return Ok(ip);
            }
            match claim_key(store, &key, owner).await {
                Ok(()) => return Ok(ip),
                Err(ClaimError::Taken) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ClaimError::Exhausted)
    }

    pub async fn release_ip(&self, store: &Store, ip: Ipv4Addr, owner: &str) {
        release_key(store, &Self::ip_key(ip), owner).await;
    }

    pub async fn claim_port(&self, store: &Store, port: u16, owner: &str, dry_run: bool) -> Result<(), ClaimError> {
        if !self.node_ports.contains(&port) {
            return Err(ClaimError::OutOfRange);
        }
        if dry_run {
            return if is_free(store, &Self::port_key(port)).await { Ok(()) } else { Err(ClaimError::Taken) };
        }
        claim_key(store, &Self::port_key(port), owner).await
    }

    pub async fn allocate_port(&self, store: &Store, owner: &str, dry_run: bool) -> Result<u16, ClaimError> {
        let lo = u32::from(*self.node_ports.start());
        let span = u32::from(*self.node_ports.end()) - lo + 1;
        let start = rand::rng().random_range(0..span);
        for i in 0..span {
            let port = (lo + (start + i) % span) as u16;
            let key = Self::port_key(port);
            if !is_free(store, &key).await {
                continue;
            }
            if dry_run {
                return Ok(port);
            }
            match claim_key(store, &key, owner).await {
                Ok(()) => return Ok(port),
                Err(ClaimError::Taken) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ClaimError::Exhausted)
    }

    pub async fn release_port(&self, store: &Store, port: u16, owner: &str) {
        release_key(store, &Self::port_key(port), owner).await;
    }

    /// Drops allocation records whose Service does not hold the value (any more).
    pub async fn repair(&self, store: &Store) -> Result<usize, ApiError> {
        let mut removed = 0;
        for prefix in [IP_PREFIX, PORT_PREFIX] {
            let records = store.list(prefix, Default::default()).await.map_err(objects::generic_store_error)?;
            for kv in records.items {
                let value = &kv.key[prefix.len()..];
                let Some(owner) = record_owner(&kv.value) else { continue };
                let Some((ns, name)) = owner.split_once('/') else { continue };
                let svc = store
                    .get(&format!("/registry/services/{ns}/{name}"))
                    .await
                    .map_err(objects::generic_store_error)?;
                let held = svc.and_then(|s| serde_json::from_slice::<Value>(&s.value).ok()).is_some_and(|svc| {
                    if prefix == IP_PREFIX {
                        service_ips(&svc).iter().any(|ip| ip.to_string() == value)
                    } else {
                        service_node_ports(&svc).iter().any(|p| p.to_string() == value)
                    }
                });
                if !held && store.delete(&kv.key, Some(kv.mod_revision)).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The cluster IPs a Service object holds.
pub fn service_ips(svc: &Value) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_default();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str).and_then(|s| s.parse().ok())
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    ips
}

/// The node ports a Service object holds.
pub fn service_node_ports(svc: &Value) -> Vec<u16> {
    let mut ports: Vec<u16> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))
                .map(|p| p as u16)
                .collect()
        })
        .unwrap_or_default();
    ports.sort_unstable();
    ports.dedup();
    ports
}
