//! The network guard: where the broker is allowed to connect (DESIGN: "Netguard").
//!
//! The upstream host comes from policy, never from the caller. The guard resolves it itself,
//! refuses loopback, private, link-local, CGNAT, unique-local, cloud-metadata, unspecified,
//! IPv4-in-IPv6 and other special-purpose addresses, and hands ureq only the addresses it
//! validated, so ureq connects to exactly what was checked (no second lookup, no DNS
//! rebinding). Only an operator-created custom credential may opt in to loopback or private
//! hosts (`allow_private`); metadata endpoints stay refused even then. IP-literal hosts are
//! refused, except a plainly written literal of such a credential, which is pinned (no
//! lookup) and checked like a resolved address.
//!
//! The one bypass is [`DevRoutes`] (`AIVAULT_DEV_RESOLVE`, debug and test builds only), the
//! tests' explicit routing of a name to a local listener.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::http::uri::Scheme;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::error::{Error, ErrorKind, Result};

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

/// Why an address is special. Each class has one stable reason string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Metadata,
    Unspecified,
    ThisNetwork,
    Loopback,
    Private,
    LinkLocal,
    Cgnat,
    UniqueLocal,
    SiteLocal,
    ProtocolAssignments,
    Documentation,
    Benchmarking,
    Multicast,
    Broadcast,
    Reserved,
    Discard,
    Ipv4Mapped,
    Ipv4Compatible,
    Ipv4Translated,
    Nat64,
    SixToFour,
    Teredo,
}

impl Class {
    fn reason(self) -> &'static str {
        match self {
            Class::Metadata => "metadata",
            Class::Unspecified => "unspecified",
            Class::ThisNetwork => "this network (0.0.0.0/8)",
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::LinkLocal => "link-local",
            Class::Cgnat => "cgnat (100.64.0.0/10)",
            Class::UniqueLocal => "unique local (fc00::/7)",
            Class::SiteLocal => "site-local",
            Class::ProtocolAssignments => "ietf protocol assignments",
            Class::Documentation => "documentation",
            Class::Benchmarking => "benchmarking",
            Class::Multicast => "multicast",
            Class::Broadcast => "broadcast",
            Class::Reserved => "reserved",
            Class::Discard => "discard-only",
            Class::Ipv4Mapped => "ipv4-mapped",
            Class::Ipv4Compatible => "ipv4-compatible",
            Class::Ipv4Translated => "ipv4-translated",
            Class::Nat64 => "nat64",
            Class::SixToFour => "6to4",
            Class::Teredo => "teredo",
        }
    }

    /// Whether an operator-created custom credential (`allow_private`) may connect here.
    fn operator_may_allow(self) -> bool {
        matches!(
            self,
            Class::Loopback | Class::Private | Class::LinkLocal | Class::Cgnat | Class::UniqueLocal
        )
    }
}

/// Special-purpose IPv4 blocks, first match wins (so specific entries precede their supersets).
/// Sources: the IANA IPv4 Special-Purpose Address Registry (RFC 6890) and the cited RFCs.
/// Globally reachable special blocks (AS112, AMT, ...) are deliberately absent.
#[rustfmt::skip]
const IPV4_BLOCKS: &[(Ipv4Addr, u8, Class)] = &[
    // Cloud metadata services, refused even with `allow_private`:
    // AWS/GCP/Azure/OCI/DigitalOcean/OpenStack, AWS ECS task credentials, AWS EKS Pod Identity,
    // Alibaba Cloud, Azure WireServer (a public-range address).
    (Ipv4Addr::new(169, 254, 169, 254), 32, Class::Metadata),
    (Ipv4Addr::new(169, 254, 170, 2), 32, Class::Metadata),
    (Ipv4Addr::new(169, 254, 170, 23), 32, Class::Metadata),
    (Ipv4Addr::new(100, 100, 100, 200), 32, Class::Metadata),
    (Ipv4Addr::new(168, 63, 129, 16), 32, Class::Metadata),
    // Special-purpose registry.
    (Ipv4Addr::new(0, 0, 0, 0), 32, Class::Unspecified),           // RFC 1122 §3.2.1.3
    (Ipv4Addr::new(0, 0, 0, 0), 8, Class::ThisNetwork),            // RFC 791, RFC 1122
    (Ipv4Addr::new(10, 0, 0, 0), 8, Class::Private),               // RFC 1918
    (Ipv4Addr::new(100, 64, 0, 0), 10, Class::Cgnat),              // RFC 6598
    (Ipv4Addr::new(127, 0, 0, 0), 8, Class::Loopback),             // RFC 1122
    (Ipv4Addr::new(169, 254, 0, 0), 16, Class::LinkLocal),         // RFC 3927
    (Ipv4Addr::new(172, 16, 0, 0), 12, Class::Private),            // RFC 1918
    (Ipv4Addr::new(192, 0, 0, 0), 24, Class::ProtocolAssignments), // RFC 6890
    (Ipv4Addr::new(192, 0, 2, 0), 24, Class::Documentation),       // RFC 5737 TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24, Class::SixToFour),         // RFC 3068, deprecated (7526)
    (Ipv4Addr::new(192, 168, 0, 0), 16, Class::Private),           // RFC 1918
    (Ipv4Addr::new(198, 18, 0, 0), 15, Class::Benchmarking),       // RFC 2544
    (Ipv4Addr::new(198, 51, 100, 0), 24, Class::Documentation),    // RFC 5737 TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24, Class::Documentation),     // RFC 5737 TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4, Class::Multicast),            // RFC 5771
    (Ipv4Addr::new(255, 255, 255, 255), 32, Class::Broadcast),     // RFC 919, RFC 8190
    (Ipv4Addr::new(240, 0, 0, 0), 4, Class::Reserved),             // RFC 1112 §4
];

