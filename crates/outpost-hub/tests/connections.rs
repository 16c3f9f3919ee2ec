//! The hub's bounds on connections, over raw TCP: a client that sends its request head too
//! slowly, or pauses inside a body, is cut off, and so is an idle keep-alive connection; past
//! the cap, a new connection waits until another one closes.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TestHub;
use outpost_hub::HubConfig;

/// Reads until the hub closes the connection (or resets it), at most `limit`; returns what
/// arrived and when the connection ended.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => panic!("the hub kept the connection open for {limit:?}"),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_senders_and_idle_connections_are_cut_off_after_the_read_timeouts() {
    let hub = TestHub::start_with(HubConfig {
        header_read_timeout_secs: 1,
        body_read_timeout_secs: 1,
        ..HubConfig::default()
    })
    .await;
    // Fifty clients send half a request head, then nothing.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(hub.addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
            .await
            .expect("write");
        slow.push(stream);
    }
    for stream in &mut slow {
        let (_, after) = until_closed(stream, Duration::from_secs(5)).await;
        assert!(after < Duration::from_secs(3), "closed after {after:?}");
    }

    // A body that stops halfway is answered 400 and the connection closed.
    let mut stream = TcpStream::connect(hub.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\": ",
        )
        .await
        .expect("write");
    let (answer, after) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(after < Duration::from_secs(3), "closed after {after:?}");

    // A connection kept alive after a whole exchange is closed once it has been idle as long.
    let mut stream = TcpStream::connect(hub.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .expect("write");
    let (answer, after) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "closed after {after:?}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_a_new_client_waits_for_a_free_place() {
    let hub = TestHub::start_with(HubConfig {
        max_connections: 3,
        ..HubConfig::default()
    })
    .await;
    // Idle connections take every place (the test client's own pooled one may hold one too).
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(hub.addr).await.expect("connect"));
    }
    let mut waiting = TcpStream::connect(hub.addr).await.expect("connect");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut first))
            .await
            .is_err(),
        "past the cap, nothing is read from a new connection"
    );
    drop(idle);
    let (answer, _) = until_closed(&mut waiting, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    hub.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight_only_until_its_deadline() {
    let hub = TestHub::start_with(HubConfig {
        body_read_timeout_secs: 120,
        shutdown_timeout_secs: 1,
        ..HubConfig::default()
    })
    .await;
    // A request in flight that will not finish: its body stops halfway.
    let mut stream = TcpStream::connect(hub.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\": ",
        )
        .await
        .expect("write");
    // Let the hub take the request in before it is told to stop.
    let (health, _) = hub.get("/healthz", "no token").await;
    assert_eq!(health, reqwest::StatusCode::OK);
    let started = Instant::now();
    hub.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "stopped after {took:?}"
    );
}
