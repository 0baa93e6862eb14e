//! WATCH: a chunked stream of `{"type":..., "object":...}` lines, one flushed per
//! event, filtered by selectors (an object leaving the selection is DELETED,
//! one entering it ADDED), with bookmarks, initial state and timeouts.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{StatusCode, header};
use k3rs_api::{ApiError, ResourceDef};
use k3rs_store::{Event, EventKind, KeyValue, ListOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::filter::Filter;
use super::read::include_object;
use super::{ResourceRequest, table};
use crate::http::negotiate::{Output, Representation};
use crate::objects;

/// Where the watch starts.
enum Start {
    /// Send the current state as ADDED first, then changes after it.
    WithInitialState,
    /// Only changes after this revision.
    After(i64),
}

pub async fn watch(r: ResourceRequest) -> Result<Response, ApiError> {
    let filter = Filter::from_request(&r)?;
    let rv = r.query.get("resourceVersion").filter(|v| !v.is_empty());
    let send_initial = r.query.get("sendInitialEvents") == Some("true");
    let start = match rv {
        _ if send_initial => Start::WithInitialState,
        None | Some("0") => Start::WithInitialState,
        Some(v) => Start::After(v.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: Invalid value: {v:?}: must be an integer"))
        })?),
    };
    let timeout = match r.query.int("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => r.state.options.default_watch_timeout,
    };
    let bookmarks = r.query.flag("allowWatchBookmarks");
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let session = WatchSession {
        filter,
        timeout,
        bookmarks,
        send_initial,
        tx,
        include: include_object(&r).to_string(),
        codec: r.state.codec.clone(),
    };
    tokio::spawn(session.run(r, start));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

struct WatchSession {
    filter: Filter,
    timeout: Duration,
    bookmarks: bool,
    send_initial: bool,
    tx: mpsc::Sender<Bytes>,
    include: String,
    codec: objects::Codec,
}

impl WatchSession {
    async fn send(&self, event_type: &str, object: Value) -> bool {
        let mut line = serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn send_error(&self, err: &ApiError) {
        self.send("ERROR", err.to_status()).await;
    }

    fn render(&self, def: &ResourceDef, obj: Value, output: Output) -> Value {
        match output.representation {
            Representation::Object => obj,
            Representation::Table => {
                let rv = k3rs_api::meta::resource_version(&obj).to_string();
                table::table(def, std::slice::from_ref(&obj), json!({"resourceVersion": rv}), output, &self.include)
            }
            Representation::PartialObjectMetadata => table::partial(&obj),
        }
    }

    fn bookmark(def: &ResourceDef, revision: i64, initial_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata})
    }

    fn selected(&self, def: &ResourceDef, kv: &KeyValue, revision: i64) -> Result<Option<Value>, ApiError> {
        let mut obj = self.codec.decode(kv)?;
        k3rs_api::meta::set_meta(&mut obj, "resourceVersion", Value::String(revision.to_string()));
        let obj = objects::to_request_version(def, obj)?;
        Ok(self.filter.matches(def, &obj)?.then_some(obj))
    }

    /// The watch event an store event becomes for this watcher, if any.
    fn translate(&self, def: &ResourceDef, event: &Event) -> Result<Option<(&'static str, Value)>, ApiError> {
        let rev = event.revision();
        match event.kind {
            EventKind::Delete => Ok(self.selected(def, &event.kv, rev)?.map(|o| ("DELETED", o))),
            EventKind::Put => {
                let now = self.selected(def, &event.kv, rev)?;
                let before = match &event.prev {
                    Some(prev) if !self.filter.is_everything() => self.selected(def, prev, rev)?.is_some(),
                    Some(_) => true,
                    None => false,
                };
                Ok(match (now, before) {
                    (Some(o), false) => Some(("ADDED", o)),
                    (Some(o), true) => Some(("MODIFIED", o)),
                    (None, true) => {
                        // Left the selection: upstream reports the object as deleted.
                        self.selected_unfiltered(def, &event.kv, rev)?.map(|o| ("DELETED", o))
                    }
                    (None, false) => None,
                })
            }
        }
    }

    fn selected_unfiltered(&self, def: &ResourceDef, kv: &KeyValue, rev: i64) -> Result<Option<Value>, ApiError> {
        let mut obj = self.codec.decode(kv)?;
        k3rs_api::meta::set_meta(&mut obj, "resourceVersion", Value::String(rev.to_string()));
        Ok(Some(objects::to_request_version(def, obj)?))
    }

    async fn run(self, r: ResourceRequest, start: Start) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let def = r.def.clone();
        let prefix = r.storage.prefix(r.namespace());
        let store = r.state.store.clone();
        let mut last_revision = match start {
            Start::After(rv) => rv,
            Start::WithInitialState => {
                let mut revision = None;
                let mut start_after = None;
                loop {
                    let page = match store
                        .list(&prefix, ListOptions { revision, limit: Some(500), start_after: start_after.clone() })
                        .await
                    {
                        Ok(p) => p,
                        Err(e) => {
                            self.send_error(&objects::generic_store_error(e)).await;
                            return;
                        }
                    };
                    revision = Some(page.revision);
                    for kv in &page.items {
                        match self.selected(&def, kv, kv.mod_revision) {
                            Ok(Some(obj)) => {
                                let obj = self.render(&def, obj, r.output);
                                if !self.send("ADDED", obj).await {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                self.send_error(&e).await;
                                return;
                            }
                        }
                    }
                    start_after = page.items.last().map(|kv| kv.key.clone());
                    if !page.more || page.items.is_empty() {
                        break;
                    }
                }
                let rev = revision.unwrap_or(0);
                if self.send_initial && self.bookmarks && !self.send("BOOKMARK", Self::bookmark(&def, rev, true)).await
                {
                    return;
                }
                rev
            }
        };
        let mut stream = match store.watch(&prefix, last_revision).await {
            Ok(s) => s,
            Err(e) => {
                self.send_error(&objects::generic_store_error(e)).await;
                return;
            }
        };
        let mut bookmark_tick = tokio::time::interval(r.state.options.bookmark_interval);
        bookmark_tick.tick().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = self.tx.closed() => return,
                _ = bookmark_tick.tick(), if self.bookmarks => {
                    if !self.send("BOOKMARK", Self::bookmark(&def, last_revision, false)).await {
                        return;
                    }
                }
                next = stream.next() => {
                    let event = match next {
                        Some(Ok(ev)) => ev,
                        Some(Err(e)) => {
                            self.send_error(&objects::generic_store_error(e)).await;
                            return;
                        }
                        None => return,
                    };
                    last_revision = event.revision();
                    match self.translate(&def, &event) {
                        Ok(Some((ty, obj))) => {
                            let obj = self.render(&def, obj, r.output);
                            if !self.send(ty, obj).await {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.send_error(&e).await;
                            return;
                        }
                    }
                }
            }
        }
    }
}
