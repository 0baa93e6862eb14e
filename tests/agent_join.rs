//! `k3rs agent --server URL --token T` joins a server: it pins the server's CA by the
//! token, gets its certificates through the join flow, and its Node registers Ready with
//! the kubelet's own identity (authorized by the Node authorizer, checked by
//! NodeRestriction).

mod agent_common;

use std::time::Duration;

use agent_common::{AgentCluster, Containerd, JoinedAgent, can_run, condition, eventually};

#[test]
fn an_agent_joins_with_the_token_and_registers_its_node() {
    if !can_run() {
        return;
    }
    let cluster = AgentCluster::start(Containerd::Given, &[]);
    cluster.wait_node_ready();
    let token = std::fs::read_to_string(cluster.data_dir().join("server/token")).expect("server token");
    let token = token.trim();

    // A token for another cluster's CA is refused before anything secret is sent.
    let (_, secret) = token.split_once("::").unwrap();
    let mut impostor = JoinedAgent::start(&cluster, "worker-bad", &format!("K10{}::{secret}", "0".repeat(64)));
    let status = impostor.wait_exit(Duration::from_secs(30)).expect("the agent with a wrong token exits");
    assert!(!status.success());
    assert!(impostor.log().contains("does not match the token"), "{}", impostor.log());

    let mut agent = JoinedAgent::start(&cluster, "worker-1", token);
    let mut node = serde_json::Value::Null;
    assert!(
        eventually(Duration::from_secs(60), || {
            let out = cluster.kubectl(&["get", "node", "worker-1", "-o", "json"]);
            out.status.success() && {
                node = serde_json::from_slice(&out.stdout).unwrap();
                condition(&node, "Ready").as_deref() == Some("True")
            }
        }),
        "worker-1 not Ready:\n{}",
        agent.log()
    );
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["example.com/pool"], "workers");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels.get("node-role.kubernetes.io/control-plane").is_none(), "a worker has no role label");
    assert!(agent.log().contains("joined the cluster"));
    // The agent's certificates are on disk, as K3s keeps them.
    for file in ["client-kubelet.crt", "client-kubelet.key", "serving-kubelet.crt", "client-ca.crt", "server-ca.crt"] {
        assert!(agent.dir.join("data/agent").join(file).exists(), "{file}");
    }
    let lease = cluster.get_json(&["lease", "-n", "kube-node-lease", "worker-1"]);
    assert_eq!(lease["spec"]["holderIdentity"], "worker-1");

    let nodes = cluster.ok(&["get", "nodes"]);
    assert!(nodes.contains("worker-1") && nodes.contains(&cluster.node), "{nodes}");
    let row = nodes.lines().find(|l| l.starts_with("worker-1")).unwrap();
    assert!(row.contains("Ready") && row.contains("<none>"), "{row}");

    agent.stop();
    assert!(agent.log().contains("agent stopped; containers keep running"), "{}", agent.log());
}
