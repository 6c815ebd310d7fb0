//! [`Upstream`]: a loopback HTTP/HTTPS server that records every request it receives.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::http::{self, Recorded, Reply};
use crate::pki::{self, Pki};

/// A request handler: computes the reply from what was received.
type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync + 'static;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by the accept thread, the connection threads and the [`Upstream`] handle.
struct Shared {
    handler: Box<Handler>,
    tls: Option<Arc<ServerConfig>>,
    stop: AtomicBool,
    connections: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
    /// A clone of every accepted socket, shut down on drop so no connection outlives the server.
    sockets: Mutex<Vec<TcpStream>>,
}

/// Locks a mutex, ignoring poisoning (a panicking handler must not break the recorder).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loopback server on `127.0.0.1:<ephemeral port>` that records what it receives.
///
/// Every connection is handled on its own thread, with HTTP/1.1 keep-alive (many requests per
/// connection). Request bodies may be framed by `Content-Length` or chunked; `Expect:
/// 100-continue` is honoured. Malformed requests get `400` and the connection is closed; a
/// panicking handler yields `500`. Clients may disconnect at any time.
///
/// Requests are recorded before the handler runs, so once a client has its response,
/// [`Upstream::requests`] already contains the request.
///
/// Dropping the `Upstream` stops the listener (its thread is joined) and shuts down every
/// connection still open.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("tls", &self.shared.tls.is_some())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Plain HTTP. `handler` computes the reply from what was received.
    pub fn http(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::start(None, Box::new(handler))
    }

    /// Plain HTTP on the IPv6 loopback (`[::1]:<port>`), for hosts written as IPv6 literals.
    pub fn http_ipv6(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Upstream {
        Upstream::start_on("[::1]:0", None, Box::new(handler))
    }

    /// HTTPS with the PKI's server certificate; no client certificate is requested.
    pub fn https(
        pki: &Pki,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::start(
            Some(server_config(pki, ClientAuth::None)),
            Box::new(handler),
        )
    }

    /// HTTPS that requires a client certificate signed by the PKI's CA (mTLS); handshakes
    /// without one (or with one from another CA) fail.
    pub fn https_mtls(
        pki: &Pki,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::start(
            Some(server_config(pki, ClientAuth::Required)),
            Box::new(handler),
        )
    }

    /// HTTPS that asks for a client certificate but also accepts clients without one;
    /// [`Recorded::tls_client_cert`] tells whether one was presented (a presented certificate
    /// must still chain to the PKI's CA).
    pub fn https_optional_client_cert(
        pki: &Pki,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Upstream::start(
            Some(server_config(pki, ClientAuth::Optional)),
            Box::new(handler),
        )
    }

    /// Plain HTTP that always replies `200` with `body` and `content-type: application/json`.
    pub fn http_ok(body: &str) -> Upstream {
        let body = body.to_string();
        Upstream::http(move |_| Reply::json(body.clone()))
    }

    /// HTTPS that always replies `200` with `body` and `content-type: application/json`.
    pub fn https_ok(pki: &Pki, body: &str) -> Upstream {
        let body = body.to_string();
        Upstream::https(pki, move |_| Reply::json(body.clone()))
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The listening address (`127.0.0.1:<port>`, or `[::1]:<port>` for [`Upstream::http_ipv6`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether this upstream speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// `http://127.0.0.1:<port><path>` or `https://127.0.0.1:<port><path>` (the server
    /// certificate covers `127.0.0.1`). `path` should start with `/` (or be empty).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Everything received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Number of TCP connections accepted so far (including ones whose TLS handshake failed).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn start(tls: Option<Arc<ServerConfig>>, handler: Box<Handler>) -> Upstream {
        Upstream::start_on("127.0.0.1:0", tls, handler)
    }

    fn start_on(bind: &str, tls: Option<Arc<ServerConfig>>, handler: Box<Handler>) -> Upstream {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            handler,
            tls,
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            sockets: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("testkit-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .unwrap();
        Upstream {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); the accept loop sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// Accepts connections until the stop flag is set, one thread per connection.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((socket, _peer)) = accepted else {
            // E.g. too many open files: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let index = shared.connections.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = socket.try_clone() {
            lock(&shared.sockets).push(clone);
        }
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("testkit-conn-{index}"))
            .spawn(move || handle_connection(socket, index, &conn_shared));
        if spawned.is_err() {
            // Could not spawn: the socket was moved into the closure and dropped, i.e. closed.
            continue;
        }
    }
}

/// A byte stream the server can speak HTTP over: plain TCP or TLS over TCP.
trait Transport: Read + Write {
    /// The underlying socket.
    fn socket(&self) -> &TcpStream;
    /// Ends the stream gracefully (TLS: sends `close_notify`).
    fn finish(&mut self) {}
}

impl Transport for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Transport for StreamOwned<ServerConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }

    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// Per-connection facts copied into every [`Recorded`] of the connection.
