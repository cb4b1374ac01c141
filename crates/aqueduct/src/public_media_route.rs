//! `GET /_aqueduct/media/<signature>/<server>/<media id>`: Matrix media the bridge handed out
//! as a public URL (a relayed sender's avatar), fetched from the homeserver with the bridge's
//! own access. Only signed paths are served, and only images, so the route proxies nothing
//! but what the bridge chose to publish.

use aqueduct_core::matrix::MatrixApi;
use aqueduct_core::public_media::{PublicMedia, image_mime};
use aqueduct_matrix::HomeserverClient;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Largest image served: avatars are small; this bounds what one request can make the bridge
/// download.
const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// What the route needs.
#[derive(Clone)]
pub(crate) struct MediaRoute {
    /// Checks signatures; `None` when no public URL is configured (nothing is served).
    pub signer: Option<PublicMedia>,
    /// Downloads from the homeserver.
    pub client: HomeserverClient,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such media").into_response()
}

/// Serves one signed media path.
pub(crate) async fn serve(
    route: MediaRoute,
    Path((signature, server, media_id)): Path<(String, String, String)>,
) -> Response {
    let Some(mxc) = route
        .signer
        .as_ref()
        .and_then(|s| s.verify(&signature, &server, &media_id))
    else {
        return not_found();
    };
    match route.client.download(&mxc, MAX_BYTES).await {
        Ok(data) => match image_mime(&data) {
            Some(mime) => (
                [
                    (header::CONTENT_TYPE, mime),
                    // A media id never changes its bytes.
                    (header::CACHE_CONTROL, "public, max-age=86400, immutable"),
                ],
                data,
            )
                .into_response(),
            None => not_found(),
        },
        Err(e) if e.errcode() == Some("M_NOT_FOUND") => not_found(),
        Err(e) => {
            tracing::warn!(error = %e, %mxc, "cannot fetch public media from the homeserver");
            (
                StatusCode::BAD_GATEWAY,
                "the homeserver did not give the media",
            )
                .into_response()
        }
    }
}
