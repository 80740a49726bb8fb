//! Errors in the OpenAI shape: `{"error":{"message","type","param","code"}}`
//! with the status OpenAI gives for the same problem, so the SDKs raise the
//! exception their users expect (`BadRequestError`, `NotFoundError`, …).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OpenAiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `server_error`, …
    pub kind: &'static str,
    /// The request field at fault (`messages[2].content`), if one is.
    pub param: Option<String>,
    /// A stable code (`model_not_found`, `conversation_busy`, …).
    pub code: Option<&'static str>,
    /// Whether a client may send the same request again by itself. A turn
    /// that ran (and maybe ran tools) is never retried automatically: the
    /// SDKs read `x-should-retry: false`.
    pub retry: bool,
}

impl OpenAiError {
    /// A refused request (`400 invalid_request_error`).
    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        OpenAiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
            retry: false,
        }
    }

    /// A refused request about one field, with a code.
    pub fn unsupported(message: impl Into<String>, param: &str, code: &'static str) -> Self {
        OpenAiError {
            code: Some(code),
            ..Self::invalid(message, Some(param.to_string()))
        }
    }

    /// An unknown model (`404 model_not_found`, as OpenAI answers it).
    pub fn no_model(model: &str) -> Self {
        OpenAiError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "The model `{}` does not exist; this endpoint serves `{}` (GET /v1/models lists it)",
                chitin_sandbox::text::one_line(model, 80),
                super::MODEL_ID
            ),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
            retry: false,
        }
    }

    /// Another status and type.
    pub fn with_status(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        OpenAiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: Some(code),
            retry: false,
        }
    }

    /// A turn that failed after it started (`500 server_error`, never
    /// retried by the client on its own).
    pub fn turn_failed(message: impl Into<String>) -> Self {
        Self::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "turn_failed",
            message,
        )
    }

    /// The JSON body: `{"error":{…}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        r.headers_mut().insert(
            "x-should-retry",
            HeaderValue::from_static(if self.retry { "true" } else { "false" }),
        );
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let e = OpenAiError::no_model("gpt-4o");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let b = e.body();
        assert_eq!(b["error"]["code"], "model_not_found");
        assert_eq!(b["error"]["param"], "model");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert!(b["error"]["message"].as_str().unwrap().contains("gpt-4o"));
        let r = OpenAiError::invalid("x", None).into_response();
        assert_eq!(r.headers()["x-should-retry"], "false");
    }
}
