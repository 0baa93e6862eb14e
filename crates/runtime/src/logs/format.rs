//! One line of a container log file: encoding and parsing.

use bytes::Bytes;
use jiff::Timestamp;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One entry of a log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub timestamp: Timestamp,
    pub stream: Stream,
    /// True when the text is a piece of a longer line that continues in the next entry.
    pub partial: bool,
    /// The text, without the newline.
    pub content: Bytes,
}

impl LogLine {
    /// Appends the entry in file format, newline included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format_timestamp(self.timestamp).as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.stream.as_str().as_bytes());
        out.extend_from_slice(if self.partial { b" P " } else { b" F " });
        out.extend_from_slice(&self.content);
        out.push(b'\n');
    }
}

/// RFC 3339 in UTC with nine fractional digits (`2024-05-01T10:00:00.000000001Z`): parseable
/// as RFC3339Nano, and fixed-width so that lines sort by time.
pub fn format_timestamp(timestamp: Timestamp) -> String {
    let dt = timestamp.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond()
    )
}

/// Parses one line of a log file (without its newline).
pub fn parse_line(line: &[u8]) -> Result<LogLine, String> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let timestamp = parts.next().ok_or("empty line")?;
    let stream = parts.next().ok_or("missing stream")?;
    let tag = parts.next().ok_or("missing tag")?;
    let content = parts.next().unwrap_or_default();
    let timestamp = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .ok_or_else(|| format!("bad timestamp {:?}", String::from_utf8_lossy(timestamp)))?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(format!("bad stream {:?}", String::from_utf8_lossy(other))),
    };
    // Tags may carry more flags after a ':' in newer runtimes; the first says full/partial.
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(format!("bad tag {:?}", String::from_utf8_lossy(tag))),
    };
    Ok(LogLine { timestamp, stream, partial, content: Bytes::copy_from_slice(content) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let line = LogLine {
            timestamp: "2024-05-01T10:00:00.5Z".parse().unwrap(),
            stream: Stream::Stderr,
            partial: true,
            content: Bytes::from_static(b"hello world"),
        };
        let mut out = Vec::new();
        line.encode(&mut out);
        assert_eq!(out, b"2024-05-01T10:00:00.500000000Z stderr P hello world\n");
        assert_eq!(parse_line(&out[..out.len() - 1]).unwrap(), line);
    }

    #[test]
    fn empty_content_and_kubelet_lines_parse() {
        let line = parse_line(b"2016-10-06T00:17:09.669794202Z stdout F ").unwrap();
        assert!(line.content.is_empty());
        assert!(!line.partial);
        let line = parse_line(b"2016-10-06T00:17:09.669794202Z stdout F a b  c").unwrap();
        assert_eq!(&line.content[..], b"a b  c");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_line(b"").is_err());
        assert!(parse_line(b"yesterday stdout F x").is_err());
        assert!(parse_line(b"2016-10-06T00:17:09Z stdin F x").is_err());
        assert!(parse_line(b"2016-10-06T00:17:09Z stdout X x").is_err());
    }
}
