//! The envelope of every message: request and reply lines, their versions,
//! error codes and deadlines, and the parsing that never trusts a line before
//! its version is known.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, REPLY_LINE_MAX_BYTES, REQUEST_LINE_MAX_BYTES, Reply,
    Request,
};

/// A request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// [`OLDEST_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`]; the reply comes
    /// in the same version.
    pub version: u32,
    /// Chosen by the client, echoed in the reply. 0 is best avoided: replies
    /// to lines whose id could not be read carry 0.
    pub id: u64,
    /// The latest time the agent may act on the request, in milliseconds on
    /// `CLOCK_BOOTTIME` (the agent's clock: `status`'s `taken.monotonic-ms`).
    /// A client sets it a little before it gives up waiting, so that an
    /// answer sent at the deadline still reaches it. Without it the agent
    /// gives the request [`super::DEADLINE_DEFAULT`] from its receipt.
    #[serde(
        rename = "deadline-ms",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline_ms: Option<u64>,
    pub request: Request,
}

/// A reply line: `ok` with `result`, or not `ok` with `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyFrame {
    pub version: u32,
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RemoteError>,
}

impl ReplyFrame {
    pub fn success(id: u64, result: Reply) -> ReplyFrame {
        ReplyFrame {
            version: PROTOCOL_VERSION,
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn failure(id: u64, error: RemoteError) -> ReplyFrame {
        ReplyFrame {
            version: PROTOCOL_VERSION,
            id,
            ok: false,
            result: None,
            error: Some(error),
        }
    }

    /// The error reply to a line that could not be attributed to a request
    /// (id 0: too many clients, no request in time, a line too long): in the
    /// oldest version, the one every client reads.
    pub fn unattributed(error: RemoteError) -> ReplyFrame {
        ReplyFrame::failure(0, error).in_version(OLDEST_PROTOCOL_VERSION)
    }

    /// The reply as protocol `version` says it: version 1 knows no `expired`
    /// and its clients would fail to read it, so they get `busy` (what a full
    /// queue answers), with the same message.
    pub fn in_version(mut self, version: u32) -> ReplyFrame {
        self.version = version;
        if let Some(error) = self.error.as_mut()
            && version < error.code.since_version()
        {
            error.code = ErrorCode::Busy;
        }
        self
    }

    /// The reply as one line with its newline. A reply over
    /// [`REPLY_LINE_MAX_BYTES`] becomes a `failed` error instead.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = serde_json::to_vec(self).map_err(|e| e.to_string());
        let mut line = match encoded {
            Ok(line) if line.len() <= REPLY_LINE_MAX_BYTES => line,
            Ok(line) => self.failure_line(format!(
                "reply of {} bytes exceeds the {REPLY_LINE_MAX_BYTES}-byte limit",
                line.len()
            )),
            Err(e) => self.failure_line(format!("cannot encode the reply: {e}")),
        };
        line.push(b'\n');
        line
    }

    fn failure_line(&self, message: String) -> Vec<u8> {
        let frame = ReplyFrame::failure(self.id, RemoteError::new(ErrorCode::Failed, message))
            .in_version(self.version);
        // A failure frame holds two short strings and numbers: it always encodes.
        serde_json::to_vec(&frame).unwrap_or_default()
    }
}

/// Error codes. New codes need a new protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, missing or mistyped members, unknown kind, line
    /// too long.
    BadRequest,
    /// `version` is not one this agent speaks.
    UnsupportedVersion,
    /// A mutating request from a peer that is not root.
    Forbidden,
    /// Too many clients, the request queue is full, or no status yet: retry.
    Busy,
    /// No complete request in time.
    Timeout,
    /// The agent tried and failed (the message says why).
    Failed,
    /// Version 2: the request's deadline passed before the agent could act on
    /// it (read too late, or not taken by the agent's loop in time); nothing
    /// was done.
    Expired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Failed => "failed",
            ErrorCode::Expired => "expired",
        }
    }

    /// The first protocol version with this code.
    pub fn since_version(self) -> u32 {
        match self {
            ErrorCode::Expired => 2,
            _ => 1,
        }
    }
}

/// An error the agent answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub code: ErrorCode,
    pub message: String,
}

