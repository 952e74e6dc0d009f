//! Jupyter messages on the wire: identities, the `<IDS|MSG>` delimiter, the
//! HMAC-SHA256 signature, then header, parent header, metadata and content
//! as JSON, then binary buffers. Every received message's signature is
//! checked in constant time before anything else is read.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use zeromq::ZmqMessage;

const DELIMITER: &[u8] = b"<IDS|MSG>";
const PROTOCOL_VERSION: &str = "5.3";

/// One message, as the kernel reads and writes it.
#[derive(Debug, Clone)]
pub struct Message {
    /// ROUTER identities of the sender (replies go back to them).
    pub identities: Vec<Bytes>,
    pub header: Value,
    pub parent_header: Value,
    pub metadata: Value,
    pub content: Value,
    pub buffers: Vec<Bytes>,
}

impl Message {
    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }

    /// A new message of `msg_type` answering (or caused by) `self`.
    pub fn child(&self, msg_type: &str, content: Value, session: &str) -> Message {
        Message {
            identities: self.identities.clone(),
            header: header(msg_type, session),
            parent_header: self.header.clone(),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        }
    }
}

pub fn header(msg_type: &str, session: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "session": session,
        "username": "monologue",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

/// Signs and verifies with the connection file's key (an empty key: no
/// signing, as Jupyter specifies).
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: &str) -> Self {
        Signer {
            key: key.as_bytes().to_vec(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac
    }

    fn sign(&self, parts: &[&[u8]]) -> String {
        if self.key.is_empty() {
            return String::new();
        }
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> Result<(), String> {
        if self.key.is_empty() {
            return Ok(());
        }
        let expected =
            hex::decode(signature).map_err(|_| "the signature is not hex".to_string())?;
        self.mac(parts)
            .verify_slice(&expected)
            .map_err(|_| "the signature does not match".to_string())
    }

    /// Parse and verify a received multipart message.
    pub fn decode(&self, frames: ZmqMessage) -> Result<Message, String> {
        let frames = frames.into_vec();
        let split = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .ok_or("no <IDS|MSG> delimiter")?;
        let rest = &frames[split + 1..];
        if rest.len() < 5 {
            return Err(format!(
                "{} frames after the delimiter, at least 5 expected",
                rest.len()
            ));
        }
        let parts: Vec<&[u8]> = rest[1..5].iter().map(|b| b.as_ref()).collect();
        self.verify(&rest[0], &parts)?;
        let json = |i: usize, what: &str| -> Result<Value, String> {
            serde_json::from_slice(&rest[i]).map_err(|e| format!("{what} is not JSON: {e}"))
        };
        let message = Message {
            identities: frames[..split].to_vec(),
            header: json(1, "header")?,
            parent_header: json(2, "parent header")?,
            metadata: json(3, "metadata")?,
            content: json(4, "content")?,
            buffers: rest[5..].to_vec(),
        };
        if !message.header.is_object() || message.msg_type().is_empty() {
            return Err("the header has no msg_type".into());
        }
        if !message.content.is_object() {
            return Err("the content is not an object".into());
        }
        Ok(message)
    }

    /// The frames of `message`, signed.
    pub fn encode(&self, message: &Message) -> ZmqMessage {
        let parts: Vec<Vec<u8>> = [
            &message.header,
            &message.parent_header,
            &message.metadata,
            &message.content,
        ]
        .iter()
        .map(|v| serde_json::to_vec(v).expect("JSON values serialize"))
        .collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let signature = self.sign(&refs);
        let mut frames: Vec<Bytes> = message.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.extend(parts.into_iter().map(Bytes::from));
        frames.extend(message.buffers.iter().cloned());
        ZmqMessage::try_from(frames).expect("a message has frames")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            identities: vec![Bytes::from_static(b"peer")],
            header: header("execute_request", "s"),
            parent_header: json!({}),
            metadata: json!({}),
            content: json!({"code": "1 + 1"}),
            buffers: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_tampering() {
        let signer = Signer::new("secret");
        let m = signer.decode(signer.encode(&sample())).unwrap();
        assert_eq!(m.content["code"], "1 + 1");
        assert_eq!(m.identities, vec![Bytes::from_static(b"peer")]);
        // A different key, or a changed content frame, is refused.
        let err = Signer::new("other")
            .decode(signer.encode(&sample()))
            .unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        let mut frames = signer.encode(&sample()).into_vec();
        let last = frames.len() - 1;
        frames[last] = Bytes::from_static(br#"{"code": "2 + 2"}"#);
        let err = signer
            .decode(ZmqMessage::try_from(frames).unwrap())
            .unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn malformed_frames_are_errors() {
        let signer = Signer::new("");
        let bad = |frames: Vec<&'static [u8]>| {
            let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from_static).collect();
            signer
                .decode(ZmqMessage::try_from(frames).unwrap())
                .unwrap_err()
        };
        assert!(bad(vec![b"x"]).contains("delimiter"));
        assert!(bad(vec![DELIMITER, b"", b"{}"]).contains("frames"));
        assert!(
            bad(vec![DELIMITER, b"", b"nope", b"{}", b"{}", b"{}"]).contains("header is not JSON")
        );
        assert!(bad(vec![DELIMITER, b"", b"{}", b"{}", b"{}", b"{}"]).contains("msg_type"));
    }
}