/// Special-purpose IPv6 blocks, first match wins. Sources: the IANA IPv6 Special-Purpose
/// Address Registry (RFC 6890) and the cited RFCs. Every IPv4-embedding form is refused
/// outright, whatever IPv4 address it carries.
#[rustfmt::skip]
const IPV6_BLOCKS: &[(Ipv6Addr, u8, Class)] = &[
    // Cloud metadata services, refused even with `allow_private`:
    // AWS IMDS, AWS EKS Pod Identity, GCP metadata server.
    (Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), 128, Class::Metadata),
    (Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23), 128, Class::Metadata),
    (Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254), 128, Class::Metadata),
    // Special-purpose registry.
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, Class::Unspecified),        // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, Class::Loopback),           // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, Class::Ipv4Mapped),     // RFC 4291
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96, Class::Ipv4Translated), // RFC 2765
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, Class::Ipv4Compatible),      // RFC 4291 §2.5.5.1
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, Class::Nat64),       // RFC 6052
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Class::Nat64),       // RFC 8215
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Class::Discard),         // RFC 6666
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Class::Teredo),         // RFC 4380
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, Class::Benchmarking),   // RFC 5180
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, Class::ProtocolAssignments), // RFC 2928
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, Class::Documentation), // RFC 3849
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, Class::SixToFour),      // RFC 3056
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, Class::Documentation),  // RFC 9637
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, Class::Reserved),       // RFC 9602 (SRv6)
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Class::UniqueLocal),     // RFC 4193
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Class::LinkLocal),      // RFC 4291
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Class::SiteLocal),      // RFC 3879: deprecated
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Class::Multicast),       // RFC 4291
    // Only 2000::/3 is assigned for global unicast (RFC 4291 §2.4, IANA IPv6 address space).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 3, Class::Reserved),
    (Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0), 2, Class::Reserved),
    (Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0), 1, Class::Reserved),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net)
}

fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => IPV4_BLOCKS
            .iter()
            .find(|(net, len, _)| in_v4(v4, *net, *len))
            .map(|(_, _, class)| *class),
        IpAddr::V6(v6) => IPV6_BLOCKS
            .iter()
            .find(|(net, len, _)| in_v6(v6, *net, *len))
            .map(|(_, _, class)| *class),
    }
}

/// Why an address is refused, or `None` when it is public.
///
/// Covers the IANA IPv4 and IPv6 special-purpose registries, cloud metadata endpoints and
/// everything outside IPv6 global unicast. IPv4-mapped, -compatible, -translated, NAT64,
/// 6to4 and Teredo addresses are refused whatever IPv4 address they embed.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    classify(ip).map(Class::reason)
}

/// Why an address is refused even to a credential that opted in to the private network
/// (metadata, unspecified, documentation, multicast, ...), or `None` when some credential may
/// connect to it.
pub fn never_allowed(ip: IpAddr) -> Option<&'static str> {
    classify(ip)
        .filter(|class| !class.operator_may_allow())
        .map(Class::reason)
}

// ---------------------------------------------------------------------------------------------
// IP literals
// ---------------------------------------------------------------------------------------------

