//! Loki's `logproto.Pusher/Push` gRPC service, for clients that push over gRPC.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};

use proto::logproto::pusher_server::{Pusher, PusherServer};
use proto::logproto::{PushRequest, PushResponse};

use crate::distributor::{Distributor, PushError, PushHeaders};

/// The Pusher service over a distributor.
pub struct PusherService {
    distributor: Arc<Distributor>,
}

fn status(e: PushError) -> Status {
    match e.status {
        400 | 413 | 422 => Status::invalid_argument(e.message),
        401 => Status::unauthenticated(e.message),
        429 => Status::resource_exhausted(e.message),
        503 => Status::unavailable(e.message),
        _ => Status::internal(e.message),
    }
}

#[tonic::async_trait]
impl Pusher for PusherService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let org_id = request.metadata().get("x-scope-orgid").and_then(|v| v.to_str().ok()).map(str::to_string);
        // One validation path for every transport: re-frame as the HTTP protobuf body.
        let raw = request.into_inner().encode_to_vec();
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .map_err(|e| Status::internal(format!("re-encoding push: {e}")))?;
        let headers = PushHeaders { org_id: org_id.as_deref(), content_type: Some("application/x-protobuf"), content_encoding: None };
        self.distributor.push_body(headers, body.into()).await.map_err(status)?;
        Ok(Response::new(PushResponse {}))
    }
}

/// The tonic service to add to the gRPC server.
pub fn pusher_service(distributor: Arc<Distributor>) -> PusherServer<PusherService> {
    PusherServer::new(PusherService { distributor }).max_decoding_message_size(crate::http::MAX_BODY_BYTES)
}
