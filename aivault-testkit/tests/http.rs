//! Plain-HTTP behaviour of `Upstream`, exercised with raw `std::net::TcpStream`s.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aivault_testkit::{Reply, Upstream, echo_handler, read_response};

/// Connects to `upstream`, returning a writer and a buffered reader on the same socket.
fn connect(upstream: &Upstream) -> (TcpStream, BufReader<TcpStream>) {
    let socket = TcpStream::connect(upstream.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = BufReader::new(socket.try_clone().unwrap());
    (socket, reader)
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let upstream = Upstream::http(|req| Reply::ok(format!("echo {}", req.target)));
    let (mut w, mut r) = connect(&upstream);

    w.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let first = read_response(&mut r, false).unwrap();
    w.write_all(b"GET /two?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let second = read_response(&mut r, false).unwrap();

    assert_eq!(first.status, 200);
    assert_eq!(first.body_text(), "echo /one");
    assert_eq!(second.body_text(), "echo /two?x=1");
    assert_eq!(upstream.connections(), 1);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].target, "/two?x=1");
    assert!(requests.iter().all(|r| r.connection == 0));
}

#[test]
fn records_head_byte_exact() {
    let upstream = Upstream::http_ok("{}");
    let (mut w, mut r) = connect(&upstream);
    let head = "POST /v1/chat?a=1&b=%20 HTTP/1.1\r\nHost: api.example\r\nX-Custom-CASE:   spaced value \r\nx-custom-case: second\r\nContent-Length: 4\r\n\r\n";
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(b"ping").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.body_text(), "{}");

    let req = &upstream.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat?a=1&b=%20");
    assert_eq!(req.raw_head, head);
    assert_eq!(req.body, b"ping");
    assert_eq!(req.header("X-CUSTOM-case"), Some("spaced value"));
    assert_eq!(
        req.header_all("x-custom-case"),
        vec!["spaced value", "second"]
    );
    assert_eq!(req.headers[1].0, "X-Custom-CASE");
    assert_eq!(req.all_text(), format!("{head}ping"));
    assert_eq!(req.sni, None);
    assert_eq!(req.tls_client_cert, None);
}

#[test]
fn chunked_request_body_is_decoded() {
    let upstream = Upstream::http(|req| Reply::ok(req.body.clone()));
    let (mut w, mut r) = connect(&upstream);
    w.write_all(
        b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
    )
    .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.body_text(), "Wikipedia in\r\n\r\nchunks.");
    assert_eq!(upstream.requests()[0].body, b"Wikipedia in\r\n\r\nchunks.");
    // The connection is still usable afterwards.
    w.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    assert_eq!(upstream.connections(), 1);
}

#[test]
fn chunked_response_arrives_in_pieces() {
    let gap = Duration::from_millis(300);
    let upstream =
        Upstream::http(move |_| Reply::status(200).chunks(vec!["first", "second", "third"], gap));
    let (mut w, mut r) = connect(&upstream);
    let sent = Instant::now();
    w.write_all(b"GET /stream HTTP/1.1\r\n\r\n").unwrap();

    // Read the head by hand, then each chunk as it arrives.
    let mut line = String::new();
    let mut head = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
    );
    assert!(!head.to_ascii_lowercase().contains("content-length"));

    let mut pieces = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
        let mut data = vec![0; size + 2];
        r.read_exact(&mut data).unwrap();
        if size == 0 {
            break;
        }
        data.truncate(size);
        pieces.push((String::from_utf8(data).unwrap(), sent.elapsed()));
    }
    let texts: Vec<&str> = pieces.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(texts, ["first", "second", "third"]);
    for pair in pieces.windows(2) {
        let between = pair[1].1 - pair[0].1;
        assert!(between >= gap - Duration::from_millis(50), "{between:?}");
    }
    assert!(
        pieces[0].1 < gap,
        "first chunk should not wait: {:?}",
        pieces[0].1
    );
}

