//! SPDY/3 header blocks: the name/value block format and its zlib compression.
//!
//! A block is `u32 count` then, per header, `u32 len, name, u32 len, value`; names are
//! lowercase and several values of one header are joined by NUL. Each direction of a
//! connection compresses all its blocks as one zlib stream with the SPDY/3 dictionary,
//! flushing (Z_SYNC_FLUSH) at the end of each block, so the contexts must live as long as
//! the connection.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::dictionary::dictionary;

/// Largest decompressed header block accepted (protects against compression bombs).
const MAX_BLOCK: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("SPDY header block is truncated")]
    Truncated,
    #[error("SPDY header block has {0} trailing bytes")]
    Trailing(usize),
    #[error("SPDY header block is larger than {MAX_BLOCK} bytes")]
    TooLarge,
    #[error("SPDY header compression failed: {0}")]
    Zlib(String),
}

/// The headers of one SYN_STREAM, SYN_REPLY or HEADERS frame, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Adds a header (names are lowercased, as SPDY requires).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.split('\0').next().unwrap_or(""))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The uncompressed block.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.0.iter().map(|(n, v)| 8 + n.len() + v.len()).sum::<usize>());
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (name, value) in &self.0 {
            out.extend_from_slice(&(name.len() as u32).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Parses an uncompressed block.
    pub fn decode(block: &[u8]) -> Result<Headers, HeaderError> {
        let mut rest = block;
        let count = take_u32(&mut rest)?;
        let mut headers = Vec::new();
        for _ in 0..count {
            let name_len = take_u32(&mut rest)? as usize;
            let name = take(&mut rest, name_len)?;
            let value_len = take_u32(&mut rest)? as usize;
            let value = take(&mut rest, value_len)?;
            headers.push((
                String::from_utf8_lossy(name).to_ascii_lowercase(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        if !rest.is_empty() {
            return Err(HeaderError::Trailing(rest.len()));
        }
        Ok(Headers(headers))
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], HeaderError> {
    if rest.len() < n {
        return Err(HeaderError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, HeaderError> {
    let bytes = take(rest, 4)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The sending side's compression context.
pub struct HeaderCompressor {
    zlib: Compress,
}

impl HeaderCompressor {
    pub fn new() -> Result<Self, HeaderError> {
        let mut zlib = Compress::new(Compression::best(), true);
        zlib.set_dictionary(dictionary()).map_err(|e| HeaderError::Zlib(e.to_string()))?;
        Ok(HeaderCompressor { zlib })
    }

    /// Compresses one block, flushed so that the peer can decode it on its own.
    pub fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, HeaderError> {
        let input = headers.encode();
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| HeaderError::Zlib(e.to_string()))?;
            consumed += (self.zlib.total_in() - before) as usize;
            // The flush is complete once all input is taken and zlib left output space unused.
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The receiving side's decompression context.
pub struct HeaderDecompressor {
    zlib: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        HeaderDecompressor { zlib: Decompress::new(true) }
    }
}

impl HeaderDecompressor {
    /// Decompresses and parses one block.
    pub fn decompress(&mut self, input: &[u8]) -> Result<Headers, HeaderError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 256);
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_BLOCK {
                    return Err(HeaderError::TooLarge);
                }
                out.reserve(out.capacity());
            }
            let before_in = self.zlib.total_in();
            let before_out = out.len();
            let result = self.zlib.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.zlib.total_in() - before_in) as usize;
            match result {
                Ok(_) => {
                    let progressed = out.len() > before_out;
                    if consumed == input.len() && (out.len() < out.capacity() || !progressed) {
                        break;
                    }
                    if !progressed && consumed < input.len() && self.zlib.total_in() == before_in {
                        return Err(HeaderError::Zlib("no progress decompressing header block".into()));
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib.set_dictionary(dictionary()).map_err(|e| HeaderError::Zlib(e.to_string()))?;
                }
                Err(e) => return Err(HeaderError::Zlib(e.to_string())),
            }
        }
        Headers::decode(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> Headers {
        Headers::new()
            .with("StreamType", "data")
            .with("port", &format!("{}", 8000 + i))
            .with("requestid", &i.to_string())
    }

    #[test]
    fn block_round_trip_and_lowercase_names() {
        let h = sample(1);
        assert_eq!(h.get("streamtype"), Some("data"));
        assert_eq!(Headers::decode(&h.encode()).unwrap(), h);
        assert!(h.encode().windows(10).any(|w| w == b"streamtype"));
    }

    #[test]
    fn multiple_values_are_nul_separated() {
        let h = Headers::new().with("x-stream-protocol-version", "v4.channel.k8s.io\0v3.channel.k8s.io");
        assert_eq!(h.get("X-Stream-Protocol-Version"), Some("v4.channel.k8s.io"));
    }

    #[test]
    fn malformed_blocks_are_errors() {
        assert_eq!(Headers::decode(&[0, 0]), Err(HeaderError::Truncated));
        assert_eq!(Headers::decode(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']), Err(HeaderError::Truncated));
        assert_eq!(Headers::decode(&[0, 0, 0, 0, 7]), Err(HeaderError::Trailing(1)));
    }

    #[test]
    fn compression_contexts_span_many_blocks() {
        let mut tx = HeaderCompressor::new().unwrap();
        let mut rx = HeaderDecompressor::default();
        let mut sizes = Vec::new();
        for i in 0..20 {
            let block = tx.compress(&sample(i)).unwrap();
            sizes.push(block.len());
            assert_eq!(rx.decompress(&block).unwrap(), sample(i), "block {i}");
        }
        // The shared context makes repeated headers cheap.
        assert!(sizes[19] < sizes[0], "{sizes:?}");
        let empty = tx.compress(&Headers::new()).unwrap();
        assert_eq!(rx.decompress(&empty).unwrap(), Headers::new());
    }

    #[test]
    fn the_stream_announces_the_spdy_dictionary() {
        let mut tx = HeaderCompressor::new().unwrap();
        let block = tx.compress(&sample(0)).unwrap();
        // zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(block[1] & 0x20, 0x20);
        assert_eq!(&block[2..6], &0xe3c6_a7c2u32.to_be_bytes());
        // A decompressor without the dictionary cannot read it; ours loads it on demand.
        let mut plain = Decompress::new(true);
        let mut out = Vec::with_capacity(1024);
        assert!(plain.decompress_vec(&block, &mut out, FlushDecompress::Sync).is_err());
        assert_eq!(HeaderDecompressor::default().decompress(&block).unwrap(), sample(0));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut rx = HeaderDecompressor::default();
        assert!(rx.decompress(&[0x78, 0xbb, 1, 2, 3, 4, 5, 6, 7]).is_err());
    }
}
