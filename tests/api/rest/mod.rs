//! authentik's REST contract on the gRPC port: driven with authentik's own
//! Python client (`authentik-client` 2025.10.4, unmodified; see
//! `client.py`) and compared field by field with the same operation over
//! gRPC ([`client`]), and byte by byte over raw HTTP/1.1 and HTTP/2
//! ([`raw`]).

mod client;
mod raw;

use std::{net::SocketAddr, process::Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value, json};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tonic::{Code, Status};

use crate::helpers::{TestApp, pb, skip};

/// Runs `calls` through the official Python client against `app` (see
/// `client.py`); `None` (a skip, a failure under CI) when Python or the
/// client is missing.
pub async fn python_client(app: &TestApp, calls: &Value) -> Option<Vec<Value>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/rest/client.py");
    let mut child = match tokio::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://{}", app.addr))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            skip(&format!("python3 is missing: {err}"));
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(calls.to_string().as_bytes())
        .await
        .expect("write calls");
    drop(stdin);
    let output = child.wait_with_output().await.expect("client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'authentik_client'") {
        skip("the Python package authentik-client is missing (.ci/run installs it)");
        return None;
    }
    assert!(output.status.success(), "client.py failed:\n{stderr}");
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("client.py prints JSON");
    for (call, result) in calls.as_array().expect("calls").iter().zip(&results) {
        assert!(
            result.get("client_error").is_none(),
            "the client could not use the answer to {call}: {result}"
        );
    }
    Some(results)
}

/// A source as authentik's serializer (and the Python client's model)
/// shows it, from the same source read over gRPC.
pub fn authentik_json(source: &pb::PlexSource) -> Value {
    let policy = pb::PolicyEngineMode::try_from(source.policy_engine_mode).unwrap();
    let user = pb::UserMatchingMode::try_from(source.user_matching_mode).unwrap();
    let group = pb::GroupMatchingMode::try_from(source.group_matching_mode).unwrap();
    json!({
        "pk": source.pk,
        "name": source.name,
        "slug": source.slug,
        "enabled": source.enabled,
        "authentication_flow": source.authentication_flow,
        "enrollment_flow": source.enrollment_flow,
        "user_property_mappings": source.user_property_mappings,
        "group_property_mappings": source.group_property_mappings,
        "component": source.component,
        "verbose_name": source.verbose_name,
        "verbose_name_plural": source.verbose_name_plural,
        "meta_model_name": source.meta_model_name,
        "policy_engine_mode": match policy {
            pb::PolicyEngineMode::All => "all",
            pb::PolicyEngineMode::Any => "any",
            pb::PolicyEngineMode::Unspecified => "?",
        },
        "user_matching_mode": match user {
            pb::UserMatchingMode::Identifier => "identifier",
            pb::UserMatchingMode::EmailLink => "email_link",
            pb::UserMatchingMode::EmailDeny => "email_deny",
            pb::UserMatchingMode::UsernameLink => "username_link",
            pb::UserMatchingMode::UsernameDeny => "username_deny",
            pb::UserMatchingMode::Unspecified => "?",
        },
        "managed": source.managed,
        "user_path_template": source.user_path_template,
        "icon": source.icon,
        "group_matching_mode": match group {
            pb::GroupMatchingMode::Identifier => "identifier",
            pb::GroupMatchingMode::NameLink => "name_link",
            pb::GroupMatchingMode::NameDeny => "name_deny",
            pb::GroupMatchingMode::Unspecified => "?",
        },
        "client_id": source.client_id,
        "allowed_servers": source.allowed_servers,
        "allow_friends": source.allow_friends,
        "plex_token": source.plex_token,
    })
}

/// Asserts that a REST source equals the gRPC one, naming the first field
/// that differs.
pub fn assert_same_source(rest: &Value, grpc: &pb::PlexSource, what: &str) {
    let expected = authentik_json(grpc);
    let (Some(rest), Some(expected)) = (rest.as_object(), expected.as_object()) else {
        panic!("{what}: not an object: {rest}");
    };
    assert_eq!(
        rest.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: every field, in authentik's order"
    );
    for (field, value) in expected {
        assert_eq!(&rest[field], value, "{what}: field {field}");
    }
}

/// The answer authentik gives for the error gRPC reports as `status`:
/// HTTP status and body. Validation errors are keyed by field (a list
/// item's under its index, for `allowed_servers`); `anonymous_object` is
/// a call without credentials on a source's route, which authentik answers
/// as a permission error.
pub fn rest_error_of(status: &Status, anonymous_object: bool) -> (u64, Value) {
    let detail = |code: u64, message: &str| (code, json!({ "detail": message }));
    match status.code() {
        Code::Unauthenticated if anonymous_object => {
            detail(403, "You do not have permission to perform this action.")
        }
        Code::Unauthenticated | Code::PermissionDenied => detail(403, status.message()),
        Code::NotFound => detail(404, status.message()),
        Code::Unavailable => detail(503, "Service temporarily unavailable, try again later."),
        Code::InvalidArgument | Code::AlreadyExists => {
            let mut fields = Map::new();
            for (field, message) in crate::write::violations(status) {
                match field.split_once('[') {
                    Some((list, index)) if list == "allowed_servers" => {
                        let index = index.trim_end_matches(']');
                        let items = fields.entry(list.to_owned()).or_insert_with(|| json!({}));
                        items
                            .as_object_mut()
                            .unwrap()
                            .entry(index.to_owned())
                            .or_insert_with(|| json!([]))
                            .as_array_mut()
                            .unwrap()
                            .push(json!(message));
                    }
                    // A related list reports its first bad item.
                    Some((list, _)) => {
                        fields
                            .entry(list.to_owned())
                            .or_insert_with(|| json!([message]));
                    }
                    None => fields
                        .entry(field)
                        .or_insert_with(|| json!([]))
                        .as_array_mut()
                        .unwrap()
                        .push(json!(message)),
                }
            }
            (400, Value::Object(fields))
        }
        other => panic!("no REST counterpart expected for {other:?}: {status:?}"),
    }
}

/// An answer read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Which HTTP a raw request speaks.
#[derive(Debug, Clone, Copy)]
pub enum Http {
    One,
    /// HTTP/2 with prior knowledge, as `curl --http2-prior-knowledge`.
    Two,
}

/// One request on a fresh connection, with exactly these headers.
pub async fn raw(
    addr: SocketAddr,
    http: Http,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request");
    let response = match http {
        Http::One => {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(connection);
            sender.send_request(request).await.expect("HTTP/1.1 answer")
        }
        Http::Two => {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("HTTP/2 handshake");
            tokio::spawn(connection);
            sender.send_request(request).await.expect("HTTP/2 answer")
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// GET requests one after another on one HTTP/1.1 connection (each with
/// its own headers); the statuses, or fewer when the connection closed.
pub async fn raw_many(addr: SocketAddr, requests: &[(Vec<(&str, &str)>, String)]) -> Vec<u16> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let mut statuses = Vec::new();
    for (headers, path) in requests {
        let mut request = hyper::Request::builder()
            .method("GET")
            .uri(format!("http://{addr}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::new())).expect("request");
        if sender.ready().await.is_err() {
            break;
        }
        let Ok(response) = sender.send_request(request).await else {
            break;
        };
        statuses.push(response.status().as_u16());
        let _ = response.into_body().collect().await;
    }
    statuses
}

/// A request over HTTP/1.1 that announces `length` bytes of body and sends
/// none; the status, if the server answers within 5 s.
pub async fn raw_stalled(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("head");
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer[..read]);
    text.split(' ').nth(1)?.parse().ok()
}
