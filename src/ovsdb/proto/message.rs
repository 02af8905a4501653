//! JSON-RPC 1.0 messages exactly as ovsdb-server speaks them.
//!
//! OVS classifies a message by which members are present, treating JSON `null` as absent:
//! `result` → reply, else `error` → error reply, else `id` → request, else notification
//! (`lib/jsonrpc.c` `jsonrpc_msg_from_json`). Any other member is a protocol error, which is
//! why a JSON-RPC 2.0 library (which always adds `"jsonrpc":"2.0"`) gets its connection
//! dropped. Errors may be a bare string or an object, and error replies carry no `result`.

use serde_json::{json, Map, Value};

/// One message on an OVSDB connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that expects a reply with the same id (from us, or the server's `echo`).
    Request { id: Value, method: String, params: Vec<Value> },
    /// A call without a reply: `update`, `update2`, `update3`, `locked`, `stolen`, `monitor_canceled`.
    Notification { method: String, params: Vec<Value> },
    /// A successful reply.
    Reply { id: Value, result: Value },
    /// A failed reply: `error` is a string (`"unknown method"`) or an object
    /// (`{"error": "unknown database", "details": …}`).
    Error { id: Value, error: Value },
}

/// A message whose members do not fit any of the four shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON-RPC message: {reason}")]
pub struct MessageError {
    pub reason: String,
}

fn bad(reason: impl Into<String>) -> MessageError {
    MessageError { reason: reason.into() }
}

fn take(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    match obj.remove(key) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    }
}

impl Message {
    /// Classifies a parsed JSON value by the rules of OVS's own reader.
    pub fn from_value(v: Value) -> Result<Message, MessageError> {
        let Value::Object(mut obj) = v else {
            return Err(bad("message is not a JSON object"));
        };
        let method = take(&mut obj, "method");
        let params = take(&mut obj, "params");
        let result = take(&mut obj, "result");
        let error = take(&mut obj, "error");
        let id = take(&mut obj, "id");
        if let Some(k) = obj.keys().next() {
            return Err(bad(format!("message has unexpected member {k:?}")));
        }
        if let Some(result) = result {
            let id = id.ok_or_else(|| bad("reply has no \"id\""))?;
            if method.is_some() || params.is_some() {
                return Err(bad("reply must not have \"method\" or \"params\""));
            }
            return Ok(Message::Reply { id, result });
        }
        if let Some(error) = error {
            let id = id.ok_or_else(|| bad("error reply has no \"id\""))?;
            return Ok(Message::Error { id, error });
        }
        let method = match method {
            Some(Value::String(m)) => m,
            Some(_) => return Err(bad("\"method\" is not a string")),
            None => return Err(bad("message has no \"method\", \"result\" or \"error\"")),
        };
        let params = match params {
            Some(Value::Array(p)) => p,
            Some(_) => return Err(bad("\"params\" must be a JSON array")),
            None => return Err(bad(format!("{method:?} request must have \"params\""))),
        };
        Ok(match id {
            Some(id) => Message::Request { id, method, params },
            None => Message::Notification { method, params },
        })
    }

    /// The wire form, as `jsonrpc_msg_to_json` writes it: requests always carry a `params`
    /// array, replies carry `"error": null`, notifications `"id": null`, never a `jsonrpc` member.
    pub fn to_value(&self) -> Value {
        match self {
            Message::Request { id, method, params } => json!({"method": method, "params": params, "id": id}),
            Message::Notification { method, params } => json!({"method": method, "params": params, "id": null}),
            Message::Reply { id, result } => json!({"result": result, "error": null, "id": id}),
            Message::Error { id, error } => json!({"error": error, "id": id}),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).expect("a serde_json::Value always serialises")
    }
}

/// Renders a server error value (string or object) in one line for humans.
pub fn describe_error(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let short = o.get("error").and_then(Value::as_str).unwrap_or("error");
            match o.get("details").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{short}: {d}"),
                _ => short.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message, MessageError> {
        Message::from_value(serde_json::from_str(s).unwrap())
    }

    #[test]
    fn server_shapes() {
        assert_eq!(
            parse(r#"{"id":0,"result":["OVN_Northbound","_Server"],"error":null}"#).unwrap(),
            Message::Reply {
                id: json!(0),
                result: json!(["OVN_Northbound", "_Server"])
            }
        );
        assert_eq!(
            parse(r#"{"id":2,"error":"unknown method"}"#).unwrap(),
            Message::Error {
                id: json!(2),
                error: json!("unknown method")
            }
        );
        assert_eq!(
            parse(r#"{"id":"echo","method":"echo","params":[]}"#).unwrap(),
            Message::Request {
                id: json!("echo"),
                method: "echo".into(),
                params: vec![]
            }
        );
        assert_eq!(
            parse(r#"{"id":null,"method":"update2","params":["m",{}]}"#).unwrap(),
            Message::Notification {
                method: "update2".into(),
                params: vec![json!("m"), json!({})]
            }
        );
    }

    #[test]
    fn rejects_what_ovs_rejects() {
        assert!(parse(r#"{"jsonrpc":"2.0","method":"list_dbs","params":[],"id":7}"#)
            .unwrap_err()
            .reason
            .contains("unexpected member \"jsonrpc\""));
        assert!(parse(r#"{"method":"echo","id":1}"#).is_err());
        assert!(parse(r#"{"method":"echo","params":{},"id":1}"#).is_err());
        assert!(parse(r#"{"result":1}"#).is_err());
        assert!(parse(r#"{}"#).is_err());
        assert!(Message::from_value(json!([1])).is_err());
    }

    #[test]
    fn wire_form_has_no_jsonrpc_member() {
        let r = Message::Request {
            id: json!(1),
            method: "list_dbs".into(),
            params: vec![],
        };
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            r#"{"method":"list_dbs","params":[],"id":1}"#
        );
        let e = Message::Reply {
            id: json!("echo"),
            result: json!([]),
        };
        assert_eq!(e.to_value(), json!({"result": [], "error": null, "id": "echo"}));
    }

    #[test]
    fn error_descriptions() {
        assert_eq!(describe_error(&json!("unknown method")), "unknown method");
        assert_eq!(
            describe_error(&json!({"error":"unknown database","details":"nosuchdb"})),
            "unknown database: nosuchdb"
        );
    }
}
