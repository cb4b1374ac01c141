//! The media fetch guard against real HTTP servers on loopback: a "platform" server (the
//! configured origin) and an "attacker" server on another loopback port, which must never
//! receive a request, let alone a credential.

use aqueduct_connector::{Credentials, MAX_REDIRECTS, MediaError, MediaGuard};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback HTTP/1.1 server answering every request with `answer(path)` and recording each
/// request's head (request line and headers, lowercased).
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let answer = answer.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_lowercase();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    log.lock().unwrap().push(head);
                    let _ = sock.write_all(answer(&path).as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { port, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(to: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

async fn attacker() -> Server {
    Server::start(|_| ok("secret")).await
}

const TOKEN: &str = "xoxb-secret-token";

#[tokio::test]
async fn the_platform_origin_gets_its_credentials() {
    let platform = Server::start(|_| ok("file-bytes")).await;
    let guard = MediaGuard::new([platform.url("/api")]);
    let got = guard
        .fetch(&platform.url("/files/1"), &Credentials::bearer(TOKEN), 1000)
        .await
        .expect("fetched");
    assert_eq!(got.data, b"file-bytes");
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert!(platform.requests()[0].contains(&format!("authorization: bearer {TOKEN}")));
}

#[tokio::test]
async fn another_loopback_port_is_never_contacted() {
    let platform = Server::start(|_| ok("x")).await;
    let attacker = attacker().await;
    let guard = MediaGuard::new([platform.url("/")]);
    let err = guard
        .fetch(&attacker.url("/x"), &Credentials::bearer(TOKEN), 1000)
        .await
        .expect_err("refused");
    assert!(matches!(err, MediaError::PrivateAddress(_)), "{err}");
    assert!(attacker.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_from_the_platform_to_another_host_carries_no_token() {
    let attacker = attacker().await;
    let target = attacker.url("/steal");
    let platform = Server::start(move |_| redirect(&target)).await;
    let guard = MediaGuard::new([platform.url("/")]);
    let err = guard
        .fetch(&platform.url("/file"), &Credentials::bearer(TOKEN), 1000)
        .await
        .expect_err("refused");
    assert!(matches!(err, MediaError::PrivateAddress(_)), "{err}");
    assert_eq!(platform.requests().len(), 1);
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
}

#[tokio::test]
async fn a_redirect_to_a_reachable_host_is_followed_without_credentials() {
    // A media store the operator allowed (reachable, not credentialed): followed, and it
    // sees neither the bearer token nor Rocket.Chat's headers.
    let store = Server::start(|_| ok("stored")).await;
    let target = store.url("/bucket/obj");
    let platform = Server::start(move |_| redirect(&target)).await;
    let guard = MediaGuard::new([platform.url("/")]).with_reachable([store.url("/")]);
    let creds = Credentials::headers([("X-User-Id", "u1"), ("X-Auth-Token", TOKEN)]);
    let got = guard
        .fetch(&platform.url("/file-upload/1/a.png"), &creds, 1000)
        .await
        .expect("fetched");
    assert_eq!(got.data, b"stored");
    assert!(platform.requests()[0].contains(&TOKEN.to_lowercase()));
    let at_store = store.requests();
    assert_eq!(at_store.len(), 1);
    assert!(!at_store[0].contains(&TOKEN.to_lowercase()), "{at_store:?}");
    assert!(!at_store[0].contains("x-user-id"), "{at_store:?}");
}

#[tokio::test]
async fn ip_literal_tricks_are_refused() {
    let attacker = attacker().await;
    let p = attacker.port;
    let guard = MediaGuard::new(["https://chat.example.com"]);
    for url in [
        format!("http://0x7f000001:{p}/x"),
        format!("http://2130706433:{p}/x"),
        format!("http://0177.0.0.1:{p}/x"),
        format!("http://127.1:{p}/x"),
        format!("http://[::ffff:127.0.0.1]:{p}/x"),
        format!("http://[::ffff:7f00:1]:{p}/x"),
        format!("http://[::1]:{p}/x"),
        format!("http://0.0.0.0:{p}/x"),
        format!("http://localhost:{p}/x"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/x".to_owned(),
        "http://100.64.0.1/x".to_owned(),
        "http://[fd00::1]/x".to_owned(),
        "http://[fe80::1]/x".to_owned(),
        "http://224.0.0.1/x".to_owned(),
    ] {
        let err = guard
            .fetch(&url, &Credentials::bearer(TOKEN), 1000)
            .await
            .expect_err(&url);
        assert!(matches!(err, MediaError::PrivateAddress(_)), "{url}: {err}");
    }
    assert!(attacker.requests().is_empty());
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let guard = MediaGuard::new(["https://chat.example.com"]);
    for url in ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"] {
        let err = guard
            .fetch(url, &Credentials::none(), 1000)
            .await
            .expect_err(url);
        assert!(matches!(err, MediaError::Scheme(_)), "{url}: {err}");
    }
    let err = guard
        .fetch("/relative/path", &Credentials::none(), 1000)
        .await
        .expect_err("relative");
    assert!(matches!(err, MediaError::BadUrl), "{err}");
}

#[tokio::test]
async fn the_same_host_on_another_port_or_scheme_gets_no_credentials() {
    // The platform is configured as https on the default port: http on the same host, or
    // another port, is another origin.
    let guard = MediaGuard::new(["http://127.0.0.1:1"]);
    let other = Server::start(|_| ok("x")).await;
    let err = guard
        .fetch(&other.url("/x"), &Credentials::bearer(TOKEN), 10)
        .await
        .expect_err("refused");
    assert!(matches!(err, MediaError::PrivateAddress(_)), "{err}");
    assert!(other.requests().is_empty());
    assert!(!guard.is_platform(&other.url("/x")));
    assert!(guard.is_platform("http://127.0.0.1:1/files/x"));
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_announced_or_streamed() {
    let announced = Server::start(|_| ok(&"a".repeat(5000))).await;
    let streamed = Server::start(|_| {
        format!(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{}",
            "b".repeat(5000)
        )
    })
    .await;
    let guard = MediaGuard::new([announced.url("/"), streamed.url("/")]);
    for s in [&announced, &streamed] {
        let err = guard
            .fetch(&s.url("/big"), &Credentials::none(), 1000)
            .await
            .expect_err("too large");
        assert!(matches!(err, MediaError::TooLarge(1000)), "{err}");
        assert!(err.to_string().contains("1000 bytes"), "{err}");
    }
}

#[tokio::test]
async fn redirect_loops_end() {
    let platform = Server::start(|path| {
        let n: u32 = path.trim_start_matches('/').parse().unwrap_or(0);
        redirect(&format!("/{}", n + 1))
    })
    .await;
    let guard = MediaGuard::new([platform.url("/")]);
    let err = guard
        .fetch(&platform.url("/0"), &Credentials::none(), 1000)
        .await
        .expect_err("loop");
    assert!(matches!(err, MediaError::TooManyRedirects(_)), "{err}");
    assert_eq!(platform.requests().len(), MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/x", listener.local_addr().expect("addr"));
    // Accepts and holds the connection without answering.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let guard = MediaGuard::new([url.as_str()]).with_timeout(Duration::from_millis(300));
    let err = guard
        .fetch(&url, &Credentials::none(), 1000)
        .await
        .expect_err("timed out");
    assert!(matches!(err, MediaError::TimedOut(_)), "{err}");
    assert!(err.is_transient());
    held.abort();
}

#[tokio::test]
async fn uploads_follow_the_same_destination_rules() {
    let attacker = attacker().await;
    let guard = MediaGuard::new(["https://slack.com/api"]);
    let err = guard
        .upload(&attacker.url("/upload"), b"data".to_vec())
        .await
        .expect_err("refused");
    assert!(matches!(err, MediaError::PrivateAddress(_)), "{err}");
    assert!(attacker.requests().is_empty());
}
