//! Who holds the default roles: ClusterRoleBindings, and the Roles and RoleBindings upstream
//! keeps in kube-system and kube-public.

use serde_json::Value;

use super::rule::*;
use crate::authz::MASTERS_GROUP;

pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
pub const PROXY_USER: &str = "system:kube-proxy";
/// The API server's identity towards kubelets (logs, exec, port-forward).
pub const APISERVER_KUBELET_USER: &str = "system:kube-apiserver";
const KUBE_SYSTEM: &str = "kube-system";

pub fn cluster_role_bindings() -> Vec<Value> {
    let mut out = vec![
        cluster_role_binding("cluster-admin", "cluster-admin", vec![group(MASTERS_GROUP)]),
        cluster_role_binding("system:basic-user", "system:basic-user", vec![group("system:authenticated")]),
        cluster_role_binding("system:discovery", "system:discovery", vec![group("system:authenticated")]),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            vec![group("system:authenticated"), group("system:unauthenticated")],
        ),
        cluster_role_binding("system:monitoring", "system:monitoring", vec![group("system:monitoring")]),
        cluster_role_binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            vec![group("system:serviceaccounts")],
        ),
        // Upstream keeps this binding without subjects: kubelets are authorized by the Node
        // authorizer.
        cluster_role_binding("system:node", "system:node", vec![]),
        cluster_role_binding("system:node-proxier", "system:node-proxier", vec![user(PROXY_USER)]),
        cluster_role_binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![user(CONTROLLER_MANAGER_USER)],
        ),
        cluster_role_binding("system:kube-dns", "system:kube-dns", vec![service_account(KUBE_SYSTEM, "kube-dns")]),
        cluster_role_binding("system:kube-scheduler", "system:kube-scheduler", vec![user(SCHEDULER_USER)]),
        cluster_role_binding("system:volume-scheduler", "system:volume-scheduler", vec![user(SCHEDULER_USER)]),
        cluster_role_binding(
            "kube-apiserver-kubelet-admin",
            "system:kubelet-api-admin",
            vec![user(APISERVER_KUBELET_USER)],
        ),
    ];
    for (controller, _) in super::controllers::all() {
        let name = format!("system:controller:{controller}");
        out.push(cluster_role_binding(
            &name,
            &name,
            vec![service_account(KUBE_SYSTEM, controller), user(CONTROLLER_MANAGER_USER)],
        ));
    }
    out
}

pub fn roles() -> Vec<Value> {
    vec![
        role(
            KUBE_SYSTEM,
            "extension-apiserver-authentication-reader",
            vec![named(READ, &[""], &["configmaps"], &["extension-apiserver-authentication"])],
        ),
        role(
            KUBE_SYSTEM,
            "system::leader-locking-kube-controller-manager",
            vec![
                rule(&["watch"], &[""], &["configmaps"]),
                named(&["get", "update"], &[""], &["configmaps"], &["kube-controller-manager"]),
            ],
        ),
        role(
            KUBE_SYSTEM,
            "system::leader-locking-kube-scheduler",
            vec![
                rule(&["watch"], &[""], &["configmaps"]),
                named(&["get", "update"], &[""], &["configmaps"], &["kube-scheduler"]),
            ],
        ),
        // k3rs' in-process components elect their leaders with Leases of their own names.
        role(
            KUBE_SYSTEM,
            "k3rs:leader-election",
            vec![rule(
                &["get", "list", "watch", "create", "update", "patch", "delete"],
                &["coordination.k8s.io"],
                &["leases"],
            )],
        ),
        role(KUBE_SYSTEM, "system:controller:bootstrap-signer", vec![rule(READ, &[""], &["secrets"])]),
        role(
            KUBE_SYSTEM,
            "system:controller:token-cleaner",
            vec![rule(&["delete", "get", "list", "watch"], &[""], &["secrets"]), events()],
        ),
        role(
            "kube-public",
            "system:controller:bootstrap-signer",
            vec![
                rule(READ, &[""], &["configmaps"]),
                named(&["update"], &[""], &["configmaps"], &["cluster-info"]),
                events(),
            ],
        ),
    ]
}

pub fn role_bindings() -> Vec<Value> {
    vec![
        role_binding(
            KUBE_SYSTEM,
            "system::extension-apiserver-authentication-reader",
            "extension-apiserver-authentication-reader",
            vec![user(CONTROLLER_MANAGER_USER), user(SCHEDULER_USER)],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system::leader-locking-kube-controller-manager",
            "system::leader-locking-kube-controller-manager",
            vec![user(CONTROLLER_MANAGER_USER), service_account(KUBE_SYSTEM, "kube-controller-manager")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system::leader-locking-kube-scheduler",
            "system::leader-locking-kube-scheduler",
            vec![user(SCHEDULER_USER), service_account(KUBE_SYSTEM, "kube-scheduler")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "k3rs:leader-election",
            "k3rs:leader-election",
            vec![user(CONTROLLER_MANAGER_USER), user(SCHEDULER_USER)],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account(KUBE_SYSTEM, "bootstrap-signer")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system:controller:token-cleaner",
            "system:controller:token-cleaner",
            vec![service_account(KUBE_SYSTEM, "token-cleaner")],
        ),
        role_binding(
            "kube-public",
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account(KUBE_SYSTEM, "bootstrap-signer")],
        ),
    ]
}
