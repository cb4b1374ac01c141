//! The homeserver client against a stub homeserver that rate-limits: it waits as told and
//! retries, never dropping the request.

use aqueduct_core::matrix::MatrixApi;
use aqueduct_matrix::{ClientConfig, HomeserverClient};
use axum::http::StatusCode;
use axum::routing::put;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn stub(refusals: usize, status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/_matrix/client/v3/rooms/{room}/send/{kind}/{txn}",
        put(move || {
            let seen = seen.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                if n < refusals {
                    (
                        status,
                        r#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":20}"#
                            .to_owned(),
                    )
                } else {
                    (StatusCode::OK, r#"{"event_id":"$sent:hs"}"#.to_owned())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

fn client(url: String) -> HomeserverClient {
    HomeserverClient::new(ClientConfig {
        homeserver_url: url,
        server_name: "hs".into(),
        as_token: "as".into(),
        appservice_id: "aq".into(),
        bot_localpart: "bot".into(),
        ghost_prefix: "aq_".into(),
        double_puppet: HashMap::new(),
    })
}

#[tokio::test]
async fn waits_out_rate_limits_and_delivers() {
    let (url, calls) = stub(3, StatusCode::TOO_MANY_REQUESTS).await;
    let id = client(url)
        .send_event(
            "!r:hs",
            "@aq_x:hs",
            "m.room.message",
            &serde_json::json!({"msgtype": "m.text", "body": "hi"}),
            "t1",
            None,
        )
        .await
        .expect("delivered after the limits");
    assert_eq!(id, "$sent:hs");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn m_limit_exceeded_with_another_status_is_a_rate_limit_too() {
    let (url, calls) = stub(1, StatusCode::BAD_REQUEST).await;
    let id = client(url)
        .send_event(
            "!r:hs",
            "@bot:hs",
            "m.room.message",
            &serde_json::json!({"body": "x"}),
            "t2",
            None,
        )
        .await
        .unwrap();
    assert_eq!(id, "$sent:hs");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refuses_to_act_as_users_outside_its_namespace() {
    let (url, calls) = stub(0, StatusCode::OK).await;
    let err = client(url)
        .send_event(
            "!r:hs",
            "@alice:hs",
            "m.room.message",
            &serde_json::json!({}),
            "t3",
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot act as @alice:hs"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
