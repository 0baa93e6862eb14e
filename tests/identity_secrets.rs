//! Secrets encryption at rest: what the datastore holds (read straight from the SQLite file)
//! is ciphertext, kubectl still reads the Secret, and key rotation re-encrypts everything.

mod common;
mod identity_common;

use common::TestServer;
use identity_common::*;

/// The stored bytes of `key`, read from the database file as an etcd-level reader would.
fn stored_value(server: &TestServer, key: &str) -> Vec<u8> {
    let db = server.data_dir().join("server/db/state.db");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT log.value FROM kv JOIN log ON log.revision = kv.mod_revision WHERE kv.key = ?1",
        [key.as_bytes()],
        |row| row.get::<_, Vec<u8>>(0),
    )
    .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_are_encrypted_at_rest_and_keys_rotate() {
    let mut server = TestServer::start_with(&["--secrets-encryption"]);
    let kc = server.kubeconfig();
    let kc = common::path_str(&kc).to_string();
    server.ok(&["create", "secret", "generic", "db", "--from-literal=password=hunter2-plaintext"]);
    server.ok(&["create", "configmap", "plain", "--from-literal=note=visible-plaintext"]);

    let stored = stored_value(&server, "/registry/secrets/default/db");
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:"), "{}", String::from_utf8_lossy(&stored));
    assert!(!contains(&stored, b"hunter2-plaintext") && !contains(&stored, b"aHVudGVyMi1wbGFpbnRleHQ"));
    assert!(!contains(&stored, b"\"kind\""), "no JSON in the clear");
    // Other kinds are stored as they are.
    assert!(contains(&stored_value(&server, "/registry/configmaps/default/plain"), b"visible-plaintext"));

    let secret = server.get_json(&["secret", "db"]);
    assert_eq!(secret["data"]["password"], "aHVudGVyMi1wbGFpbnRleHQ=");

    let status = k3rs_ok(&["secrets-encrypt", "status", "--kubeconfig", &kc]);
    assert!(status.contains("Encryption Status: Enabled"), "{status}");
    let first_key = status.lines().find_map(|l| l.strip_prefix("Active Key: ")).unwrap().to_string();
    assert!(stored.starts_with(format!("k8s:enc:aesgcm:v1:{first_key}:").as_bytes()));

    let rotated = k3rs_ok(&["secrets-encrypt", "rotate-keys", "--kubeconfig", &kc]);
    let new_key = rotated.lines().find_map(|l| l.strip_prefix("Active Key: ")).unwrap().to_string();
    assert_ne!(new_key, first_key);
    assert!(rotated.contains("Secrets re-encrypted:"), "{rotated}");
    let stored = stored_value(&server, "/registry/secrets/default/db");
    assert!(stored.starts_with(format!("k8s:enc:aesgcm:v1:{new_key}:").as_bytes()));
    assert_eq!(server.get_json(&["secret", "db"])["data"]["password"], "aHVudGVyMi1wbGFpbnRleHQ=");

    // The keys survive a restart.
    server.restart();
    assert_eq!(server.get_json(&["secret", "db"])["data"]["password"], "aHVudGVyMi1wbGFpbnRleHQ=");
    server.ok(&["create", "secret", "generic", "after", "--from-literal=k=v"]);
    assert!(stored_value(&server, "/registry/secrets/default/after").starts_with(b"k8s:enc:aesgcm:v1:"));
}

#[test]
fn without_the_flag_secrets_are_plain_and_rotation_is_refused() {
    let server = TestServer::start();
    let kc = server.kubeconfig();
    let kc = common::path_str(&kc).to_string();
    server.ok(&["create", "secret", "generic", "db", "--from-literal=password=x"]);
    assert!(contains(&stored_value(&server, "/registry/secrets/default/db"), b"\"kind\":\"Secret\""));
    assert!(k3rs_ok(&["secrets-encrypt", "status", "--kubeconfig", &kc]).contains("Encryption Status: Disabled"));
    let out = k3rs(&["secrets-encrypt", "rotate-keys", "--kubeconfig", &kc]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secrets-encryption"));
}
