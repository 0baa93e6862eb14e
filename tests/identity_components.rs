//! In-process components' identities: `k3rs_cluster::component_client` gives the controller
//! manager, the scheduler and kubelets kube-rs clients with their own certificates, and the
//! default policy lets each do its work and no more.

mod common;

use common::TestServer;
use k3rs_cluster::Component;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Binding, Namespace, Node, Pod, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

/// The server's PKI, loaded from a copy of its TLS directory (loading may re-issue leaf
/// certificates for other options, which must not touch the running server's files).
fn pki(server: &TestServer) -> k3rs_pki::ClusterPki {
    let src = server.data_dir().join("server/tls");
    let copy = server.dir.path().join("tls-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    k3rs_pki::ClusterPki::load_or_create(&copy, &k3rs_pki::PkiOptions::default()).unwrap()
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403)
}

#[test]
fn components_act_with_their_own_roles() {
    let server = TestServer::start();
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pending\nspec:\n  containers:\n  - {name: c, image: busybox}\n",
    );
    let pki = pki(&server);
    let url = format!("https://127.0.0.1:{}", server.port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // The kubelet registers its node.
        let kubelet = Component::kubelet("n1").client(&pki, &url).await.unwrap();
        let nodes: Api<Node> = Api::all(kubelet.clone());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        assert!(forbidden(nodes.list(&ListParams::default()).await));

        // The scheduler sees nodes and pods and binds; it does not manage namespaces.
        let scheduler = Component::scheduler().client(&pki, &url).await.unwrap();
        assert_eq!(Api::<Node>::all(scheduler.clone()).list(&ListParams::default()).await.unwrap().items.len(), 1);
        let pods: Api<Pod> = Api::namespaced(scheduler.clone(), "default");
        assert_eq!(pods.list(&ListParams::default()).await.unwrap().items.len(), 1);
        let binding: Binding = serde_json::from_value(json!({
            "metadata": {"name": "pending"}, "target": {"kind": "Node", "name": "n1"}
        }))
        .unwrap();
        let bind = pods
            .create_subresource::<Binding, serde_json::Value>("binding", "pending", &PostParams::default(), &binding)
            .await;
        assert!(bind.is_ok(), "{bind:?}");
        assert!(forbidden(Api::<Namespace>::all(scheduler.clone()).delete("default", &DeleteParams::default()).await));
        assert!(forbidden(Api::<Secret>::namespaced(scheduler.clone(), "default").list(&ListParams::default()).await));

        // The controller manager runs the controllers: it reads everything, manages pods and
        // leases, but may not grant itself more.
        let controllers = Component::controller_manager().client(&pki, &url).await.unwrap();
        Api::<Secret>::all(controllers.clone()).list(&ListParams::default()).await.unwrap();
        let leases: Api<Lease> = Api::namespaced(controllers.clone(), "kube-system");
        let lease: Lease =
            serde_json::from_value(json!({"metadata": {"name": "k3rs-controllers"}, "spec": {"holderIdentity": "me"}}))
                .unwrap();
        leases.create(&PostParams::default(), &lease).await.unwrap();
        Api::<Pod>::namespaced(controllers.clone(), "default")
            .delete("pending", &DeleteParams::default())
            .await
            .unwrap();
        let role: ClusterRole = serde_json::from_value(
            json!({"metadata": {"name": "mine"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        )
        .unwrap();
        assert!(forbidden(Api::<ClusterRole>::all(controllers.clone()).create(&PostParams::default(), &role).await));
    });
}
