//! The provisioning API's errors: a status and a Matrix-style JSON body
//! (`{"errcode": ..., "error": ...}`), as mautrix bridges answer.

use aqueduct_core::Error;
use aqueduct_core::connector::ConnectorError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refusal or failure, as the caller sees it.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) errcode: &'static str,
    pub(crate) error: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, errcode: &'static str, error: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            error: error.into(),
        }
    }

    pub(crate) fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "errcode": self.errcode, "error": self.error })),
        )
            .into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let text = e.to_string();
        match e {
            Error::Connector(ConnectorError::BadInput(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", text)
            }
            Error::Connector(ConnectorError::BadCredentials(_) | ConnectorError::Refused(_)) => {
                Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", text)
            }
            Error::Connector(ConnectorError::Unsupported(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "M_UNRECOGNIZED", text)
            }
            Error::Connector(ConnectorError::Temporary(_)) => {
                Self::new(StatusCode::BAD_GATEWAY, "M_UNKNOWN", text)
            }
            Error::ShuttingDown => Self::new(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", text),
            Error::Unknown(_) => Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", text),
            Error::Store(_) | Error::Matrix(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", text)
            }
        }
    }
}
