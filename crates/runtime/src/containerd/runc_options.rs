//! The runc shim's options message (`containerd.runc.v1.Options`), which containerd-client
//! does not generate. k3rs sets the runc state root so that a private containerd (tests, a
//! second agent on one machine) never shares runc state with the host's containerd.

use std::path::Path;

/// The subset of `containerd.runc.v1.Options` that k3rs sets (field numbers as upstream).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RuncOptions {
    /// The runc binary name or path.
    #[prost(string, tag = "6")]
    pub binary_name: String,
    /// runc's state directory (`runc --root`).
    #[prost(string, tag = "7")]
    pub root: String,
    /// Use the systemd cgroup driver.
    #[prost(bool, tag = "9")]
    pub systemd_cgroup: bool,
}

/// The runc options packed as containerd expects them (`Any` with the message's full name).
pub(crate) fn runc_options(runc_root: &Path) -> prost_types::Any {
    let options = RuncOptions {
        binary_name: String::new(),
        root: runc_root.to_string_lossy().into_owned(),
        systemd_cgroup: false,
    };
    prost_types::Any {
        type_url: "containerd.runc.v1.Options".to_string(),
        value: prost::Message::encode_to_vec(&options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_encode_the_root_as_field_seven() {
        let any = runc_options(Path::new("/run/x"));
        assert_eq!(any.type_url, "containerd.runc.v1.Options");
        // field 7, wire type 2 (length-delimited) = 0x3a, then length 6, then the bytes.
        assert_eq!(any.value, [&[0x3a, 6][..], b"/run/x"].concat());
    }
}
