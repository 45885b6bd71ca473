//! The `{"data": ..., "error": "..."}` envelope of every JSON answer, and errors as statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vessel_engine::EngineError;
use vessel_store::StoreError;

/// A JSON answer: `{"data": data, "error": ""}` with 200.
pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    Json(crate::model::Envelope {
        data,
        error: String::new(),
    })
    .into_response()
}

/// An error answer: a status and `{"data": null, "error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong and, where it helps, how to fix it.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        (
            self.status,
            Json(crate::model::ErrorBody {
                data: None,
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NoSuchKeyspace(_) | StoreError::NoSuchTable(_) => StatusCode::NOT_FOUND,
            StoreError::InvalidName { .. } => StatusCode::BAD_REQUEST,
            StoreError::Conflict(_) | StoreError::DuplicateKey { .. } => StatusCode::CONFLICT,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Environment(_) | StoreError::Backend(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::Script(_) | EngineError::Invalid(_) => {
                ApiError::bad_request(e.to_string())
            }
            e if e.is_transient() => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// A JSON or YAML request body (by `Content-Type`; JSON when none is given).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let kind = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if kind.contains("yaml") {
        serde_norway::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("request body (YAML): {e}")))
    } else if kind.contains("json") {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("request body (JSON): {e}")))
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("request body of type '{kind}': send application/json or application/yaml"),
        ))
    }
}

/// Path parameters whose rejection (a run id that is not a number, say) is an envelope too.
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}
