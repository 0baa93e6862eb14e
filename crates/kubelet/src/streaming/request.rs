//! The kubelet's streaming paths and their query parameters, as upstream's kubelet serves
//! them:
//!
//! - `GET /containerLogs/<ns>/<pod>/<container>?follow&tailLines&sinceSeconds&sinceTime&timestamps&previous&limitBytes`
//! - `GET|POST /exec/<ns>/<pod>[/<uid>]/<container>?command=…&stdin&stdout&stderr&tty`
//! - `GET|POST /attach/<ns>/<pod>[/<uid>]/<container>?stdin&stdout&stderr&tty`
//! - `GET|POST /portForward/<ns>/<pod>[/<uid>]`
//!
//! Stream flags are accepted under both names in use: `stdin`/`stdout`/`stderr` (what
//! clients send to the API server) and `input`/`output`/`error` (what upstream's API
//! server sends to a kubelet), with Go's boolean spellings.

use http::{Method, StatusCode};

use super::backend::{ContainerRef, LogOptions, PodRef};

/// Which streams an exec or attach session carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamFlags {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// A parsed request to the streaming endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRequest {
    Healthz,
    Logs { container: ContainerRef, options: LogOptions },
    Exec { container: ContainerRef, command: Vec<String>, flags: StreamFlags },
    Attach { container: ContainerRef, flags: StreamFlags },
    PortForward { pod: PodRef },
}

/// A request that cannot be served, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub code: StatusCode,
    pub message: String,
}

impl RequestError {
    fn bad(message: impl Into<String>) -> Self {
        RequestError { code: StatusCode::BAD_REQUEST, message: message.into() }
    }

    fn not_found() -> Self {
        RequestError { code: StatusCode::NOT_FOUND, message: "the server could not find the requested resource".into() }
    }

    fn method(method: &Method) -> Self {
        RequestError { code: StatusCode::METHOD_NOT_ALLOWED, message: format!("method {method} is not allowed here") }
    }
}

/// Parses a request; `now` resolves `sinceSeconds`.
pub fn parse(
    method: &Method,
    path: &str,
    query: Option<&str>,
    now: jiff::Timestamp,
) -> Result<StreamRequest, RequestError> {
    let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    if segments.iter().skip(1).any(String::is_empty) {
        return Err(RequestError::not_found());
    }
    let params = Params::parse(query.unwrap_or(""));
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["healthz"] => Ok(StreamRequest::Healthz),
        ["containerLogs", ns, pod, container] => {
            if method != Method::GET {
                return Err(RequestError::method(method));
            }
            let container = container_ref(ns, pod, None, container);
            Ok(StreamRequest::Logs { container, options: params.log_options(now)? })
        }
        ["exec", ns, pod, rest @ ..] | ["attach", ns, pod, rest @ ..] => {
            if method != Method::GET && method != Method::POST {
                return Err(RequestError::method(method));
            }
            let (uid, container) = match rest {
                [container] => (None, *container),
                [uid, container] => (Some(*uid), *container),
                _ => return Err(RequestError::not_found()),
            };
            let container = container_ref(ns, pod, uid, container);
            let flags = params.stream_flags()?;
            if segs[0] == "exec" {
                let command = params.all("command");
                if command.is_empty() {
                    return Err(RequestError::bad("you must specify a command to execute (the command parameter)"));
                }
                Ok(StreamRequest::Exec { container, command, flags })
            } else {
                Ok(StreamRequest::Attach { container, flags })
            }
        }
        ["portForward", ns, pod] | ["portForward", ns, pod, _] => {
            if method != Method::GET && method != Method::POST {
                return Err(RequestError::method(method));
            }
            let uid = segs.get(3).map(|s| s.to_string());
            Ok(StreamRequest::PortForward { pod: PodRef { namespace: ns.to_string(), name: pod.to_string(), uid } })
        }
        _ => Err(RequestError::not_found()),
    }
}

fn container_ref(ns: &str, pod: &str, uid: Option<&str>, container: &str) -> ContainerRef {
    ContainerRef {
        pod: PodRef { namespace: ns.to_string(), name: pod.to_string(), uid: uid.map(str::to_string) },
        container: container.to_string(),
    }
}