/// Parses every textual form of an IP address a URL host could be interpreted as.
///
/// Accepts dotted quads, IPv6 with or without brackets (and an optional `%zone`), and the
/// `inet_aton` legacy forms: decimal `2130706433`, hex `0x7f000001`, octal `0177.0.0.1`,
/// short forms `127.1` and `127.0.1`, mixed `0x7f.1`, and a single trailing dot. Returns
/// `None` for ordinary DNS names.
pub fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[') {
        return parse_ipv6(inner.strip_suffix(']')?).map(IpAddr::V6);
    }
    if host.contains(':') {
        return parse_ipv6(host).map(IpAddr::V6);
    }
    parse_inet_aton(host).map(IpAddr::V4)
}

fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    let address = text
        .split_once('%')
        .map_or(text, |(address, _zone)| address);
    address.parse().ok()
}

/// `inet_aton` semantics: one to four parts; every part but the last is one byte, the last
/// fills the remaining bytes.
fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    // As in the WHATWG URL host parser, one trailing dot does not make it a name.
    let text = text.strip_suffix('.').unwrap_or(text);
    let parts = text
        .split('.')
        .map(parse_aton_number)
        .collect::<Option<Vec<u64>>>()?;
    if parts.len() > 4 {
        return None;
    }
    let (last, leading) = parts.split_last()?;
    let mut value: u64 = 0;
    for (index, part) in leading.iter().enumerate() {
        if *part > 0xff {
            return None;
        }
        value |= part << (24 - 8 * index);
    }
    let last_bits = 32 - 8 * leading.len();
    if *last >> last_bits != 0 {
        return None;
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// One `inet_aton` number: `0x` hex, leading-zero octal, or decimal.
fn parse_aton_number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |acc, c| {
        acc.checked_mul(u64::from(radix))?
            .checked_add(u64::from(c.to_digit(radix)?))
    })
}

// ---------------------------------------------------------------------------------------------
// Name lookup
// ---------------------------------------------------------------------------------------------

/// Name resolution used by the broker. Tests substitute a fixed table to make names resolve
/// to forbidden addresses.
pub trait HostLookup: Send + Sync + fmt::Debug {
    /// The addresses `host` resolves to (`port` is only a hint for the system resolver).
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// The system resolver (std `ToSocketAddrs`, i.e. `getaddrinfo`).
#[derive(Debug, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// A fixed table (for tests of the core): host to addresses; an unknown host is a
/// `NotFound` I/O error. Host names are matched case-insensitively.
#[derive(Debug, Default, Clone)]
pub struct StaticLookup {
    table: HashMap<String, Vec<IpAddr>>,
}

impl StaticLookup {
    /// An empty table: every lookup fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the addresses of `host`.
    pub fn with(mut self, host: &str, ips: &[IpAddr]) -> Self {
        self.table.insert(host.to_ascii_lowercase(), ips.to_vec());
        self
    }
}

impl HostLookup for StaticLookup {
    fn lookup(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.table
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host in the table"))
    }
}

// ---------------------------------------------------------------------------------------------
// Dev routes
// ---------------------------------------------------------------------------------------------

/// Explicit routes from `AIVAULT_DEV_RESOLVE` (debug and test builds only):
/// `host=127.0.0.1:PORT,host2=[::1]:PORT`; a `host:port=...` entry routes that port only. These are the tests' explicit routing and the one
/// thing the guard lets through unchecked; the caller must never build them in a release build.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DevRoutes(BTreeMap<String, SocketAddr>);

impl DevRoutes {
    /// Parses `host=ip:port` entries separated by commas (blank entries are ignored).
    pub fn parse(spec: &str) -> Result<DevRoutes> {
        let mut routes = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let malformed = |why: &str| {
                Error::invalid(format!(
                    "AIVAULT_DEV_RESOLVE: entry {entry:?} {why}; expected host=IP:PORT \
                     (e.g. api.example.com=127.0.0.1:8080 or api.example.com=[::1]:8080)"
                ))
            };
            let (host, address) = entry
                .split_once('=')
                .ok_or_else(|| malformed("has no '='"))?;
            let host = host.trim().to_ascii_lowercase();
            if host.is_empty() {
                return Err(malformed("has an empty host"));
            }
            let address: SocketAddr = address
                .trim()
                .parse()
                .map_err(|_| malformed("does not end in an IP:PORT address"))?;
            if address.port() == 0 {
                return Err(malformed("has port 0"));
            }
            if routes.insert(host, address).is_some() {
                return Err(malformed("routes a host that is already routed"));
            }
        }
        Ok(DevRoutes(routes))
    }

    /// The route for `host` (case-insensitive), if any.
    pub fn get(&self, host: &str) -> Option<SocketAddr> {
        self.0.get(&host.to_ascii_lowercase()).copied()
    }

