//! HTTPS and mTLS behaviour of `Upstream`, exercised with a rustls client.

#![allow(clippy::unwrap_used)]

use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use aivault_testkit::{Pki, RawResponse, Reply, Upstream, read_response};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Opens a TLS connection to `upstream`, verifying the server as `server_name`.
fn tls_connect(upstream: &Upstream, config: Arc<ClientConfig>, server_name: &str) -> TlsStream {
    let socket = TcpStream::connect(upstream.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    StreamOwned::new(ClientConnection::new(config, name).unwrap(), socket)
}

/// Sends a GET for `target` and reads the response.
fn get(stream: &mut BufReader<TlsStream>, target: &str) -> io::Result<RawResponse> {
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.get_mut().write_all(request.as_bytes())?;
    stream.get_mut().flush()?;
    read_response(stream, false)
}

#[test]
fn https_handshake_with_ca_from_pem() {
    let pki = Pki::new(&["api.example.test"]);
    let upstream = Upstream::https_ok(&pki, r#"{"ok":true}"#);
    assert!(upstream.url("/").starts_with("https://127.0.0.1:"));

    // By DNS name: SNI is recorded.
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        pki.client_config(false),
        "localhost",
    ));
    let resp = get(&mut stream, "/a").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_text(), r#"{"ok":true}"#);
    // Keep-alive over TLS.
    assert_eq!(get(&mut stream, "/b").unwrap().status, 200);

    // By one of the extra names, and by IP (no SNI for IP addresses).
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        pki.client_config(false),
        "api.example.test",
    ));
    assert_eq!(get(&mut stream, "/c").unwrap().status, 200);
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        pki.client_config(false),
        "127.0.0.1",
    ));
    assert_eq!(get(&mut stream, "/d").unwrap().status, 200);

    let requests = upstream.requests();
    let snis: Vec<Option<&str>> = requests.iter().map(|r| r.sni.as_deref()).collect();
    assert_eq!(
        snis,
        [
            Some("localhost"),
            Some("localhost"),
            Some("api.example.test"),
            None
        ]
    );
    assert!(requests.iter().all(|r| r.tls_client_cert.is_none()));
    assert_eq!(upstream.connections(), 3);
}

#[test]
fn https_rejected_by_client_trusting_another_ca() {
    let pki = Pki::new(&[]);
    let other = Pki::new(&[]);
    let upstream = Upstream::https_ok(&pki, "{}");
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        other.client_config(false),
        "localhost",
    ));
    assert!(get(&mut stream, "/").is_err());
    assert!(upstream.requests().is_empty());
    assert_eq!(upstream.connections(), 1);
}

#[test]
fn mtls_refuses_client_without_certificate() {
    let pki = Pki::new(&[]);
    let upstream = Upstream::https_mtls(&pki, |_| Reply::ok("secret"));
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        pki.client_config(false),
        "localhost",
    ));
    assert!(get(&mut stream, "/").is_err());
    assert!(upstream.requests().is_empty());
}

#[test]
fn mtls_refuses_certificate_from_another_ca() {
    let pki = Pki::new(&[]);
    let other = Pki::new(&[]);
    let upstream = Upstream::https_mtls(&pki, |_| Reply::ok("secret"));
    // Trust the right server CA but present the other PKI's client certificate.
    let mut mixed = other.clone();
    mixed.ca_pem = pki.ca_pem.clone();
    let mut stream = BufReader::new(tls_connect(
        &upstream,
        mixed.client_config(true),
        "localhost",
    ));
    assert!(get(&mut stream, "/").is_err());
    assert!(upstream.requests().is_empty());
}

#[test]
fn mtls_accepts_client_certificate() {
    let pki = Pki::new(&[]);
    let upstream = Upstream::https_mtls(&pki, |req| {
        Reply::ok(format!("hello {}", req.tls_client_cert.is_some()))
    });
    let mut stream = BufReader::new(tls_connect(&upstream, pki.client_config(true), "localhost"));
    let resp = get(&mut stream, "/who").unwrap();
    assert_eq!(resp.body_text(), "hello true");
    let req = &upstream.requests()[0];
    assert_eq!(
        req.tls_client_cert.as_deref(),
        Some(pki.client_cert_der().as_ref())
    );
    assert_eq!(req.sni.as_deref(), Some("localhost"));
}

#[test]
fn optional_client_certificate_is_recorded_when_presented() {
    let pki = Pki::new(&[]);
    let upstream = Upstream::https_optional_client_cert(&pki, |_| Reply::ok("ok"));
    for with_cert in [false, true] {
        let mut stream = BufReader::new(tls_connect(
            &upstream,
            pki.client_config(with_cert),
            "localhost",
        ));
        assert_eq!(get(&mut stream, "/").unwrap().status, 200);
    }
    let requests = upstream.requests();
    assert!(requests[0].tls_client_cert.is_none());
    assert!(requests[1].tls_client_cert.is_some());
}

#[test]
fn pki_writes_pem_files() {
    let pki = Pki::new(&["x.test"]);
    let dir = std::env::temp_dir().join(format!("aivault-testkit-pki-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = pki.write_ca(&dir);
    assert_eq!(ca, dir.join("ca.pem"));
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), pki.ca_pem);
    let (cert, key) = pki.write_client_identity(&dir);
    assert_eq!(std::fs::read_to_string(cert).unwrap(), pki.client_cert_pem);
    assert!(
        std::fs::read_to_string(key)
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
