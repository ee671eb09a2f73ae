//! `AppError`: the one error type of the HTTP boundary, rendered as API.md's
//! `{"error": {"code", "message", "field"?}}` with a fitting status. Internal
//! causes are logged, never shown. Server only.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::error::ApiError;
use crate::store::StoreError;

/// An error answer of the HTTP API.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Validation {
        message: String,
        field: Option<String>,
    },
    #[error("Sign in first.")]
    Unauthorized,
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// 401 for a connection token that is expired (`token_expired`: fetch
    /// a new one) or not acceptable (`invalid_token`).
    #[error("{message}")]
    BadToken {
        code: &'static str,
        message: &'static str,
    },
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        message: &'static str,
    },
    #[error("This request came from another site and was refused.")]
    CrossSite,
    #[error("Not found.")]
    NotFound,
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("The request body did not arrive in time.")]
    RequestTimeout,
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error("Service unavailable.")]
    Unavailable,
    /// 503 with its own code and a `Retry-After`: the server cannot take
    /// this write right now, and will again.
    #[error("{message}")]
    Overloaded {
        code: &'static str,
        message: &'static str,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// A 400 `validation` error naming the offending field.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// A 403 with its own code.
    pub fn forbidden(code: &'static str, message: &'static str) -> Self {
        Self::Forbidden { code, message }
    }

    /// Status code and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation { .. } => (StatusCode::BAD_REQUEST, "validation"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::BadToken { code, .. } => (StatusCode::UNAUTHORIZED, code),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::CrossSite => (StatusCode::FORBIDDEN, "cross_site"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::QuotaExceeded(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::RateLimited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Overloaded { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The error as the client sees it (internal causes are logged here and
    /// replaced by a generic message).
    pub fn to_api_error(&self) -> ApiError {
        let (_, code) = self.status_and_code();
        let message = match self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "Something went wrong on our side. Try again in a moment.".to_owned()
            }
            other => other.to_string(),
        };
        let field = match self {
            Self::Validation { field, .. } => field.clone(),
            Self::Conflict { field, .. } => field.map(str::to_owned),
            _ => None,
        };
        ApiError {
            code: code.to_owned(),
            message,
            field,
        }
    }
}

/// Input checks written once for both sides produce `ApiError`s.
impl From<ApiError> for AppError {
    fn from(error: ApiError) -> Self {
        Self::Validation {
            message: error.message,
            field: error.field,
        }
    }
}

/// How a server function hands an error back (`?`): in the body as
/// API.md's shape, and as the HTTP status the REST route would answer.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        // Outside a server function (no response options) this is a no-op.
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(error.status_and_code().0);
        }
        error.to_api_error()
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            // A write outside the writer (a session, a sign-in) can meet a
            // full disk too.
            error if error.is_storage_full() => Self::Overloaded {
                code: "storage_full",
                message: "The server's storage is full. Nothing was written; try again later.",
                retry_after_secs: 30,
            },
            StoreError::Busy => Self::Overloaded {
                code: "busy",
                message: "The server is busy writing. Try again in a moment.",
                retry_after_secs: 1,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.to_string())
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ApiError,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let body = ErrorBody {
            error: self.to_api_error(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::RateLimited {
            retry_after_secs, ..
        }
        | Self::Overloaded {
            retry_after_secs, ..
        } = self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

/// `axum::Json` whose rejections speak API.md's error shape: 415 without a
/// JSON content type, 413 past the body limit, 400 naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::UnsupportedMediaType(
                "Send JSON with Content-Type: application/json.".into(),
            )),
            Err(JsonRejection::BytesRejection(rejection)) => {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Err(AppError::PayloadTooLarge)
                } else {
                    Err(AppError::Validation {
                        message: rejection.body_text(),
                        field: None,
                    })
                }
            }
            Err(rejection) => Err(AppError::Validation {
                message: format!("Invalid JSON body: {}", rejection.body_text()),
                field: None,
            }),
        }
    }
}

/// `axum::extract::Query` whose rejection speaks API.md's error shape (400
/// `validation`) instead of plain text.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::Validation {
                message: format!("Invalid query string: {}", rejection.body_text()),
                field: None,
            }),
        }
    }
}

/// Parses an id from a path; anything that is not a positive integer is
/// simply not found.
pub fn parse_id(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: AppError) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = error.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn validation_names_the_field() {
        let (status, body, _) = body_of(AppError::validation("title", "too long")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "validation");
        assert_eq!(body["error"]["field"], "title");
        assert_eq!(body["error"]["message"], "too long");
    }

    #[tokio::test]
    async fn internal_detail_is_not_shown() {
        let (status, body, _) = body_of(AppError::Internal("disk on fire at /x".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("disk"));
        assert!(body["error"].get("field").is_none());
    }

    #[tokio::test]
    async fn rate_limit_carries_retry_after() {
        let (status, body, retry) = body_of(AppError::RateLimited {
            code: "rate_limited",
            message: "slow down".into(),
            retry_after_secs: 7,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(retry.as_deref(), Some("7"));
    }
}
