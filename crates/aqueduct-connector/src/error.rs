//! Why a media fetch did not happen, worded for the line a connector puts into the bridged
//! message in place of the file ("[report.pdf was not bridged: ...]"). The texts name hosts,
//! never whole URLs, which can carry signatures or tokens in their query.

use aqueduct_core::connector::ConnectorError;

/// A refused or failed media fetch.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The link is not an absolute URL.
    #[error("its link is not a valid URL")]
    BadUrl,
    /// Not `http` or `https`.
    #[error("only http and https links are fetched, not {0}")]
    Scheme(String),
    /// The host is (or resolves only to) a loopback, private, link-local or otherwise
    /// non-public address, and is not the platform's own configured server.
    #[error("{0} is a private or local address, which the bridge does not fetch from")]
    PrivateAddress(String),
    /// A redirect chain longer than the guard follows.
    #[error("it redirects more than {0} times")]
    TooManyRedirects(usize),
    /// A redirect without a usable `Location`.
    #[error("{0} answered a redirect without a valid Location")]
    BadRedirect(String),
    /// The body (announced or streamed) is larger than the caller's cap.
    #[error("it is larger than the {0} bytes this bridge takes")]
    TooLarge(u64),
    /// The server answered with an error status.
    #[error("{host} answered HTTP {status}")]
    Status {
        /// The host that answered.
        host: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The fetch took longer than the guard's time limit.
    #[error("the download took longer than {0} s")]
    TimedOut(u64),
    /// A network failure (connection refused, reset, TLS, DNS).
    #[error("the download from {host} failed: {reason}")]
    Network {
        /// The host the fetch was for.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

impl MediaError {
    /// Whether trying again later may succeed: network failures, time-outs and server
    /// errors; never a refusal by the guard's rules.
    pub fn is_transient(&self) -> bool {
        match self {
            MediaError::Network { .. } | MediaError::TimedOut(_) => true,
            MediaError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<MediaError> for ConnectorError {
    fn from(e: MediaError) -> Self {
        if e.is_transient() {
            ConnectorError::Temporary(e.to_string())
        } else {
            ConnectorError::Refused(e.to_string())
        }
    }
}
