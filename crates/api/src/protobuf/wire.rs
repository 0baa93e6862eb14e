//! The protobuf wire format: varints, tags, length-delimited chunks.
//!
//! The reader never panics on bad input: every read is bounds-checked and
//! returns a [`WireError`] naming what was malformed.

/// Wire types (the low three bits of a tag).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const START_GROUP: u8 = 3;
pub const END_GROUP: u8 = 4;
pub const FIXED32: u8 = 5;

/// Groups nest; unknown ones are skipped up to this depth.
const MAX_GROUP_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unexpected end of data")]
    Truncated,
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    #[error("field number 0 is invalid")]
    ZeroField,
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    #[error("unbalanced group")]
    UnbalancedGroup,
    #[error("groups nested too deeply")]
    GroupTooDeep,
}

/// A cursor over one message's bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One field's value as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
    /// A group, skipped (its contents are not interpreted).
    Group,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::VarintTooLong)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let chunk = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(chunk)
    }

    /// The next field: its number and value; `None` at the end.
    pub fn field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let (number, wire_type) = self.tag()?;
        let value = match wire_type {
            VARINT => WireValue::Varint(self.varint()?),
            FIXED64 => WireValue::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            FIXED32 => WireValue::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                WireValue::Bytes(self.take(len)?)
            }
            START_GROUP => {
                self.skip_group(number, 1)?;
                WireValue::Group
            }
            END_GROUP => return Err(WireError::UnbalancedGroup),
            other => return Err(WireError::InvalidWireType(other)),
        };
        Ok(Some((number, value)))
    }

    fn tag(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::ZeroField)?;
        if number == 0 {
            return Err(WireError::ZeroField);
        }
        Ok((number, (key & 7) as u8))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let chunk = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(chunk);
        Ok(out)
    }

    /// Skips a group's contents up to its matching end tag.
    fn skip_group(&mut self, number: u32, depth: usize) -> Result<(), WireError> {
        if depth > MAX_GROUP_DEPTH {
            return Err(WireError::GroupTooDeep);
        }
        loop {
            if self.is_empty() {
                return Err(WireError::Truncated);
            }
            let (inner, wire_type) = self.tag()?;
            match wire_type {
                VARINT => {
                    self.varint()?;
                }
                FIXED64 => {
                    self.take(8)?;
                }
                FIXED32 => {
                    self.take(4)?;
                }
                LEN => {
                    let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                    self.take(len)?;
                }
                START_GROUP => self.skip_group(inner, depth + 1)?,
                END_GROUP if inner == number => return Ok(()),
                END_GROUP => return Err(WireError::UnbalancedGroup),
                other => return Err(WireError::InvalidWireType(other)),
            }
        }
    }
}

/// Builds one message's bytes.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn tag(&mut self, number: u32, wire_type: u8) {
        self.varint((u64::from(number) << 3) | u64::from(wire_type));
    }

    pub fn varint_field(&mut self, number: u32, value: u64) {
        self.tag(number, VARINT);
        self.varint(value);
    }

    /// An `int32`/`int64`: negative values are sign-extended to ten bytes.
    pub fn int_field(&mut self, number: u32, value: i64) {
        self.varint_field(number, value as u64);
    }

    pub fn double_field(&mut self, number: u32, value: f64) {
        self.tag(number, FIXED64);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    pub fn bytes_field(&mut self, number: u32, value: &[u8]) {
        self.tag(number, LEN);
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_each_wire_type() {
        let mut w = Writer::new();
        w.varint_field(1, 150);
        w.int_field(2, -1);
        w.double_field(3, 1.5);
        w.bytes_field(4, b"hi");
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..3], &[0x08, 0x96, 0x01]);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.field().unwrap(), Some((1, WireValue::Varint(150))));
        assert_eq!(r.field().unwrap(), Some((2, WireValue::Varint(u64::MAX))));
        assert_eq!(r.field().unwrap(), Some((3, WireValue::Fixed64(1.5f64.to_bits()))));
        assert_eq!(r.field().unwrap(), Some((4, WireValue::Bytes(b"hi"))));
        assert_eq!(r.field().unwrap(), None);
    }

    #[test]
    fn skips_groups_and_reports_malformed_input() {
        // field 5 start-group, inner field 1 varint 7, field 5 end-group, then field 2 fixed32.
        let bytes = [0x2b, 0x08, 0x07, 0x2c, 0x15, 1, 0, 0, 0];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.field().unwrap(), Some((5, WireValue::Group)));
        assert_eq!(r.field().unwrap(), Some((2, WireValue::Fixed32(1))));
        assert_eq!(Reader::new(&[0x0a, 0x05, 1]).field(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0x08, 0x80]).field(), Err(WireError::Truncated));
        assert_eq!(
            Reader::new(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).field(),
            Err(WireError::VarintTooLong)
        );
        assert_eq!(Reader::new(&[0x00]).field(), Err(WireError::ZeroField));
        assert_eq!(Reader::new(&[0x0e]).field(), Err(WireError::InvalidWireType(6)));
        assert_eq!(Reader::new(&[0x0c]).field(), Err(WireError::UnbalancedGroup));
        assert_eq!(Reader::new(&[0x0b, 0x14]).field(), Err(WireError::UnbalancedGroup));
    }
}
