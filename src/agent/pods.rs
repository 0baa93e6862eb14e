//! The pod manager's configuration, from the node and the flags.

use k3rs_kubelet::downward::Allocatable;
use k3rs_kubelet::node::NodeConfig;
use k3rs_kubelet::node::machine::Machine;
use k3rs_kubelet::pod::KubeletConfig;

use crate::cli::NodeArgs;

/// What the pod manager needs to know about this node.
pub fn kubelet_config(node: &NodeConfig, args: &NodeArgs, machine: &Machine) -> KubeletConfig {
    let mut config = KubeletConfig::new(&node.name, &args.kubelet_root_dir);
    config.pod_log_dir = args.pod_log_dir.clone();
    config.node_ips = node.internal_ips.iter().map(ToString::to_string).collect();
    config.node_allocatable = Allocatable::from_resources(&machine.allocatable());
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn config_follows_flags_and_machine() {
        let flags = Flags::parse_from(["x", "--kubelet-root-dir", "/tmp/k", "--pod-log-dir", "/tmp/logs"]);
        let node = NodeConfig::new("n1", "h", vec!["10.0.0.3".parse().unwrap()], "/tmp/k".into());
        let machine = Machine::read("/");
        let config = kubelet_config(&node, &flags.node, &machine);
        assert_eq!(config.node_name, "n1");
        assert_eq!(config.root_dir, std::path::PathBuf::from("/tmp/k"));
        assert_eq!(config.pod_log_dir, std::path::PathBuf::from("/tmp/logs"));
        assert_eq!(config.node_ips, vec!["10.0.0.3".to_string()]);
        assert_eq!(config.node_allocatable.cpu, Some(machine.cpus.to_string()));
    }
}
