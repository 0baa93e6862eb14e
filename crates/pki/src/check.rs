//! The certificate report behind `k3rs certificate check`: every certificate file in a TLS
//! directory with its subject and remaining validity. It reads files only, so it works while
//! the server is stopped.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::error::{PkiError, Result};
use crate::files::read_optional;
use crate::inspect::summarize;
use crate::pem::certs_from_pem;
use crate::validity::days_left;

/// One certificate's expiry status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The file holding the certificate.
    pub path: PathBuf,
    /// Its subject, e.g. `CN=system:admin, O=system:masters`.
    pub subject: String,
    /// End of validity.
    pub not_after: Timestamp,
    /// Whole days left at check time (negative once expired).
    pub days_left: i64,
}

/// Reports the first certificate of every `*.crt` file directly in `dir`, sorted by path.
pub fn check_certificates(dir: &Path, now: Timestamp) -> Result<Vec<CertInfo>> {
    let entries = std::fs::read_dir(dir).map_err(|e| PkiError::io("listing", dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| PkiError::io("listing", dir, e))?.path();
        if path.extension().is_some_and(|ext| ext == "crt") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths.into_iter().filter_map(|path| cert_info(path, now).transpose()).collect()
}

fn cert_info(path: PathBuf, now: Timestamp) -> Result<Option<CertInfo>> {
    // The file may vanish between listing and reading (a concurrent rotation); skip it then.
    let Some(pem) = read_optional(&path)? else { return Ok(None) };
    let der = certs_from_pem("certificate", &pem)
        .map_err(|e| PkiError::invalid_file(&path, e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| PkiError::invalid_file(&path, "no certificate"))?;
    let summary = summarize(&der).map_err(|reason| PkiError::invalid_file(&path, reason))?;
    Ok(Some(CertInfo {
        path,
        subject: summary.subject,
        not_after: summary.not_after,
        days_left: days_left(summary.not_after, now),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_certificate_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.crt"), "not pem").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let err = check_certificates(dir.path(), Timestamp::now()).unwrap_err();
        assert!(err.to_string().contains("broken.crt"), "{err}");
    }

    #[test]
    fn empty_directory_gives_an_empty_report() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_certificates(dir.path(), Timestamp::now()).unwrap().is_empty());
        assert!(check_certificates(&dir.path().join("absent"), Timestamp::now()).is_err());
    }
}
