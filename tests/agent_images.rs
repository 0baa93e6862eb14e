//! Images on the agent's own (supervised) containerd: airgap archives in
//! `<data-dir>/agent/images/` are imported at start, and `k3rs images import|ls|rm`
//! manage the rest.

mod agent_common;

use std::time::Duration;

use agent_common::{AgentCluster, Containerd, can_run, eventually};
use k3rs_runtime::image::builder::{ArchiveFormat, Compression, ImageBuilder};

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "k3rs images failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn airgap_images_at_start_and_the_images_command() {
    if !can_run() {
        return;
    }
    let cluster = AgentCluster::prepare(Containerd::Managed, &[]);
    let airgap = cluster.data_dir().join("agent/images");
    std::fs::create_dir_all(&airgap).unwrap();
    ImageBuilder::busybox("k3rs.local/airgap:1")
        .unwrap()
        .write_archive(&airgap.join("airgap.tar.zst"), ArchiveFormat::Docker, Compression::Zstd)
        .unwrap();
    // A file that is not an archive is skipped, not fatal.
    std::fs::write(airgap.join("broken.tar"), b"not a tar").unwrap();
    let cluster = cluster.launch();
    assert!(
        eventually(Duration::from_secs(60), || {
            let out = cluster.images(&["ls", "-q"]);
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("k3rs.local/airgap:1")
        }),
        "airgap image not imported:\n{}",
        cluster.log()
    );
    let node = cluster.wait_node_ready();
    assert!(cluster.log().contains("skipping an airgap archive"), "{}", cluster.log());

    // The Node lists its images (largest first, with their digests).
    assert!(
        eventually(Duration::from_secs(25), || {
            let node = cluster.get_json(&["node", &cluster.node]);
            node["status"]["images"].as_array().is_some_and(|images| {
                images.iter().any(|i| i["names"].as_array().unwrap().iter().any(|n| n == "k3rs.local/airgap:1"))
            })
        }),
        "node status images: {:#}",
        node["status"]["images"]
    );

    // import (gzip, OCI layout), ls, rm.
    let archive = cluster.dir().join("extra.tar.gz");
    ImageBuilder::busybox("k3rs.local/extra:2")
        .unwrap()
        .write_archive(&archive, ArchiveFormat::Oci, Compression::Gzip)
        .unwrap();
    let imported = stdout(&cluster.images(&["import", archive.to_str().unwrap()]));
    assert!(imported.contains("Imported: k3rs.local/extra:2 (sha256:"), "{imported}");
    let listed = stdout(&cluster.images(&["ls"]));
    let header = listed.lines().next().unwrap();
    for column in ["IMAGE", "TAG", "IMAGE ID", "SIZE"] {
        assert!(header.contains(column), "{listed}");
    }
    assert!(listed.lines().any(|l| l.starts_with("k3rs.local/extra") && l.contains(" 2 ")), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("k3rs.local/airgap")), "{listed}");
    let removed = stdout(&cluster.images(&["rm", "k3rs.local/extra:2"]));
    assert_eq!(removed.trim(), "Deleted: k3rs.local/extra:2");
    let listed = stdout(&cluster.images(&["ls", "-q"]));
    assert!(!listed.contains("k3rs.local/extra:2") && listed.contains("k3rs.local/airgap:1"), "{listed}");

    // Errors name the problem.
    let missing = cluster.images(&["rm", "k3rs.local/nope:1"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
    let bad = cluster.images(&["import", cluster.dir().join("nothing.tar").to_str().unwrap()]);
    assert!(!bad.status.success());
}

#[test]
fn images_command_without_a_running_containerd_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["images", "ls", "--data-dir"])
        .arg(dir.path())
        .env("K3RS_CONFIG_FILE", dir.path().join("config.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach containerd") && stderr.contains("agent/containerd/state/containerd.sock"),
        "{stderr}"
    );
}
