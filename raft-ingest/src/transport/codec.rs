//! postcard encoding of openraft messages, and the reply envelope.

use proto::raft::RaftReply;
use proto::raft::raft_reply::Result as Reply;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A message that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("raft transport codec: {0}")]
pub struct CodecError(String);

/// Encodes `value` with postcard.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(|e| CodecError(e.to_string()))
}

/// Decodes a postcard `payload`.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    postcard::from_bytes(payload).map_err(|e| CodecError(e.to_string()))
}

/// A successful reply carrying `value`.
pub fn ok_reply<T: Serialize>(value: &T) -> RaftReply {
    match encode(value) {
        Ok(bytes) => RaftReply { result: Some(Reply::Payload(bytes)) },
        Err(e) => err_reply(e),
    }
}

/// A reply reporting `error`.
pub fn err_reply(error: impl std::fmt::Display) -> RaftReply {
    RaftReply { result: Some(Reply::Error(error.to_string())) }
}

/// The payload of a reply, or the error the receiver reported.
pub fn reply_payload(reply: RaftReply) -> Result<Vec<u8>, String> {
    match reply.result {
        Some(Reply::Payload(p)) => Ok(p),
        Some(Reply::Error(e)) => Err(e),
        None => Err("empty reply".into()),
    }
}