    /// The route for `host` on `port`: an entry for `host:port` first, then one for `host`
    /// (so a test can prove which port a request was meant for).
    pub fn route(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.get(&format!("{host}:{port}"))
            .or_else(|| self.get(host))
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// The ureq resolver
// ---------------------------------------------------------------------------------------------

/// ureq keeps at most this many addresses (`ResolvedSocketAddrs` capacity).
const MAX_ADDRS: usize = 16;

/// A guard refusal, carried through ureq as the payload of an `io::Error` (ureq returns a
/// resolver's error unchanged from `call()`), and recovered by [`refusal_of`].
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(message: String) -> ureq::Error {
    ureq::Error::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        Refused(message),
    ))
}

/// Recovers the guard's refusal from a ureq error, as a `policy_violation` carrying the
/// guard's message. `None` for every other error (transport failures, lookup failures, ...).
pub(crate) fn refusal_of(err: &ureq::Error) -> Option<Error> {
    let ureq::Error::Io(io_err) = err else {
        return None;
    };
    let inner = io_err.get_ref()?;
    if let Some(Refused(message)) = inner.downcast_ref::<Refused>() {
        return Some(Error::new(ErrorKind::PolicyViolation, message.clone()));
    }
    // ureq sometimes wraps its own error in an io::Error (body readers).
    inner.downcast_ref::<ureq::Error>().and_then(refusal_of)
}

/// The ureq resolver: dev routes first, then lookup and check; it hands ureq only validated
/// addresses.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    /// Name resolution (the system resolver, or a fixed table in tests).
    pub lookup: Arc<dyn HostLookup>,
    /// Explicit dev/test routes, let through unchecked.
    pub routes: Arc<DevRoutes>,
    /// An operator-created custom credential may reach loopback and private hosts.
    pub allow_private: bool,
    /// Plain HTTP: accept loopback addresses only (a restriction on top of `allow_private`,
    /// which must also be set for loopback to be reachable).
    pub loopback_only: bool,
}

impl GuardedResolver {
    /// The request's host (brackets stripped, lower-cased) and port (explicit or the scheme's
    /// default). Error messages name the host only, never the URL (its query may hold a secret).
    fn host_and_port(uri: &Uri) -> Result<(String, u16), ureq::Error> {
        let authority = uri
            .authority()
            .ok_or_else(|| ureq::Error::BadUri("netguard: the request URL has no host".into()))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_ascii_lowercase();
        let port = match (authority.port_u16(), uri.scheme()) {
            (Some(port), _) => port,
            (None, Some(scheme)) if *scheme == Scheme::HTTPS => 443,
            (None, Some(scheme)) if *scheme == Scheme::HTTP => 80,
            (None, _) => {
                return Err(ureq::Error::BadUri(format!(
                    "netguard: no port for {host}: the scheme must be http or https"
                )));
            }
        };
        Ok((host, port))
    }

    /// Runs the lookup, within the resolve timeout when one is set.
    fn lookup_within(
        &self,
        host: &str,
        port: u16,
        timeout: NextTimeout,
    ) -> Result<Vec<IpAddr>, ureq::Error> {
        let result = if timeout.after.is_not_happening() {
            self.lookup.lookup(host, port)
        } else {
            let (tx, rx) = mpsc::sync_channel(1);
            let lookup = Arc::clone(&self.lookup);
            let owned = host.to_owned();
            thread::Builder::new()
                .name("aivault-resolve".into())
                .spawn(move || tx.send(lookup.lookup(&owned, port)).ok())
                .map_err(ureq::Error::Io)?;
            match rx.recv_timeout(*timeout.after) {
                Ok(result) => result,
                Err(RecvTimeoutError::Timeout) => return Err(ureq::Error::Timeout(timeout.reason)),
                Err(RecvTimeoutError::Disconnected) => Err(io::Error::other(
                    "the lookup thread ended without an answer",
                )),
            }
        };
        result.map_err(|e| {
            ureq::Error::Io(io::Error::new(
                e.kind(),
                format!("netguard: cannot resolve {host}: {e}"),
            ))
        })
    }

    /// Why `ip` is refused under this resolver's policy, or `None` to accept it.
    fn verdict(&self, ip: IpAddr) -> Option<String> {
        const PLAIN_HTTP: &str = "plain HTTP is allowed towards loopback only";
        match classify(ip) {
            Some(class) if self.allow_private && class.operator_may_allow() => {
                let refused = self.loopback_only && class != Class::Loopback;
                refused.then(|| format!("{}; {PLAIN_HTTP}", class.reason()))
            }
            Some(class) => Some(class.reason().to_owned()),
            None if self.loopback_only => Some(format!("public; {PLAIN_HTTP}")),
            None => None,
        }
    }
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (host, port) = Self::host_and_port(uri)?;
        let mut out = self.empty();

