//! The material another server needs to join the cluster: the two CAs with their keys and the
//! service-account signing key. The first server reads it ([`read_bootstrap_files`]) and hands
//! it out sealed with the join token; a joining server writes it ([`write_bootstrap_files`])
//! before [`crate::ClusterPki::load_or_create`] so that both serve the same trust.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cluster::{CLIENT_CA, SERVER_CA};
use crate::error::{PkiError, Result};
use crate::files::{CERTIFICATE_MODE, PRIVATE_KEY_MODE, ensure_private_dir, read_optional, write_file_atomic};
use crate::service_account::SERVICE_ACCOUNT_KEY_FILE;

/// The files of the TLS directory that make up the cluster's identity.
pub fn bootstrap_file_names() -> Vec<String> {
    let mut names = Vec::new();
    for ca in [SERVER_CA, CLIENT_CA] {
        names.push(format!("{ca}.crt"));
        names.push(format!("{ca}.key"));
    }
    names.push(SERVICE_ACCOUNT_KEY_FILE.to_string());
    names
}

/// Reads the bootstrap files from `dir` (file name -> PEM); every one must exist.
pub fn read_bootstrap_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for name in bootstrap_file_names() {
        let path = dir.join(&name);
        let content = read_optional(&path)?.ok_or_else(|| PkiError::invalid_file(&path, "missing"))?;
        files.insert(name, content);
    }
    Ok(files)
}

/// Writes bootstrap files received from the cluster into `dir`. Unknown names are refused; a
/// file that exists with other content is an error, because this server would otherwise keep
/// (or silently lose) an identity of its own.
pub fn write_bootstrap_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<()> {
    let known = bootstrap_file_names();
    for name in files.keys() {
        if !known.contains(name) {
            return Err(PkiError::Unsupported(format!("unexpected bootstrap file {name:?}")));
        }
    }
    for name in &known {
        if !files.contains_key(name) {
            return Err(PkiError::Unsupported(format!("bootstrap material lacks {name}")));
        }
    }
    ensure_private_dir(dir)?;
    for (name, content) in files {
        let path = dir.join(name);
        match read_optional(&path)? {
            Some(existing) if existing == *content => continue,
            Some(_) => {
                return Err(PkiError::invalid_file(
                    &path,
                    "differs from the cluster's; this server already has an identity of its own. \
                     Remove its data directory to join the cluster",
                ));
            }
            None => {}
        }
        let mode = if name.ends_with(".crt") { CERTIFICATE_MODE } else { PRIVATE_KEY_MODE };
        write_file_atomic(&path, content.as_bytes(), mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterPki, PkiOptions};

    #[test]
    fn a_joining_server_gets_the_same_trust() {
        let first = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(first.path(), &PkiOptions::default()).unwrap();
        let files = read_bootstrap_files(first.path()).unwrap();
        assert_eq!(files.len(), 5);

        let second = tempfile::tempdir().unwrap();
        let dir = second.path().join("tls");
        write_bootstrap_files(&dir, &files).unwrap();
        // Writing again is harmless.
        write_bootstrap_files(&dir, &files).unwrap();
        let joined = ClusterPki::load_or_create(&dir, &PkiOptions::default()).unwrap();
        assert_eq!(joined.server_ca_pem(), pki.server_ca_pem());
        assert_eq!(joined.service_account_key(), pki.service_account_key());
    }

    #[test]
    fn a_server_with_its_own_ca_refuses_other_material() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        ClusterPki::load_or_create(a.path(), &PkiOptions::default()).unwrap();
        ClusterPki::load_or_create(b.path(), &PkiOptions::default()).unwrap();
        let files = read_bootstrap_files(a.path()).unwrap();
        let err = write_bootstrap_files(b.path(), &files).unwrap_err();
        assert!(err.to_string().contains("identity of its own"), "{err}");
        let mut extra = files.clone();
        extra.insert("../evil".into(), "x".into());
        assert!(write_bootstrap_files(b.path(), &extra).is_err());
    }
}
