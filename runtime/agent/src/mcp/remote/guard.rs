//! The MCP transport's HTTP client, held to one server: every request the
//! SDK makes (POST, the event-stream GET, the session DELETE) is checked
//! against the configured target before it goes out through the vetted
//! [`super::egress`] client, and always carries the configured size limits.
//! The SDK only ever uses the configured URL; this makes that a rule. An
//! event over the cap is noted, since the SDK then reports only that the
//! connection closed.

use super::egress::{Refusal, Target};
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

type Failure = StreamableHttpError<reqwest::Error>;

/// A reqwest client that reaches only `target`.
#[derive(Clone)]
pub struct Guarded {
    http: reqwest::Client,
    target: Arc<Target>,
    limits: StreamableHttpResponseLimits,
    oversize: Arc<AtomicBool>,
}

impl Guarded {
    /// `http` held to `target`, reading at most `max_bytes` per JSON answer
    /// or SSE event.
    pub fn new(http: reqwest::Client, target: Target, max_bytes: usize) -> Self {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_json_response_size = max_bytes;
        limits.max_sse_event_size = max_bytes;
        limits.max_error_response_size = limits.max_error_response_size.min(max_bytes);
        Guarded {
            http,
            target: Arc::new(target),
            limits,
            oversize: Arc::default(),
        }
    }

    /// Set when an event over the cap ended a stream: the transport then
    /// reports only that the connection closed, so the connection reads
    /// (and clears) this to say why.
    pub fn oversize_flag(&self) -> Arc<AtomicBool> {
        self.oversize.clone()
    }

    /// `events`, noting an event over the cap.
    fn watch(&self, events: BoxedSseResponse) -> BoxedSseResponse {
        let oversize = self.oversize.clone();
        events
            .inspect(move |item| {
                if let Err(e) = item
                    && super::error::oversize_event(e)
                {
                    oversize.store(true, Ordering::SeqCst);
                }
            })
            .boxed()
    }

    fn check(&self, uri: &str) -> Result<(), Failure> {
        if self.target.admits(uri) {
            return Ok(());
        }
        let asked = reqwest::Url::parse(uri)
            .map(|u| super::egress::shown(&u))
            .unwrap_or_else(|_| chitin_sandbox::text::one_line(uri, 200));
        Err(StreamableHttpError::Io(std::io::Error::other(
            Refusal::OtherHost {
                asked,
                configured: self.target.origin(),
            },
        )))
    }

    /// The tighter of the SDK's limits and ours.
    fn limits(&self, asked: StreamableHttpResponseLimits) -> StreamableHttpResponseLimits {
        let mut limits = self.limits;
        limits.max_json_response_size = limits
            .max_json_response_size
            .min(asked.max_json_response_size);
        limits.max_sse_event_size = limits.max_sse_event_size.min(asked.max_sse_event_size);
        limits.max_error_response_size = limits
            .max_error_response_size
            .min(asked.max_error_response_size);
        limits
    }
}

impl StreamableHttpClient for Guarded {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            self.limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        let mut limits = self.limits;
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.check(&uri)?;
        let response = self
            .http
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                self.limits(limits),
            )
            .await?;
        Ok(match response {
            StreamableHttpPostResponse::Sse(events, session) => {
                StreamableHttpPostResponse::Sse(self.watch(events), session)
            }
            other => other,
        })
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Failure> {
        self.check(&uri)?;
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxedSseResponse, Failure> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            self.limits.max_sse_event_size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxedSseResponse, Failure> {
        self.check(&uri)?;
        let events = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size.min(self.limits.max_sse_event_size),
            )
            .await?;
        Ok(self.watch(events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ClientRequest, PingRequest, RequestId};

    #[tokio::test]
    async fn a_request_for_another_origin_never_leaves() {
        let target = Target::parse("http://127.0.0.1:9/mcp").unwrap();
        let http = crate::provider::http::builder().build().unwrap();
        let guarded = Guarded::new(http, target, 1024);
        let ping = ClientJsonRpcMessage::request(
            ClientRequest::PingRequest(PingRequest::default()),
            RequestId::Number(1),
        );
        let e = guarded
            .post_message(
                "http://127.0.0.2:9/mcp".into(),
                ping,
                None,
                None,
                HashMap::new(),
            )
            .await
            .unwrap_err();
        let StreamableHttpError::Io(io) = &e else {
            panic!("{e}");
        };
        let refusal = io.get_ref().and_then(|r| r.downcast_ref::<Refusal>());
        assert!(
            matches!(refusal, Some(Refusal::OtherHost { asked, .. }) if asked == "http://127.0.0.2:9/mcp"),
            "{e}"
        );
    }
}