        // 1. The tests' explicit routes, unchecked.
        if let Some(address) = self.routes.route(&host, port) {
            out.push(address);
            return Ok(out);
        }

        // 2. Hosts are DNS names, except the IP literal of a credential that opted in to the
        //    private network: pinned (no lookup), written plainly (a dotted quad or IPv6),
        //    and checked like a resolved address. Every other literal, in any notation, is
        //    refused.
        if let Some(ip) = parse_ip_literal(&host) {
            let plain = match ip {
                IpAddr::V4(v4) => v4.to_string() == host,
                IpAddr::V6(_) => host.parse::<Ipv6Addr>().is_ok(),
            };
            if !(self.allow_private && plain) {
                return Err(refused(format!(
                    "netguard: {host} is an IP literal ({ip}); IP-literal hosts are only allowed for credentials with --allow-private-network"
                )));
            }
            if let Some(reason) = self.verdict(ip) {
                return Err(refused(format!(
                    "netguard: {host} is {ip} ({reason}); refusing to connect"
                )));
            }
            out.push(SocketAddr::new(ip, port));
            return Ok(out);
        }
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_name {
            return Err(refused(format!(
                "netguard: {host:?} is not a valid DNS name; refusing to connect"
            )));
        }

        // 3. Resolve once; ureq connects to exactly the addresses returned here.
        let ips = self.lookup_within(&host, port, timeout)?;

        // 4. Keep the acceptable addresses; remember why the first other one was refused.
        let mut first_refusal = None;
        let mut accepted = Vec::new();
        for ip in ips {
            match self.verdict(ip) {
                Some(reason) => {
                    first_refusal.get_or_insert((ip, reason));
                }
                None => {
                    let address = SocketAddr::new(ip, port);
                    if !accepted.contains(&address) {
                        accepted.push(address);
                    }
                }
            }
        }
        for address in config
            .ip_family()
            .keep_wanted(accepted.into_iter())
            .take(MAX_ADDRS)
        {
            out.push(address);
        }
        if !out.is_empty() {
            return Ok(out);
        }
        match first_refusal {
            Some((ip, reason)) => Err(refused(format!(
                "netguard: {host} resolves to {ip} ({reason}); refusing to connect"
            ))),
            None => Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("netguard: {host} has no address of the configured IP family"),
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;
    use ureq::config::IpFamily;
    use ureq::unversioned::transport::DefaultConnector;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn resolver(lookup: StaticLookup, allow_private: bool) -> GuardedResolver {
        GuardedResolver {
            lookup: Arc::new(lookup),
            routes: Arc::new(DevRoutes::default()),
            allow_private,
            loopback_only: false,
        }
    }

    fn resolve_with(
        resolver: &GuardedResolver,
        url: &str,
        config: &Config,
    ) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        resolver
            .resolve(&uri, config, NextTimeout::default())
            .map(|addrs| addrs.to_vec())
    }

    fn resolve(resolver: &GuardedResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        resolve_with(resolver, url, &Config::default())
    }

    fn policy_message(err: &ureq::Error) -> String {
        let recovered = refusal_of(err).unwrap_or_else(|| panic!("not a refusal: {err}"));
        assert_eq!(recovered.kind(), ErrorKind::PolicyViolation);
        recovered.message().to_owned()
    }

    /// An agent wired exactly like the broker's: the guard is ureq's only resolver.
    fn agent(resolver: GuardedResolver) -> ureq::Agent {
        let config = Config::builder()
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        ureq::Agent::with_parts(config, DefaultConnector::new(), resolver)
    }