#[test]
fn stream_zeros_has_exact_length() {
    const LEN: u64 = 5 * 1024 * 1024 + 3;
    let upstream = Upstream::http(|_| Reply::stream_zeros(LEN));
    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"GET /big HTTP/1.1\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(
        resp.header("content-length"),
        Some(LEN.to_string().as_str())
    );
    assert_eq!(resp.body.len() as u64, LEN);
    assert!(resp.body.iter().all(|&b| b == 0));
    // Keep-alive still works after a large body.
    w.write_all(b"HEAD /big HTTP/1.1\r\n\r\n").unwrap();
    let head = read_response(&mut r, true).unwrap();
    assert_eq!(
        head.header("content-length"),
        Some(LEN.to_string().as_str())
    );
    assert!(head.body.is_empty());
    assert_eq!(upstream.connections(), 1);
}

#[test]
fn delay_close_and_connection_close() {
    let upstream = Upstream::http(|req| match req.target.as_str() {
        "/slow" => Reply::delay(Duration::from_millis(300)),
        "/hangup" => Reply::close(),
        _ => Reply::ok("bye"),
    });

    let (mut w, mut r) = connect(&upstream);
    let start = Instant::now();
    w.write_all(b"GET /slow HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    w.write_all(b"GET /hangup HTTP/1.1\r\n\r\n").unwrap();
    let err = read_response(&mut r, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);

    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("connection"), Some("close"));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(upstream.connections(), 2);
    assert_eq!(upstream.requests().len(), 3);
}

#[test]
fn expect_continue_redirect_and_headers() {
    let upstream = Upstream::http(|_| {
        Reply::redirect(302, "http://elsewhere.invalid/x").header("X-Trace", "t1")
    });
    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    let cont = read_response(&mut r, false).unwrap();
    assert_eq!(cont.status, 100);
    w.write_all(b"abc").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 302);
    assert!(resp.raw_head.starts_with("HTTP/1.1 302 Found\r\n"));
    assert_eq!(resp.header("location"), Some("http://elsewhere.invalid/x"));
    assert_eq!(resp.header("x-trace"), Some("t1"));
    assert_eq!(upstream.requests()[0].body, b"abc");
}

#[test]
fn malformed_requests_panics_and_disconnects_do_not_kill_the_server() {
    let upstream = Upstream::http(|req| {
        assert_ne!(req.target, "/panic", "handler panics on purpose");
        Reply::ok("fine")
    });

    // A client that disconnects mid-body.
    let (mut w, _r) = connect(&upstream);
    w.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")
        .unwrap();
    drop(w);

    // A malformed request gets 400 and a closed connection.
    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 400);

    // A panicking handler yields 500.
    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"GET /panic HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 500);

    // And the server still serves.
    w.write_all(b"GET /ok HTTP/1.1\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.body_text(), "fine");
    assert_eq!(upstream.connections(), 3);
    let targets: Vec<String> = upstream.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/panic", "/ok"]);
}

#[test]
fn echo_handler_reflects_headers_and_body() {
    let upstream = Upstream::http(echo_handler());
    let (mut w, mut r) = connect(&upstream);
    w.write_all(
        b"POST /v1/echo?q=\"x\" HTTP/1.1\r\nAuthorization: Bearer sk-CANARY\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 12\r\n\r\nsecret \"body",
    )
    .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.header("x-echo-authorization"),
        Some("Bearer sk-CANARY")
    );
    let echoed: Vec<&str> = resp
        .headers
        .iter()
        .filter(|(n, _)| n == "x-echo-x-a")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(echoed, ["1", "2"]);
    assert_eq!(
        resp.body_text(),
        r#"{"method":"POST","target":"/v1/echo?q=\"x\"","headers":{"authorization":"Bearer sk-CANARY","x-a":"1, 2","content-length":"12"},"body":"secret \"body"}"#
    );
}

#[test]
fn drop_stops_listener_and_open_connections() {
    let upstream = Upstream::http_ok("{}");
    let addr = upstream.addr();
    let (mut w, mut r) = connect(&upstream);
    w.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_response(&mut r, false).unwrap();
    assert_eq!(upstream.url("/x"), format!("http://{addr}/x"));

    drop(upstream);
    // The kept-alive connection is closed...
    let mut rest = Vec::new();
    assert!(r.read_to_end(&mut rest).map_or(true, |n| n == 0));
    // ...and nothing listens any more.
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn nothing_connected_counts_zero() {
    let upstream = Upstream::http_ok("{}");
    assert_eq!(upstream.connections(), 0);
    assert!(upstream.requests().is_empty());
}
