//! `ApiError`: the error shape of API.md (`code`, `message`, `field`), shared
//! by the REST API (wrapped as `{"error": ...}`) and the server functions, so
//! the UI shows the same codes and messages an integrator sees. Both sides.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A failed request as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[error("{message}")]
pub struct ApiError {
    /// Machine-readable, snake_case (`validation`, `invalid_credentials`, ...).
    pub code: String,
    /// Human-readable; safe to show to the user.
    pub message: String,
    /// The input field the error is about, for inline form errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The message if this error is about `field`.
    pub fn for_field(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }
}

/// What a form's server function answers: `Ok(Err(..))` is an expected
/// refusal (wrong password, taken username) shown inline next to the form;
/// the outer `Err` is reserved for failures (network, server). Refusals thus
/// travel as 200 answers and do not show up as failed requests.
pub type Outcome<T> = Result<T, ApiError>;

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::new(
                "request_failed",
                "Herald cannot be reached. Check your connection and try again.",
            ),
            // Malformed arguments are the caller's mistake: `validation`,
            // which the server answers with 400 as on the REST routes
            // (server::functions::malformed_arguments_are_400).
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_) => Self::new(
                "validation",
                format!("The request could not be read: {value}"),
            ),
            other => Self::new("request_failed", other.to_string()),
        }
    }
}