impl RemoteError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RemoteError {
        RemoteError {
            code,
            message: message.into(),
        }
    }
}

/// A request line the server cannot take: the version and id to answer with
/// (the oldest version and id 0 when they could not be read) and the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub version: u32,
    pub id: u64,
    pub error: RemoteError,
}

impl Rejected {
    /// The error reply.
    pub fn reply(self) -> ReplyFrame {
        ReplyFrame::failure(self.id, self.error).in_version(self.version)
    }
}

/// Parses one request line (without its newline). The version is checked
/// before the request itself, so a newer client's unknown kinds are answered
/// `unsupported-version`, not `bad-request`.
pub fn parse_request(line: &[u8]) -> Result<RequestFrame, Rejected> {
    let oldest = OLDEST_PROTOCOL_VERSION;
    if line.len() > REQUEST_LINE_MAX_BYTES {
        return Err(bad_request(oldest, 0, too_long_message()));
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| bad_request(oldest, 0, format!("request is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad_request(
            oldest,
            0,
            "request is not a JSON object".into(),
        ));
    };
    let id_value = map.get("id");
    let id = id_value.and_then(Value::as_u64).unwrap_or(0);
    let version = supported_version(map.get("version")).map_err(|error| Rejected {
        version: oldest,
        id,
        error,
    })?;
    // From here on the answer is in the client's version.
    let bad = |id, message: String| bad_request(version, id, message);
    match id_value {
        None => return Err(bad(0, "missing id".into())),
        Some(v) if v.as_u64().is_none() => {
            return Err(bad(0, "id must be an unsigned integer".into()));
        }
        Some(_) => {}
    }
    let deadline_ms = match map.get("deadline-ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad(
                id,
                "deadline-ms must be an unsigned integer (milliseconds on CLOCK_BOOTTIME)".into(),
            )
        })?),
    };
    let request = map
        .get("request")
        .ok_or_else(|| bad(id, "missing request".into()))?;
    let request =
        Request::deserialize(request).map_err(|e| bad(id, format!("bad request: {e}")))?;
    Ok(RequestFrame {
        version,
        id,
        deadline_ms,
        request,
    })
}

fn bad_request(version: u32, id: u64, message: String) -> Rejected {
    Rejected {
        version,
        id,
        error: RemoteError::new(ErrorCode::BadRequest, message),
    }
}

/// The `version` member, if this agent speaks it.
fn supported_version(value: Option<&Value>) -> Result<u32, RemoteError> {
    let bad = |message: String| RemoteError::new(ErrorCode::BadRequest, message);
    let version = match value {
        None => return Err(bad(format!("missing version ({})", supported()))),
        Some(v) => v.as_u64().ok_or_else(|| {
            bad(format!(
                "version must be an unsigned integer ({})",
                supported()
            ))
        })?,
    };
    match u32::try_from(version) {
        Ok(v) if (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v) => Ok(v),
        _ => Err(RemoteError::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "protocol version {version} is not supported ({})",
                supported()
            ),
        )),
    }
}

fn supported() -> String {
    format!("this agent speaks versions {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}")
}

pub(crate) fn too_long_message() -> String {
    format!("request line longer than {REQUEST_LINE_MAX_BYTES} bytes")
}

