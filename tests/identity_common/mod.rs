//! Helpers of the identity tests: kubeconfigs for other credentials than the admin's (a
//! token, a client certificate, nothing at all), and running the `k3rs` binary's
//! subcommands.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::common::TestServer;

pub fn server_url(server: &TestServer) -> String {
    format!("https://127.0.0.1:{}", server.port)
}

pub fn ca_pem(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("server/tls/server-ca.crt")).expect("server CA")
}

/// Writes a kubeconfig for `server` whose user is `user_yaml` (the body of `user:`).
pub fn kubeconfig(server: &TestServer, name: &str, user_yaml: &str) -> PathBuf {
    let ca = STANDARD.encode(ca_pem(server));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user: {user_yaml}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
        server_url(server)
    );
    let path = server.dir.path().join(format!("{name}.kubeconfig"));
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

pub fn token_kubeconfig(server: &TestServer, name: &str, token: &str) -> PathBuf {
    kubeconfig(server, name, &format!("{{token: {token:?}}}"))
}

/// An HTTPS GET without credentials (kubectl always asks for some): (status, body).
pub fn anonymous_get(server: &TestServer, path: &str) -> (u16, String) {
    let ca = server.dir.path().join("anonymous-ca.crt");
    std::fs::write(&ca, ca_pem(server)).expect("write CA");
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .args(["-w", "\n%{http_code}", &format!("{}{path}", server_url(server))])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn cert_kubeconfig(server: &TestServer, name: &str, cert_pem: &str, key_pem: &str) -> PathBuf {
    kubeconfig(
        server,
        name,
        &format!(
            "{{client-certificate-data: {}, client-key-data: {}}}",
            STANDARD.encode(cert_pem),
            STANDARD.encode(key_pem)
        ),
    )
}

/// kubectl against `server` with another kubeconfig.
pub fn kubectl_with(server: &TestServer, kubeconfig: &Path, args: &[&str]) -> Output {
    server.kubectl_cmd(args).env("KUBECONFIG", kubeconfig).output().expect("run kubectl")
}

#[track_caller]
pub fn ok_with(server: &TestServer, kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl_with(server, kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
pub fn fails_with(server: &TestServer, kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl_with(server, kubeconfig, args);
    assert!(
        !out.status.success(),
        "kubectl {args:?} unexpectedly succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `k3rs <args>`.
pub fn k3rs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_k3rs")).args(args).env_remove("KUBECONFIG").output().expect("run k3rs")
}

#[track_caller]
pub fn k3rs_ok(args: &[&str]) -> String {
    let out = k3rs(args);
    assert!(
        out.status.success(),
        "k3rs {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's full join token (`K10<hash>::server:<secret>`).
pub fn server_token(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("server/token")).expect("server token").trim().to_string()
}
