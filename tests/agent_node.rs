//! The server's in-process agent registers its Node: Ready, with the usual labels,
//! capacity, addresses and nodeInfo, a Lease renewed every 10s, and registers it again
//! when it is deleted.

mod agent_common;

use std::time::Duration;

use agent_common::{AgentCluster, Containerd, can_run, eventually};

#[test]
fn server_agent_registers_a_ready_node() {
    if !can_run() {
        return;
    }
    // Labels from the configuration file (as K3s' config.yaml keys), taints from the flags.
    let cluster = AgentCluster::prepare(Containerd::Given, &["--node-taint", "dedicated=infra:NoSchedule"]);
    std::fs::create_dir_all(cluster.dir()).unwrap();
    std::fs::write(
        cluster.dir().join("config.yaml"),
        "node-label:\n  - example.com/zone=east\n  - example.com/rack=r1\n",
    )
    .unwrap();
    let cluster = cluster.launch();
    let node = cluster.wait_node_ready();
    let name = cluster.node.as_str();

    let labels = &node["metadata"]["labels"];
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(labels["kubernetes.io/hostname"], hostname.as_str());
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["beta.kubernetes.io/os"], "linux");
    let arch = labels["kubernetes.io/arch"].as_str().unwrap();
    assert!(arch == "amd64" || arch == "arm64", "{arch}");
    assert_eq!(labels["beta.kubernetes.io/arch"], arch);
    assert_eq!(labels["example.com/zone"], "east");
    assert_eq!(labels["example.com/rack"], "r1");
    // The role label is set by the server (a kubelet may not set it on its own Node).
    assert!(
        eventually(Duration::from_secs(20), || {
            let node = cluster.get_json(&["node", name]);
            node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == "true"
        }),
        "control-plane label"
    );
    assert_eq!(node["spec"]["taints"][0]["key"], "dedicated");
    assert_eq!(node["spec"]["taints"][0]["value"], "infra");
    assert_eq!(node["spec"]["taints"][0]["effect"], "NoSchedule");

    let status = &node["status"];
    let cpus = std::thread::available_parallelism().unwrap().get().to_string();
    assert_eq!(status["capacity"]["cpu"], cpus.as_str());
    assert_eq!(status["capacity"]["pods"], "110");
    assert!(status["capacity"]["memory"].as_str().unwrap().ends_with("Ki"));
    assert_ne!(status["capacity"]["ephemeral-storage"], "0Ki");
    assert!(status["allocatable"]["memory"].as_str().is_some());
    let info = &status["nodeInfo"];
    assert_eq!(info["kubeletVersion"], "v1.33.0-k3rs");
    assert!(info["containerRuntimeVersion"].as_str().unwrap().starts_with("containerd://"), "{info}");
    assert_eq!(info["operatingSystem"], "linux");
    assert_eq!(info["architecture"], arch);
    assert!(!info["kernelVersion"].as_str().unwrap().is_empty());
    assert_eq!(status["addresses"][0], serde_json::json!({"type": "InternalIP", "address": "127.0.0.1"}));
    assert_eq!(status["addresses"][1]["type"], "Hostname");
    assert!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64().unwrap() > 0);
    // Pressure is measured on this machine (a nearly full disk really is DiskPressure), so
    // check that each condition is reported with the reason that goes with its status.
    for (ty, reason_when_false) in [
        ("MemoryPressure", "KubeletHasSufficientMemory"),
        ("DiskPressure", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "KubeletHasSufficientPID"),
    ] {
        let c = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == ty).unwrap();
        assert_eq!(c["status"] == "False", c["reason"] == reason_when_false, "{c}");
    }

    let wide = cluster.ok(&["get", "nodes", "-o", "wide"]);
    let row = wide.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{wide}"));
    for want in ["Ready", "control-plane", "v1.33.0-k3rs", "127.0.0.1", "containerd://"] {
        assert!(row.contains(want), "{want} in {row}");
    }
    let described = cluster.ok(&["describe", "node", name]);
    for want in ["HolderIdentity:  ", "KubeletReady", "kubelet is posting ready status", "Kubelet Version:", "Taints:"]
    {
        assert!(described.contains(want), "{want} in:\n{described}");
    }

    // The Lease: held by the node, owned by the Node, renewed every 10s.
    let lease = cluster.get_json(&["lease", "-n", "kube-node-lease", name]);
    assert_eq!(lease["spec"]["holderIdentity"], name);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], node["metadata"]["uid"]);
    let first = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(25), || {
            cluster.get_json(&["lease", "-n", "kube-node-lease", name])["spec"]["renewTime"] != first.as_str()
        }),
        "the lease was not renewed"
    );
    // And the status heartbeat moves too.
    let heartbeat = |n: &serde_json::Value| {
        n["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap()
            ["lastHeartbeatTime"]
            .clone()
    };
    let before = heartbeat(&cluster.get_json(&["node", name]));
    assert!(eventually(Duration::from_secs(25), || heartbeat(&cluster.get_json(&["node", name])) != before));
}

#[test]
fn a_deleted_node_is_registered_again() {
    if !can_run() {
        return;
    }
    let cluster = AgentCluster::start(Containerd::Given, &[]);
    let node = cluster.wait_node_ready();
    let uid = node["metadata"]["uid"].clone();
    cluster.ok(&["delete", "node", &cluster.node]);
    assert!(
        eventually(Duration::from_secs(30), || {
            let out = cluster.kubectl(&["get", "node", &cluster.node, "-o", "json"]);
            out.status.success()
                && serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["metadata"]["uid"] != uid
        }),
        "the node was not registered again:\n{}",
        cluster.log()
    );
    cluster.wait_node_ready();
}

#[test]
fn labels_only_administrators_may_set_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["server", "--config"])
        .arg(dir.path().join("config.yaml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--node-label", "node-role.kubernetes.io/worker=true", "--https-listen-port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("node-role.kubernetes.io/worker") && stderr.contains("kubectl label node"), "{stderr}");
}

#[test]
fn a_pod_is_scheduled_to_the_servers_node_and_runs() {
    if !can_run() {
        return;
    }
    // Pressure on this machine's disk must not keep the pod off the node here.
    let cluster = AgentCluster::prepare(Containerd::Given, &["--eviction-hard", "nodefs.available<1%"]);
    let image = "k3rs.local/agent-test/busybox:1";
    cluster.rt.block_on(cluster.env().import_busybox(image)).expect("test image");
    let cluster = cluster.launch();
    cluster.wait_node_ready();
    let manifest = cluster.dir().join("pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n  containers:\n  - name: hello\n    \
             image: {image}\n    imagePullPolicy: Never\n    command: [sh, -c, 'echo hello from k3rs; sleep 3600']\n"
        ),
    )
    .unwrap();
    cluster.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        eventually(Duration::from_secs(60), || {
            let pod = cluster.get_json(&["pod", "hello"]);
            pod["status"]["phase"] == "Running" && pod["spec"]["nodeName"] == cluster.node.as_str()
        }),
        "pod not running on {}: {:#}\n{}",
        cluster.node,
        cluster.get_json(&["pod", "hello"]),
        cluster.log()
    );
    let wide = cluster.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.lines().any(|l| l.starts_with("hello") && l.contains(&cluster.node)), "{wide}");
    let pod = cluster.get_json(&["pod", "hello"]);
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    cluster.ok(&["delete", "pod", "hello", "--grace-period", "1"]);
}