struct ConnInfo {
    index: usize,
    sni: Option<String>,
    client_cert: Option<Vec<u8>>,
}

fn handle_connection(socket: TcpStream, index: usize, shared: &Shared) {
    let _ = socket.set_nodelay(true);
    match &shared.tls {
        None => serve(
            socket,
            &ConnInfo {
                index,
                sni: None,
                client_cert: None,
            },
            shared,
        ),
        Some(config) => {
            let Ok((stream, info)) = tls_handshake(socket, Arc::clone(config), index) else {
                // Failed handshake (e.g. no client certificate for mTLS): the alert, if any,
                // has been sent; just drop the connection.
                return;
            };
            serve(stream, &info, shared);
        }
    }
}

/// Completes the server side of a TLS handshake and notes the SNI and client certificate.
fn tls_handshake(
    mut socket: TcpStream,
    config: Arc<ServerConfig>,
    index: usize,
) -> io::Result<(StreamOwned<ServerConnection, TcpStream>, ConnInfo)> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    socket.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        if conn.complete_io(&mut socket)? == (0, 0) {
            // No progress possible (should not happen while handshaking); avoid spinning.
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
    }
    socket.set_read_timeout(None)?;
    let info = ConnInfo {
        index,
        sni: conn.server_name().map(str::to_string),
        client_cert: conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|cert| cert.to_vec()),
    };
    Ok((StreamOwned::new(conn, socket), info))
}

/// Serves requests on one connection until the client leaves, asks to close, or errs.
fn serve<T: Transport>(stream: T, info: &ConnInfo, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    let graceful = loop {
        let head = match http::read_request_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => break true,
            Err(e) => break bad_request(reader.get_mut(), &e),
        };
        if head.expects_continue() {
            let stream = reader.get_mut();
            if stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .and_then(|()| stream.flush())
                .is_err()
            {
                break false;
            }
        }
        let body = match http::read_request_body(&mut reader, &head) {
            Ok(body) => body,
            Err(e) => break bad_request(reader.get_mut(), &e),
        };
        let recorded = Recorded {
            method: head.method.clone(),
            target: head.target.clone(),
            headers: head.headers.clone(),
            body,
            raw_head: String::from_utf8_lossy(&head.raw).into_owned(),
            tls_client_cert: info.client_cert.clone(),
            sni: info.sni.clone(),
            connection: info.index,
        };
        lock(&shared.requests).push(recorded.clone());

        let reply = catch_unwind(AssertUnwindSafe(|| (shared.handler)(&recorded)))
            .unwrap_or_else(|_| Reply::status(500).body("aivault-testkit: handler panicked"));
        if let Some(delay) = reply.pending_delay() {
            thread::sleep(delay);
        }
        if reply.hangs_up() {
            break false;
        }
        let close = !head.keep_alive() || reply.wants_close();
        if reply
            .write_to(reader.get_mut(), head.method == "HEAD", close)
            .is_err()
        {
            break false;
        }
        if close {
            break true;
        }
    };
    let stream = reader.get_mut();
    if graceful {
        stream.finish();
    }
    let _ = stream.socket().shutdown(Shutdown::Both);
}

/// Answers a malformed request with `400` (best effort). Returns whether the close is graceful.
fn bad_request<T: Transport>(stream: &mut T, error: &io::Error) -> bool {
    if error.kind() != io::ErrorKind::InvalidData {
        // The client went away or the socket failed: nothing to answer.
        return false;
    }
    Reply::status(400)
        .body(format!("aivault-testkit: malformed request: {error}"))
        .write_to(stream, false, true)
        .is_ok()
}

/// Which client certificates a TLS upstream asks for.
enum ClientAuth {
    None,
    Optional,
    Required,
}

/// A rustls server configuration (ring provider) serving the PKI's server certificate.
fn server_config(pki: &Pki, client_auth: ClientAuth) -> Arc<ServerConfig> {
    let provider = pki::ring_provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let mut roots = RootCertStore::empty();
            for cert in pki::certs(&pki.ca_pem) {
                roots.add(cert).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match client_auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().unwrap())
        }
    };
    let config = builder
        .with_single_cert(
            pki::certs(&pki.server_cert_pem),
            pki::private_key(&pki.server_key_pem),
        )
        .unwrap();
    Arc::new(config)
}
