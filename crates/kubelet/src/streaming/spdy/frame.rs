//! SPDY/3 frames: parsing from a byte buffer and serializing, header blocks left compressed.
//!
//! Control frames: `1|version(15)|type(16)`, `flags(8)|length(24)`, payload.
//! Data frames: `0|stream-id(31)`, `flags(8)|length(24)`, payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const VERSION: u16 = 3;
/// FIN on data frames and on SYN_STREAM / SYN_REPLY / HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// SYN_STREAM: the sender will not receive on this stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest payload a frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// RST_STREAM status codes used here.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const STREAM_IN_USE: u32 = 8;
}

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        header_block: Bytes,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        header_block: Bytes,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// Settings are parsed for validity and otherwise ignored (no flow control here).
    Settings {
        entries: Vec<(u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        header_block: Bytes,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// A control frame of a type this implementation does not use (e.g. CREDENTIAL).
    Unknown {
        frame_type: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("SPDY control frame of version {0}, only 3 is supported")]
    Version(u16),
    #[error("SPDY frame larger than {limit} bytes ({length})")]
    TooLarge { length: usize, limit: usize },
    #[error("malformed SPDY {0} frame")]
    Malformed(&'static str),
}

impl Frame {
    /// Parses one frame from the front of `buf`, or `None` when more bytes are needed.
    /// Frames longer than `max_len` are refused.
    pub fn parse(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let length = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
        if length > max_len {
            return Err(FrameError::TooLarge { length, limit: max_len });
        }
        if buf.len() < 8 + length {
            return Ok(None);
        }
        buf.advance(8);
        let payload = buf.split_to(length).freeze();
        if first & 0x8000_0000 == 0 {
            let stream_id = first & 0x7fff_ffff;
            if stream_id == 0 {
                return Err(FrameError::Malformed("DATA"));
            }
            return Ok(Some(Frame::Data { stream_id, flags, data: payload }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        Self::parse_control((first & 0xffff) as u16, flags, payload).map(Some)
    }

    fn parse_control(frame_type: u16, flags: u8, mut p: Bytes) -> Result<Frame, FrameError> {
        let need = |p: &Bytes, n: usize, name: &'static str| {
            if p.len() < n { Err(FrameError::Malformed(name)) } else { Ok(()) }
        };
        let exact = |p: &Bytes, n: usize, name: &'static str| {
            if p.len() != n { Err(FrameError::Malformed(name)) } else { Ok(()) }
        };
        Ok(match frame_type {
            TYPE_SYN_STREAM => {
                need(&p, 10, "SYN_STREAM")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let _slot = p.get_u8();
                if stream_id == 0 {
                    return Err(FrameError::Malformed("SYN_STREAM"));
                }
                Frame::SynStream { stream_id, associated_to, priority, flags, header_block: p }
            }
            TYPE_SYN_REPLY => {
                need(&p, 4, "SYN_REPLY")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                Frame::SynReply { stream_id, flags, header_block: p }
            }
            TYPE_RST_STREAM => {
                exact(&p, 8, "RST_STREAM")?;
                Frame::RstStream { stream_id: p.get_u32() & 0x7fff_ffff, status: p.get_u32() }
            }
            TYPE_SETTINGS => {
                need(&p, 4, "SETTINGS")?;
                let count = p.get_u32() as usize;
                if p.len() != count.saturating_mul(8) {
                    return Err(FrameError::Malformed("SETTINGS"));
                }
                let entries = (0..count).map(|_| (p.get_u32(), p.get_u32())).collect();
                Frame::Settings { entries }
            }
            TYPE_PING => {
                exact(&p, 4, "PING")?;
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                exact(&p, 8, "GOAWAY")?;
                Frame::GoAway { last_good_stream_id: p.get_u32() & 0x7fff_ffff, status: p.get_u32() }
            }
            TYPE_HEADERS => {
                need(&p, 4, "HEADERS")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                Frame::Headers { stream_id, flags, header_block: p }
            }
            TYPE_WINDOW_UPDATE => {
                exact(&p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate { stream_id: p.get_u32() & 0x7fff_ffff, delta: p.get_u32() & 0x7fff_ffff }
            }
            other => Frame::Unknown { frame_type: other },
        })
    }

    /// Appends the serialized frame to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            Frame::Data { stream_id, flags, data } => {
                out.put_u32(stream_id & 0x7fff_ffff);
                put_flags_len(out, *flags, data.len());
                out.put_slice(data);
            }
            Frame::SynStream { stream_id, associated_to, priority, flags, header_block } => {
                control(out, TYPE_SYN_STREAM, *flags, 10 + header_block.len());
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(associated_to & 0x7fff_ffff);
                out.put_u8((priority & 0x7) << 5);
                out.put_u8(0);
                out.put_slice(header_block);
            }
            Frame::SynReply { stream_id, flags, header_block } => {
                control(out, TYPE_SYN_REPLY, *flags, 4 + header_block.len());
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_slice(header_block);
            }
            Frame::RstStream { stream_id, status } => {
                control(out, TYPE_RST_STREAM, 0, 8);
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Settings { entries } => {
                control(out, TYPE_SETTINGS, 0, 4 + 8 * entries.len());
                out.put_u32(entries.len() as u32);
                for (id, value) in entries {
                    out.put_u32(*id);
                    out.put_u32(*value);
                }
            }
            Frame::Ping { id } => {
                control(out, TYPE_PING, 0, 4);
                out.put_u32(*id);
            }
            Frame::GoAway { last_good_stream_id, status } => {
                control(out, TYPE_GOAWAY, 0, 8);
                out.put_u32(last_good_stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Headers { stream_id, flags, header_block } => {
                control(out, TYPE_HEADERS, *flags, 4 + header_block.len());
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_slice(header_block);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(out, TYPE_WINDOW_UPDATE, 0, 8);
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(delta & 0x7fff_ffff);
            }
            // Never sent; nothing to write.
            Frame::Unknown { .. } => {}
        }
    }
}

fn control(out: &mut BytesMut, frame_type: u16, flags: u8, length: usize) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(frame_type);
    put_flags_len(out, flags, length);
}

fn put_flags_len(out: &mut BytesMut, flags: u8, length: usize) {
    debug_assert!(length <= MAX_PAYLOAD, "callers split payloads");
    out.put_u8(flags);
    out.put_u8((length >> 16) as u8);
    out.put_u16(length as u16);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let mut buf = BytesMut::new();
        frame.write(&mut buf);
        // A partial frame waits for more bytes.
        let mut partial = BytesMut::from(&buf[..buf.len() - 1]);
        if buf.len() > 8 {
            assert_eq!(Frame::parse(&mut partial, MAX_PAYLOAD).unwrap(), None);
        }
        let parsed = Frame::parse(&mut buf, MAX_PAYLOAD).unwrap().unwrap();
        assert_eq!(parsed, frame);
        assert!(buf.is_empty());
    }

    #[test]
    fn every_frame_type_round_trips() {
        round_trip(Frame::Data { stream_id: 5, flags: FLAG_FIN, data: Bytes::from_static(b"hello") });
        round_trip(Frame::Data { stream_id: 7, flags: 0, data: Bytes::new() });
        round_trip(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 3,
            flags: FLAG_UNIDIRECTIONAL,
            header_block: Bytes::from_static(b"\x78\x01zz"),
        });
        round_trip(Frame::SynReply { stream_id: 3, flags: 0, header_block: Bytes::from_static(b"abc") });
        round_trip(Frame::RstStream { stream_id: 3, status: rst::CANCEL });
        round_trip(Frame::Settings { entries: vec![(7, 65536), (4, 100)] });
        round_trip(Frame::Ping { id: 1 });
        round_trip(Frame::GoAway { last_good_stream_id: 9, status: 0 });
        round_trip(Frame::Headers { stream_id: 1, flags: FLAG_FIN, header_block: Bytes::from_static(b"x") });
        round_trip(Frame::WindowUpdate { stream_id: 1, delta: 1024 });
    }

    #[test]
    fn wire_layout_of_a_syn_reply() {
        let mut buf = BytesMut::new();
        Frame::SynReply { stream_id: 1, flags: 0, header_block: Bytes::from_static(b"hb") }.write(&mut buf);
        assert_eq!(&buf[..], &[0x80, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0, 0, 0, 1, b'h', b'b']);
    }

    #[test]
    fn several_frames_in_one_buffer() {
        let mut buf = BytesMut::new();
        Frame::Ping { id: 1 }.write(&mut buf);
        Frame::Data { stream_id: 1, flags: 0, data: Bytes::from_static(b"x") }.write(&mut buf);
        assert_eq!(Frame::parse(&mut buf, MAX_PAYLOAD).unwrap(), Some(Frame::Ping { id: 1 }));
        assert!(matches!(Frame::parse(&mut buf, MAX_PAYLOAD).unwrap(), Some(Frame::Data { stream_id: 1, .. })));
        assert_eq!(Frame::parse(&mut buf, MAX_PAYLOAD).unwrap(), None);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut v2 = BytesMut::from(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(Frame::parse(&mut v2, MAX_PAYLOAD), Err(FrameError::Version(2)));
        let mut short_ping = BytesMut::from(&[0x80, 0x03, 0x00, 0x06, 0, 0, 0, 2, 0, 1][..]);
        assert_eq!(Frame::parse(&mut short_ping, MAX_PAYLOAD), Err(FrameError::Malformed("PING")));
        let mut huge = BytesMut::from(&[0, 0, 0, 1, 0, 0x10, 0, 0][..]);
        assert!(matches!(Frame::parse(&mut huge, 1024), Err(FrameError::TooLarge { .. })));
        let mut zero_stream = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(Frame::parse(&mut zero_stream, MAX_PAYLOAD), Err(FrameError::Malformed("DATA")));
        let mut credential = BytesMut::from(&[0x80, 0x03, 0x00, 0x0a, 0, 0, 0, 0][..]);
        assert_eq!(Frame::parse(&mut credential, MAX_PAYLOAD).unwrap(), Some(Frame::Unknown { frame_type: 10 }));
    }
}