/// Decoded query parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        Params(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    fn first(&self, names: &[&str]) -> Option<(&str, &str)> {
        self.0.iter().find(|(k, _)| names.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    fn flag(&self, names: &[&str]) -> Result<bool, RequestError> {
        match self.first(names) {
            None => Ok(false),
            Some((name, value)) => parse_bool(value)
                .ok_or_else(|| RequestError::bad(format!("{name}: {value:?} is not a boolean (true or false)"))),
        }
    }

    fn number(&self, name: &str) -> Result<Option<i64>, RequestError> {
        match self.first(&[name]) {
            None | Some((_, "")) => Ok(None),
            Some((_, value)) => value
                .parse::<i64>()
                .map(Some)
                .map_err(|_| RequestError::bad(format!("{name}: {value:?} is not an integer"))),
        }
    }

    fn stream_flags(&self) -> Result<StreamFlags, RequestError> {
        let mut flags = StreamFlags {
            stdin: self.flag(&["stdin", "input"])?,
            stdout: self.flag(&["stdout", "output"])?,
            stderr: self.flag(&["stderr", "error"])?,
            tty: self.flag(&["tty"])?,
        };
        if !flags.stdin && !flags.stdout && !flags.stderr {
            return Err(RequestError::bad("you must specify at least 1 of stdin, stdout, stderr"));
        }
        // A terminal merges both outputs into one stream, as upstream does.
        if flags.tty {
            flags.stderr = false;
        }
        Ok(flags)
    }

    fn log_options(&self, now: jiff::Timestamp) -> Result<LogOptions, RequestError> {
        let tail_lines = self.number("tailLines")?;
        let since_seconds = self.number("sinceSeconds")?;
        let limit_bytes = self.number("limitBytes")?;
        let since_time = match self.first(&["sinceTime"]) {
            None | Some((_, "")) => None,
            Some((_, value)) => Some(
                value
                    .parse::<jiff::Timestamp>()
                    .map_err(|_| RequestError::bad(format!("sinceTime: {value:?} is not an RFC 3339 time")))?,
            ),
        };
        if tail_lines.is_some_and(|n| n < 0) {
            return Err(RequestError::bad("tailLines: must be greater than or equal to 0"));
        }
        if limit_bytes.is_some_and(|n| n < 1) {
            return Err(RequestError::bad("limitBytes: must be greater than 0"));
        }
        if since_seconds.is_some_and(|n| n < 1) {
            return Err(RequestError::bad("sinceSeconds: must be greater than 0"));
        }
        if since_seconds.is_some() && since_time.is_some() {
            return Err(RequestError::bad("at most one of `sinceTime` or `sinceSeconds` may be specified"));
        }
        let since = match since_seconds {
            Some(secs) => Some(now.checked_sub(jiff::SignedDuration::from_secs(secs)).unwrap_or(jiff::Timestamp::MIN)),
            None => since_time,
        };
        Ok(LogOptions {
            follow: self.flag(&["follow"])?,
            tail_lines: tail_lines.map(|n| n as u64),
            since,
            timestamps: self.flag(&["timestamps"])?,
            previous: self.flag(&["previous"])?,
            limit_bytes: limit_bytes.map(|n| n as u64),
        })
    }
}

/// Go's `strconv.ParseBool` spellings.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Some(false),
        _ => None,
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Some(b) = std::str::from_utf8(hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2025-01-01T00:00:10Z".parse().unwrap()
    }

    fn get(path: &str, query: &str) -> Result<StreamRequest, RequestError> {
        parse(&Method::GET, path, Some(query), now())
    }

    #[test]
    fn exec_paths_with_and_without_uid() {
        let r = get("/exec/default/web/app", "command=ls&command=-l&stdout=true&stderr=1").unwrap();
        let StreamRequest::Exec { container, command, flags } = r else { panic!("{r:?}") };
        assert_eq!((container.pod.name.as_str(), container.container.as_str()), ("web", "app"));
        assert_eq!(command, vec!["ls", "-l"]);
        assert_eq!(flags, StreamFlags { stdin: false, stdout: true, stderr: true, tty: false });

        let r = parse(&Method::POST, "/exec/ns/p/1234/c", Some("command=sh&input=1&output=1&tty=1"), now()).unwrap();
        let StreamRequest::Exec { container, flags, .. } = r else { panic!() };
        assert_eq!(container.pod.uid.as_deref(), Some("1234"));
        assert!(flags.tty && flags.stdin && !flags.stderr);
    }

    #[test]
    fn exec_needs_a_command_and_a_stream() {
        assert_eq!(get("/exec/ns/p/c", "stdout=1").unwrap_err().code, StatusCode::BAD_REQUEST);
        let e = get("/exec/ns/p/c", "command=ls").unwrap_err();
        assert!(e.message.contains("at least 1 of stdin, stdout, stderr"), "{e:?}");
        assert!(get("/exec/ns/p/c", "command=ls&stdout=maybe").is_err());
    }

    #[test]
    fn log_options() {
        let r = get("/containerLogs/ns/p/c", "follow=true&tailLines=5&timestamps=true&limitBytes=10&sinceSeconds=4")
            .unwrap();
        let StreamRequest::Logs { options, .. } = r else { panic!() };
        assert!(options.follow && options.timestamps && !options.previous);
        assert_eq!((options.tail_lines, options.limit_bytes), (Some(5), Some(10)));
        assert_eq!(options.since, Some("2025-01-01T00:00:06Z".parse().unwrap()));

        let r = get("/containerLogs/ns/p/c", "sinceTime=2024-05-01T10:00:00Z").unwrap();
        let StreamRequest::Logs { options, .. } = r else { panic!() };
        assert_eq!(options.since, Some("2024-05-01T10:00:00Z".parse().unwrap()));

        assert!(get("/containerLogs/ns/p/c", "tailLines=-1").is_err());
        assert!(get("/containerLogs/ns/p/c", "sinceSeconds=1&sinceTime=2024-05-01T10:00:00Z").is_err());
        assert!(get("/containerLogs/ns/p/c", "limitBytes=0").is_err());
        assert_eq!(
            parse(&Method::POST, "/containerLogs/ns/p/c", None, now()).unwrap_err().code,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn port_forward_and_unknown_paths() {
        let r = parse(&Method::POST, "/portForward/ns/p", None, now()).unwrap();
        assert_eq!(
            r,
            StreamRequest::PortForward { pod: PodRef { namespace: "ns".into(), name: "p".into(), uid: None } }
        );
        assert_eq!(get("/containerLogs/ns/p", "").unwrap_err().code, StatusCode::NOT_FOUND);
        assert_eq!(get("/exec/ns//c", "command=x&stdout=1").unwrap_err().code, StatusCode::NOT_FOUND);
        assert_eq!(get("/run/ns/p/c", "").unwrap_err().code, StatusCode::NOT_FOUND);
        assert_eq!(get("/healthz", "").unwrap(), StreamRequest::Healthz);
    }
}