/// Parses a reply line; the version is checked first so that a newer agent's
/// answer is reported as such rather than as a shape error. An error reply in
/// an older version is read too: the agent answers lines it could not
/// attribute (and an older agent answers a request in a version it does not
/// speak) in the oldest version, whose error codes every client knows.
pub fn decode_reply(line: &[u8]) -> Result<ReplyFrame, String> {
    /// The frame with its result left undecoded: the version is checked
    /// before anything else is trusted, and a status result (by far the
    /// largest) is decoded straight into its struct instead of through the
    /// internally tagged enum, which would buffer the whole tree first.
    #[derive(Deserialize)]
    struct RawFrame<'a> {
        version: Option<u64>,
        id: Option<u64>,
        ok: Option<bool>,
        #[serde(borrow, default)]
        result: Option<&'a serde_json::value::RawValue>,
        #[serde(default)]
        error: Option<RemoteError>,
    }
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }
    let raw: RawFrame<'_> =
        serde_json::from_slice(line).map_err(|e| format!("reply is not JSON: {e}"))?;
    let version = match raw.version.and_then(|v| u32::try_from(v).ok()) {
        Some(PROTOCOL_VERSION) => PROTOCOL_VERSION,
        Some(v)
            if (OLDEST_PROTOCOL_VERSION..PROTOCOL_VERSION).contains(&v)
                && raw.ok == Some(false) =>
        {
            v
        }
        _ => {
            return Err(format!(
                "the agent speaks protocol version {}, this client {PROTOCOL_VERSION}",
                raw.version
                    .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
            ));
        }
    };
    let bad = |e: serde_json::Error| format!("bad reply: {e}");
    let (Some(id), Some(ok)) = (raw.id, raw.ok) else {
        return Err("bad reply: missing field `id` or `ok`".into());
    };
    let result = match raw.result {
        None => None,
        Some(r) => {
            let kind: Kind = serde_json::from_str(r.get()).map_err(bad)?;
            Some(if kind.kind == "status" {
                Reply::Status(Box::new(serde_json::from_str(r.get()).map_err(bad)?))
            } else {
                serde_json::from_str(r.get()).map_err(bad)?
            })
        }
    };
    let frame = ReplyFrame {
        version,
        id,
        ok,
        result,
        error: raw.error,
    };
    match (frame.ok, &frame.result, &frame.error) {
        (true, Some(_), None) | (false, None, Some(_)) => Ok(frame),
        _ => Err("reply must carry result when ok, error otherwise".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{MaintenanceMode, Transition};

    fn rejected(line: &str) -> Rejected {
        parse_request(line.as_bytes()).expect_err(line)
    }

    #[test]
    fn requests_parse_with_their_documented_shapes() {
        let cases = [
            (r#"{"kind":"status"}"#, Request::STATUS),
            (
                r#"{"kind":"set-maintenance","mode":"global"}"#,
                Request::SetMaintenance {
                    mode: MaintenanceMode::Global,
                },
            ),
            (
                r#"{"kind":"vm-start","paused":true}"#,
                Request::VmStart { paused: true },
            ),
            (r#"{"kind":"vm-start"}"#, Request::VmStart { paused: false }),
            (r#"{"kind":"vm-shutdown"}"#, Request::VmShutdown),
            (r#"{"kind":"vm-poweroff"}"#, Request::VmPoweroff),
            (r#"{"kind":"check-liveliness"}"#, Request::CheckLiveliness),
            (
                r#"{"kind":"transitions","limit":5}"#,
                Request::Transitions { limit: Some(5) },
            ),
        ];
        for (json, want) in cases {
            for (version, deadline) in [(1, ""), (2, r#""deadline-ms":123456,"#)] {
                let line = format!(r#"{{"version":{version},"id":7,{deadline}"request":{json}}}"#);
                let frame = parse_request(line.as_bytes()).expect(json);
                assert_eq!((frame.version, frame.id), (version, 7));
                assert_eq!(frame.deadline_ms, (version == 2).then_some(123_456));
                assert_eq!(frame.request, want);
                assert_eq!(frame.request.kind(), json.split('"').nth(3).unwrap());
                // And back: what we send is what we parse.
                let sent = serde_json::to_vec(&frame).unwrap();
                assert_eq!(parse_request(&sent).unwrap(), frame);
            }
        }
    }

    #[test]
    fn bad_lines_are_rejected_with_the_right_code_id_and_version() {
        let r = rejected("{nope");
        assert_eq!(
            (r.version, r.id, r.error.code),
            (1, 0, ErrorCode::BadRequest)
        );
        assert_eq!(rejected("[1]").error.code, ErrorCode::BadRequest);
        let r = rejected(r#"{"version":3,"id":9,"request":{"kind":"teleport"}}"#);
        assert_eq!(
            (r.version, r.id, r.error.code),
            (1, 9, ErrorCode::UnsupportedVersion)
        );
        assert!(
            r.error.message.contains("versions 1 to 2"),
            "{}",
            r.error.message
        );
        let r = rejected(r#"{"id":3,"request":{"kind":"status"}}"#);
        assert_eq!((r.id, r.error.code), (3, ErrorCode::BadRequest));
        let r = rejected(r#"{"version":1,"id":4,"request":{"kind":"teleport"}}"#);
        assert_eq!(
            (r.version, r.id, r.error.code),
            (1, 4, ErrorCode::BadRequest)
        );
        let r = rejected(r#"{"version":2,"id":4,"request":{"kind":"teleport"}}"#);
        assert_eq!(
            (r.version, r.id, r.error.code),
            (2, 4, ErrorCode::BadRequest)
        );
        let r = rejected(r#"{"version":1,"id":-1,"request":{"kind":"status"}}"#);
        assert_eq!((r.id, r.error.code), (0, ErrorCode::BadRequest));
        let r = rejected(
            r#"{"version":1,"id":5,"request":{"kind":"set-maintenance","mode":"sideways"}}"#,
        );
        assert_eq!((r.id, r.error.code), (5, ErrorCode::BadRequest));
        for deadline in ["-1", "1.5", "\"soon\""] {
            let r = rejected(&format!(
                r#"{{"version":2,"id":6,"deadline-ms":{deadline},"request":{{"kind":"status"}}}}"#
            ));
            assert_eq!(
                (r.id, r.error.code),
                (6, ErrorCode::BadRequest),
                "{deadline}"
            );
            assert!(
                r.error.message.contains("deadline-ms"),
                "{}",
                r.error.message
            );
        }
        let long = vec![b' '; REQUEST_LINE_MAX_BYTES + 1];
        assert_eq!(
            parse_request(&long).unwrap_err().error.code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn replies_round_trip_and_must_be_consistent() {
        let ok = ReplyFrame::success(3, Reply::VmStart { paused: true });
        let line = ok.encode();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":2,\"id\":3,\"ok\":true,\"result\":{\"kind\":\"vm-start\",\"paused\":true}}\n"
        );
        assert_eq!(decode_reply(&line[..line.len() - 1]).unwrap(), ok);
        let err = ReplyFrame::unattributed(RemoteError::new(ErrorCode::Busy, "later"));
        let line = err.encode();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"version\":1,\"id\":0,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"later\"}}\n"
        );
        // A version-1 error (unattributed, or an older agent's) is read.
        assert_eq!(decode_reply(&line[..line.len() - 1]).unwrap(), err);
        assert!(decode_reply(br#"{"version":2,"id":1,"ok":true}"#).is_err());
        for newer_or_older in [
            &br#"{"version":3,"id":1,"ok":true,"result":{"kind":"vm-shutdown"}}"#[..],
            br#"{"version":1,"id":1,"ok":true,"result":{"kind":"vm-shutdown"}}"#,
        ] {
            let e = decode_reply(newer_or_older).unwrap_err();
            assert!(e.contains("speaks protocol version"), "{e}");
        }
    }

    #[test]
    fn version_one_replies_know_no_expired() {
        let expired = RemoteError::new(ErrorCode::Expired, "too late");
        let v2 = ReplyFrame::failure(4, expired.clone()).in_version(2);
        assert_eq!(v2.error.as_ref().unwrap().code, ErrorCode::Expired);
        let line = String::from_utf8(v2.encode()).unwrap();
        assert!(line.contains(r#""code":"expired""#), "{line}");
        let v1 = ReplyFrame::failure(4, expired).in_version(1);
        assert_eq!(v1.version, 1);
        assert_eq!(
            v1.error,
            Some(RemoteError::new(ErrorCode::Busy, "too late"))
        );
        let forbidden = RemoteError::new(ErrorCode::Forbidden, "no");
        let v1 = ReplyFrame::failure(4, forbidden.clone()).in_version(1);
        assert_eq!(v1.error, Some(forbidden));
    }

    #[test]
    fn an_oversized_reply_becomes_a_failure() {
        let big = Reply::Transitions {
            transitions: vec![
                Transition {
                    from: "x".repeat(1024),
                    to: String::new(),
                    monotonic_ms: 0,
                    wall_unix: 0,
                };
                REPLY_LINE_MAX_BYTES / 1024 + 1
            ],
        };
        let line = ReplyFrame::success(8, big).encode();
        let frame = decode_reply(&line[..line.len() - 1]).unwrap();
        assert_eq!(frame.id, 8);
        assert_eq!(frame.error.unwrap().code, ErrorCode::Failed);
    }
}
