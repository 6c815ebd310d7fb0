//! Frames: `[u32 big-endian payload length][u8 kind][payload]`.

use std::io::{self, Read, Write};

use crate::error::{Error, ErrorKind, Result};

/// The largest head or trailer (JSON) either side accepts.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest body chunk either side sends or accepts.
pub const MAX_CHUNK: usize = 64 * 1024;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON head (request or response).
    Head,
    /// A chunk of body bytes (request body, or rendered output).
    Body,
    /// The end of the request body.
    End,
    /// The JSON trailer that ends a response.
    Trailer,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Head => b'H',
            Kind::Body => b'B',
            Kind::End => b'E',
            Kind::Trailer => b'T',
        }
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            b'H' => Some(Kind::Head),
            b'B' => Some(Kind::Body),
            b'E' => Some(Kind::End),
            b'T' => Some(Kind::Trailer),
            _ => None,
        }
    }

    /// The largest payload of this kind.
    fn max_len(self) -> usize {
        match self {
            Kind::Head | Kind::Trailer => MAX_HEAD,
            Kind::Body => MAX_CHUNK,
            Kind::End => 0,
        }
    }
}

/// Writes one frame (not flushed). A payload over its kind's cap is a bug of the caller.
pub fn write(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    if payload.len() > kind.max_len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame payload over its cap",
        ));
    }
    let mut head = [0u8; 5];
    head[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    head[4] = kind.byte();
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Writes `bytes` as body frames of at most [`MAX_CHUNK`] bytes each.
pub fn write_body(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    for chunk in bytes.chunks(MAX_CHUNK) {
        write(w, Kind::Body, chunk)?;
    }
    Ok(())
}

/// Reads one frame. A length over the kind's cap or an unknown kind is `invalid_input`
/// (nothing more is read); a connection closed or failing mid-frame is `io`.
pub fn read(r: &mut impl Read) -> Result<(Kind, Vec<u8>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).map_err(io_error)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let kind = Kind::from_byte(head[4]).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("protocol: unknown frame kind {:#04x}", head[4]),
        )
    })?;
    if len > kind.max_len() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "protocol: a {kind:?} frame of {len} bytes exceeds its cap of {}",
                kind.max_len()
            ),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).map_err(io_error)?;
    Ok((kind, payload))
}

fn io_error(e: io::Error) -> Error {
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "the connection closed mid-call".to_string(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "the connection was idle too long".to_string()
        }
        _ => format!("the connection failed: {e}"),
    };
    Error::new(ErrorKind::Io, format!("aivault serve: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_caps_hold() {
        let mut buf = Vec::new();
        write(&mut buf, Kind::Head, b"{}").expect("head");
        write_body(&mut buf, &vec![7u8; MAX_CHUNK + 1]).expect("body");
        write(&mut buf, Kind::End, b"").expect("end");
        let mut r = &buf[..];
        assert_eq!(read(&mut r).expect("1"), (Kind::Head, b"{}".to_vec()));
        assert_eq!(read(&mut r).expect("2").1.len(), MAX_CHUNK);
        assert_eq!(read(&mut r).expect("3").1.len(), 1);
        assert_eq!(read(&mut r).expect("4"), (Kind::End, vec![]));
        assert_eq!(read(&mut r).expect_err("eof").kind(), ErrorKind::Io);

        assert!(write(&mut Vec::new(), Kind::End, b"x").is_err());
        let huge = [0xff, 0xff, 0xff, 0xff, b'B'];
        assert_eq!(
            read(&mut &huge[..]).expect_err("cap").kind(),
            ErrorKind::InvalidInput
        );
        let unknown = [0, 0, 0, 0, b'Z'];
        assert_eq!(
            read(&mut &unknown[..]).expect_err("kind").kind(),
            ErrorKind::InvalidInput
        );
    }
}
