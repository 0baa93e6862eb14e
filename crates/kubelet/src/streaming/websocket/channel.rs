//! The Kubernetes channel protocols over WebSocket (`*.channel.k8s.io`): each message
//! carries one channel's data, prefixed by the channel number.
//!
//! Channels: 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 terminal resize. `v5` adds
//! channel 255, a client's "I closed this channel" signal (`[255, channel]`). The
//! `base64` variants send text messages: the channel as an ASCII digit, then base64 data.
//! From `v4` on, the error channel carries a JSON `Status` (so exit codes reach the
//! client); before, it carries an error text and nothing on success.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: a client closed one of its channels.
pub const CLOSE: u8 = 255;

/// The channel protocols served, most capable first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelProtocol {
    V5,
    V4,
    V4Base64,
    V1,
    V1Base64,
}

impl ChannelProtocol {
    pub const ALL: [ChannelProtocol; 5] = [
        ChannelProtocol::V5,
        ChannelProtocol::V4,
        ChannelProtocol::V4Base64,
        ChannelProtocol::V1,
        ChannelProtocol::V1Base64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChannelProtocol::V5 => "v5.channel.k8s.io",
            ChannelProtocol::V4 => "v4.channel.k8s.io",
            ChannelProtocol::V4Base64 => "v4.base64.channel.k8s.io",
            ChannelProtocol::V1 => "channel.k8s.io",
            ChannelProtocol::V1Base64 => "base64.channel.k8s.io",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    fn base64(self) -> bool {
        matches!(self, ChannelProtocol::V4Base64 | ChannelProtocol::V1Base64)
    }

    /// Whether the error channel carries a JSON `Status` (else plain error text).
    pub fn status_is_json(self) -> bool {
        !matches!(self, ChannelProtocol::V1 | ChannelProtocol::V1Base64)
    }

    /// Encodes data for one channel as a message.
    pub fn encode(self, channel: u8, data: &[u8]) -> Message {
        if self.base64() {
            let mut text = String::with_capacity(1 + data.len().div_ceil(3) * 4);
            text.push(char::from(b'0' + channel));
            STANDARD.encode_string(data, &mut text);
            Message::Text(text.into())
        } else {
            let mut bytes = Vec::with_capacity(1 + data.len());
            bytes.push(channel);
            bytes.extend_from_slice(data);
            Message::Binary(bytes.into())
        }
    }

    /// Decodes a client message into (channel, data); `None` for control messages and for
    /// messages that carry no channel.
    pub fn decode(self, message: &Message) -> Result<Option<(u8, Bytes)>, String> {
        match message {
            Message::Binary(bytes) if !self.base64() => {
                Ok(bytes.split_first().map(|(ch, data)| (*ch, Bytes::copy_from_slice(data))))
            }
            Message::Text(text) if self.base64() => {
                let Some((first, rest)) = text.as_bytes().split_first() else { return Ok(None) };
                if !first.is_ascii_digit() {
                    return Err(format!("invalid channel {:?} in a base64 message", char::from(*first)));
                }
                let data = STANDARD.decode(rest).map_err(|e| format!("invalid base64 data: {e}"))?;
                Ok(Some((first - b'0', Bytes::from(data))))
            }
            Message::Binary(_) | Message::Text(_) => {
                Err(format!("unexpected message type for the {} protocol", self.name()))
            }
            _ => Ok(None),
        }
    }
}

/// Picks the first protocol the client offers that is served (clients list theirs in
/// preference order). No offer at all means the original `channel.k8s.io`.
pub fn negotiate(offered: &[String]) -> Option<ChannelProtocol> {
    if offered.is_empty() {
        return Some(ChannelProtocol::V1);
    }
    offered.iter().find_map(|name| ChannelProtocol::from_name(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_channels_round_trip() {
        let m = ChannelProtocol::V5.encode(STDOUT, b"hi");
        assert_eq!(m, Message::Binary(vec![1, b'h', b'i'].into()));
        assert_eq!(ChannelProtocol::V5.decode(&m).unwrap(), Some((1, Bytes::from_static(b"hi"))));
        let close = Message::Binary(vec![CLOSE, STDIN].into());
        assert_eq!(ChannelProtocol::V5.decode(&close).unwrap(), Some((CLOSE, Bytes::from_static(&[STDIN]))));
        assert_eq!(ChannelProtocol::V5.decode(&Message::Binary(Bytes::new())).unwrap(), None);
    }

    #[test]
    fn base64_channels_round_trip() {
        let m = ChannelProtocol::V4Base64.encode(STDERR, b"\x00\xffok");
        assert_eq!(m, Message::Text("2AP9vaw==".into()));
        assert_eq!(ChannelProtocol::V4Base64.decode(&m).unwrap(), Some((2, Bytes::from_static(b"\x00\xffok"))));
        assert!(ChannelProtocol::V4Base64.decode(&Message::Text("x!!".into())).is_err());
        assert!(ChannelProtocol::V4Base64.decode(&Message::Binary(vec![0].into())).is_err());
        assert!(ChannelProtocol::V4.decode(&Message::Text("0aGk=".into())).is_err());
    }

    #[test]
    fn negotiation_follows_the_client_order() {
        let offer = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(negotiate(&offer(&["v5.channel.k8s.io", "v4.channel.k8s.io"])), Some(ChannelProtocol::V5));
        assert_eq!(
            negotiate(&offer(&["v4.base64.channel.k8s.io", "v5.channel.k8s.io"])),
            Some(ChannelProtocol::V4Base64)
        );
        assert_eq!(negotiate(&offer(&["SPDY/3.1+portforward.k8s.io"])), None);
        assert_eq!(negotiate(&[]), Some(ChannelProtocol::V1));
        assert!(!ChannelProtocol::V1.status_is_json() && ChannelProtocol::V4.status_is_json());
    }
}