    #[test]
    fn refusal_table() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("169.254.170.2", "metadata"),
            ("169.254.1.1", "link-local"),
            ("100.100.100.200", "metadata"),
            ("100.64.0.1", "cgnat (100.64.0.0/10)"),
            ("100.127.255.255", "cgnat (100.64.0.0/10)"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network (0.0.0.0/8)"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("192.0.0.8", "ietf protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("192.88.99.1", "6to4"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local (fc00::/7)"),
            ("fd12::1", "unique local (fc00::/7)"),
            ("fd00:ec2::254", "metadata"),
            ("::ffff:127.0.0.1", "ipv4-mapped"),
            ("::ffff:8.8.8.8", "ipv4-mapped"),
            ("::127.0.0.1", "ipv4-compatible"),
            ("::ffff:0:808:808", "ipv4-translated"),
            ("64:ff9b::a00:1", "nat64"),
            ("64:ff9b:1::808:808", "nat64"),
            ("100::1", "discard-only"),
            ("2001::1", "teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:20::1", "ietf protocol assignments"),
            ("2002:7f00:1::", "6to4"),
            ("2002:808:808::", "6to4"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("5f00::1", "reserved"),
            ("4000::1", "reserved"),
            ("e000::1", "reserved"),
        ];
        for (address, reason) in cases {
            assert_eq!(refusal(ip(address)), Some(reason), "{address}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(refusal(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn tables_have_no_host_bits() {
        for (net, len, _) in IPV4_BLOCKS {
            assert!(in_v4(*net, *net, *len) && *len <= 32, "{net}/{len}");
            let host_bits =
                u32::from(*net) & !u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            assert_eq!(host_bits, 0, "{net}/{len}");
        }
        for (net, len, _) in IPV6_BLOCKS {
            assert!(*len <= 128, "{net}/{len}");
            let host_bits =
                u128::from(*net) & !u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            assert_eq!(host_bits, 0, "{net}/{len}");
        }
    }

    #[test]
    fn parses_every_literal_form() {
        let loopback = Some(ip("127.0.0.1"));
        for text in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.1",
            "127.0.1",
            "0x7f.1",
            "017700000001",
            "127.0.0.1.",
        ] {
            assert_eq!(parse_ip_literal(text), loopback, "{text}");
        }
        assert_eq!(parse_ip_literal("[::1]"), Some(ip("::1")));
        assert_eq!(parse_ip_literal("::1"), Some(ip("::1")));
        assert_eq!(parse_ip_literal("[fe80::1%25eth0]"), Some(ip("fe80::1")));
        assert_eq!(
            parse_ip_literal("::ffff:127.0.0.1"),
            Some(ip("::ffff:127.0.0.1"))
        );
        assert_eq!(parse_ip_literal("0"), Some(ip("0.0.0.0")));
        assert_eq!(parse_ip_literal("4294967295"), Some(ip("255.255.255.255")));
        assert_eq!(parse_ip_literal("1.0x1000000"), None);
        assert_eq!(parse_ip_literal("1.2.0x10000"), None);
        assert_eq!(parse_ip_literal("1.0xffffff"), Some(ip("1.255.255.255")));
        for text in [
            "1.2.3.4.5",
            "api.openai.com",
            "0x",
            "256.0.0.1",
            "4294967296",
            "99999999999999999999999999",
            "08.0.0.1",
            "1..2",
            "",
            ".",
            "[::1",
            "localhost",
            "example.com.",
            "1e3",
            "-1",
        ] {
            assert_eq!(parse_ip_literal(text), None, "{text:?}");
        }
    }

    #[test]
    fn dev_routes_parse() {
        let routes =
            DevRoutes::parse(" api.example.com=127.0.0.1:8080, V6.Example=[::1]:9000 ,").unwrap();
        assert_eq!(
            routes.get("API.example.com"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            routes.get("v6.example"),
            Some("[::1]:9000".parse().unwrap())
        );
        assert_eq!(routes.get("other.example"), None);
        assert!(!routes.is_empty());
        let ported =
            DevRoutes::parse("git.example=127.0.0.1:1,git.example:8443=127.0.0.1:2").unwrap();
        assert_eq!(
            ported.route("git.example", 8443),
            Some("127.0.0.1:2".parse().unwrap())
        );
        assert_eq!(
            ported.route("git.example", 443),
            Some("127.0.0.1:1".parse().unwrap())
        );
        let only_port = DevRoutes::parse("git.example:8443=127.0.0.1:2").unwrap();
        assert_eq!(only_port.route("git.example", 443), None);
        assert!(DevRoutes::parse("").unwrap().is_empty());

        for bad in [
            "api.example.com",
            "=127.0.0.1:80",
            "api.example.com=127.0.0.1",
            "api.example.com=localhost:80",
            "api.example.com=::1:80",
            "api.example.com=127.0.0.1:0",
            "a=127.0.0.1:1,A=127.0.0.1:2",
        ] {
            let err = DevRoutes::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(err.message().contains("AIVAULT_DEV_RESOLVE"), "{err}");
        }
    }

    #[test]
    fn mixed_lookup_keeps_only_public_addresses() {
        let lookup = StaticLookup::new().with(
            "mixed.test",
            &[
                ip("10.0.0.1"),
                ip("93.184.216.34"),
                ip("169.254.169.254"),
                ip("2606:4700:4700::1111"),
                ip("::1"),
                ip("93.184.216.34"),
            ],
        );
        let guard = resolver(lookup, false);
        assert_eq!(
            resolve(&guard, "https://mixed.test/v1?key=secret").unwrap(),
            vec![
                "93.184.216.34:443".parse::<SocketAddr>().unwrap(),
                "[2606:4700:4700::1111]:443".parse().unwrap(),
            ]
        );
        let v4_only = Config::builder().ip_family(IpFamily::Ipv4Only).build();
        assert_eq!(
            resolve_with(&guard, "http://MIXED.test:8080/", &v4_only).unwrap(),
            vec!["93.184.216.34:8080".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn private_resolution_is_refused_with_reason() {
        let lookup = StaticLookup::new()
            .with("api.example.com", &[ip("10.0.0.1"), ip("127.0.0.1")])
            .with("meta.example.com", &[ip("169.254.169.254")]);
        let guard = resolver(lookup, false);
        let err = resolve(&guard, "https://api.example.com/x?token=secret").unwrap_err();
        assert_eq!(
            policy_message(&err),
            "netguard: api.example.com resolves to 10.0.0.1 (private); refusing to connect"
        );
        let err = resolve(&guard, "https://meta.example.com/").unwrap_err();
        assert!(policy_message(&err).contains("169.254.169.254 (metadata)"));
    }

    #[test]
    fn allow_private_accepts_private_but_not_metadata() {
        let lookup = StaticLookup::new()
            .with("localhost", &[ip("127.0.0.1"), ip("::1")])
            .with(
                "lan.example",
                &[ip("192.168.1.10"), ip("fd12::1"), ip("100.64.0.1")],
            )
            .with(
                "meta.example",
                &[ip("169.254.169.254"), ip("fd00:ec2::254")],
            )
            .with("alibaba.example", &[ip("100.100.100.200")])
            .with(
                "odd.example",
                &[ip("0.0.0.0"), ip("::ffff:10.0.0.1"), ip("224.0.0.1")],
            );
        let guard = resolver(lookup, true);
        assert_eq!(resolve(&guard, "http://localhost:8080/").unwrap().len(), 2);
        assert_eq!(resolve(&guard, "https://lan.example/").unwrap().len(), 3);
        for (url, reason) in [
            ("https://meta.example/", "(metadata)"),
            ("https://alibaba.example/", "(metadata)"),
            ("https://odd.example/", "(unspecified)"),
        ] {
            let err = resolve(&guard, url).unwrap_err();
            assert!(policy_message(&err).contains(reason), "{url}");
        }
    }

    /// IP-literal hosts are refused without the private-network opt-in, in every notation;
    /// with it, a plainly written literal is pinned (the lookup is never consulted) and its
    /// address judged like a resolved one, while legacy notations stay refused.
    #[test]
    fn ip_literal_hosts_are_pinned_only_with_the_opt_in() {
        let strict = resolver(StaticLookup::new(), false);
        // A lookup that would answer for the literals' text: never consulted.
        let lookup = StaticLookup::new()
            .with("127.0.0.1", &[ip("10.9.9.9")])
            .with("::1", &[ip("10.9.9.9")]);
        let operator = resolver(lookup, true);
        let legacy = [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
        ];
        let plain = [
            "https://8.8.8.8/",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/",
        ];
        for url in legacy.iter().chain(&plain) {
            let message = policy_message(&resolve(&strict, url).unwrap_err());
            assert!(
                message.contains("IP-literal hosts are only allowed"),
                "{url}: {message}"
            );
        }
        for url in legacy {
            let message = policy_message(&resolve(&operator, url).unwrap_err());
            assert!(
                message.contains("IP-literal hosts are only allowed"),
                "{url}: {message}"
            );
        }
        for (url, want) in [
            ("https://8.8.8.8/", "8.8.8.8:443"),
            ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
            ("http://[::1]:8080/", "[::1]:8080"),
        ] {
            let got = resolve(&operator, url).unwrap();
            assert_eq!(got, vec![want.parse::<SocketAddr>().unwrap()], "{url}");
        }
        for (url, reason) in [
            ("http://[::ffff:7f00:1]/", "(ipv4-mapped)"),
            ("http://169.254.169.254/", "(metadata)"),
        ] {
            let message = policy_message(&resolve(&operator, url).unwrap_err());
            assert!(message.contains(reason), "{url}: {message}");
        }
    }

    #[test]
    fn lookup_failure_is_not_a_refusal_and_names_only_the_host() {
        let guard = resolver(StaticLookup::new(), false);
        let err = resolve(&guard, "https://missing.example/path?api_key=secret").unwrap_err();
        assert!(refusal_of(&err).is_none());
        let text = err.to_string();
        assert!(text.contains("missing.example"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("/path"),
            "{text}"
        );
        assert!(refusal_of(&ureq::Error::HostNotFound).is_none());
        assert!(refusal_of(&ureq::Error::Io(io::Error::other("x"))).is_none());
    }

    #[test]
    fn slow_lookup_times_out() {
        #[derive(Debug)]
        struct Slow;
        impl HostLookup for Slow {
            fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
                thread::sleep(Duration::from_millis(500));
                Ok(vec![ip("93.184.216.34")])
            }
        }
        let guard = GuardedResolver {
            lookup: Arc::new(Slow),
            routes: Arc::new(DevRoutes::default()),
            allow_private: false,
            loopback_only: false,
        };
        let uri: Uri = "https://slow.example/".parse().unwrap();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::Exact(Duration::from_millis(20)),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        let err = guard
            .resolve(&uri, &Config::default(), timeout)
            .unwrap_err();
        assert!(
            matches!(err, ureq::Error::Timeout(ureq::Timeout::Resolve)),
            "{err}"
        );
    }

    #[test]
    fn loopback_only_refuses_everything_but_loopback() {
        let lookup = StaticLookup::new()
            .with("localhost", &[ip("127.0.0.1"), ip("::1")])
            .with("both.example", &[ip("192.168.1.10"), ip("127.0.0.1")])
            .with("lan.example", &[ip("192.168.1.10")])
            .with("public.example", &[ip("93.184.216.34")])
            .with("meta.example", &[ip("169.254.169.254")]);
        let plain_http = GuardedResolver {
            loopback_only: true,
            ..resolver(lookup.clone(), true)
        };
        assert_eq!(
            resolve(&plain_http, "http://localhost:8080/")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            resolve(&plain_http, "http://both.example/").unwrap(),
            vec!["127.0.0.1:80".parse::<SocketAddr>().unwrap()]
        );
        for (url, reason) in [
            (
                "http://lan.example/",
                "(private; plain HTTP is allowed towards loopback only)",
            ),
            (
                "http://public.example/",
                "(public; plain HTTP is allowed towards loopback only)",
            ),
            ("http://meta.example/", "(metadata)"),
        ] {
            let err = resolve(&plain_http, url).unwrap_err();
            let message = policy_message(&err);
            assert!(message.contains(reason), "{url}: {message}");
        }
        // A restriction, never a grant: without `allow_private` loopback stays refused.
        let restricted = GuardedResolver {
            loopback_only: true,
            ..resolver(lookup, false)
        };
        let err = resolve(&restricted, "http://localhost/").unwrap_err();
        assert!(policy_message(&err).contains("(loopback)"));
    }

    #[test]
    fn refusal_survives_a_real_agent_and_no_connection_is_made() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let lookup = StaticLookup::new().with("evil.test", &[ip("127.0.0.1")]);
        let agent = agent(resolver(lookup, false));

        let err = agent
            .get(format!("http://evil.test:{port}/?key=secret"))
            .call()
            .unwrap_err();
        let recovered = refusal_of(&err).unwrap_or_else(|| panic!("not recovered: {err:?}"));
        assert_eq!(recovered.kind(), ErrorKind::PolicyViolation);
        assert_eq!(
            recovered.message(),
            "netguard: evil.test resolves to 127.0.0.1 (loopback); refusing to connect"
        );
        let accepted = listener.accept().map(|_| ()).unwrap_err();
        assert_eq!(accepted.kind(), io::ErrorKind::WouldBlock);

        // The same agent refuses a literal for the listener itself.
        let err = agent
            .get(format!("http://127.0.0.1:{port}/"))
            .call()
            .unwrap_err();
        assert!(refusal_of(&err).is_some());
        let accepted = listener.accept().map(|_| ()).unwrap_err();
        assert_eq!(accepted.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn dev_route_reaches_a_real_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "client closed early");
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .unwrap();
            String::from_utf8(request).unwrap()
        });

        let routes = DevRoutes::parse(&format!("api.example.test={address}")).unwrap();
        let guard = GuardedResolver {
            // An empty table: anything not routed would fail to resolve.
            lookup: Arc::new(StaticLookup::new()),
            routes: Arc::new(routes),
            allow_private: false,
            loopback_only: false,
        };
        let mut response = agent(guard)
            .get("http://api.example.test/hello")
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body_mut().read_to_string().unwrap(), "ok");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /hello HTTP/1.1\r\n"), "{request}");
    }
}
