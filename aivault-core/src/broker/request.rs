//! What a caller asks the broker for: a capability, never a URL.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::caller_files::ProtectedPaths;
use crate::error::{Error, Result};

/// One call through the broker. The caller names a capability and, optionally, a method,
/// a path (with query) under the capability's prefixes, headers and a body; the host,
/// scheme and credential come from the vault.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Capability id (`openai/chat-completions`).
    pub capability: String,
    /// A credential id, when several could serve the capability.
    pub credential: Option<String>,
    /// Caller context: workspace.
    pub workspace_id: Option<String>,
    /// Caller context: group of the workspace.
    pub group_id: Option<String>,
    /// Caller context: the calling agent or tool (for consumer bindings).
    pub consumer: Option<String>,
    /// HTTP method; defaults to the capability's only method.
    pub method: Option<String>,
    /// Path and query (`/v1/models?limit=2`); defaults to the capability's only path prefix.
    pub path: Option<String>,
    /// Extra request headers (never auth headers: the broker injects those).
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: RequestBody,
    /// Whole-call timeout; five minutes when unset.
    pub timeout: Option<Duration>,
    /// Who made the call, recorded in its audit event (`aivault serve` sets the token's name
    /// and the peer's uid and pid as `token:NAME,uid:N,pid:N`; printable, at most 200).
    pub caller: Option<String>,
}

/// A request body.
#[derive(Debug, Clone, Default)]
pub enum RequestBody {
    /// No body.
    #[default]
    Empty,
    /// These bytes.
    Bytes(Vec<u8>),
    /// The contents of a file.
    File(PathBuf),
    /// `multipart/form-data` with these parts, in order.
    Multipart(Vec<MultipartPart>),
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartPart {
    /// A text field.
    Field {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// A file, sent with its base name as the file name.
    File {
        /// Field name.
        name: String,
        /// The file to send.
        path: PathBuf,
    },
    /// A file's contents, already read by the caller (what a thin client sends to `aivault
    /// serve`, which never opens a path a caller names).
    Data {
        /// Field name.
        name: String,
        /// The file name sent (its base name; quotes and line breaks replaced).
        file_name: String,
        /// The contents.
        bytes: Vec<u8>,
    },
}

/// A body ready to send: its bytes (borrowed from the invocation when it holds them) and the
/// content type it implies (multipart).
pub(crate) struct PreparedBody<'a> {
    pub bytes: Cow<'a, [u8]>,
    pub content_type: Option<String>,
}

impl RequestBody {
    /// Whether the body names files (which the broker then reads through
    /// [`ProtectedPaths`]).
    pub(crate) fn names_files(&self) -> bool {
        match self {
            RequestBody::File(_) => true,
            RequestBody::Multipart(parts) => parts
                .iter()
                .any(|p| matches!(p, MultipartPart::File { .. })),
            RequestBody::Empty | RequestBody::Bytes(_) => false,
        }
    }

    /// Reads files (never the vault's own: `files` says which are refused) and encodes
    /// multipart, refusing more than `limit` bytes before reading and while reading.
    pub(crate) fn prepare(
        &self,
        limit: Option<u64>,
        files: &ProtectedPaths,
    ) -> Result<PreparedBody<'_>> {
        let check = |len: u64| -> Result<()> {
            match limit {
                Some(max) if len > max => Err(too_big(len, max)),
                _ => Ok(()),
            }
        };
        match self {
            RequestBody::Empty => Ok(PreparedBody {
                bytes: Cow::Borrowed(&[]),
                content_type: None,
            }),
            RequestBody::Bytes(bytes) => {
                check(bytes.len() as u64)?;
                Ok(PreparedBody {
                    bytes: Cow::Borrowed(bytes),
                    content_type: None,
                })
            }
            RequestBody::File(path) => {
                check(files.len(path, BODY_FILE)?)?;
                let bytes = files.read(path, BODY_FILE, limit)?;
                check(bytes.len() as u64)?;
                Ok(PreparedBody {
                    bytes: Cow::Owned(bytes),
                    content_type: None,
                })
            }
            RequestBody::Multipart(parts) => {
                let mut total = 0u64;
                for part in parts {
                    match part {
                        MultipartPart::File { path, .. } => {
                            total += files.len(path, MULTIPART_FILE)?;
                        }
                        MultipartPart::Data { bytes, .. } => total += bytes.len() as u64,
                        MultipartPart::Field { .. } => {}
                    }
                }
                check(total)?;
                let (content_type, bytes) = encode_multipart(parts, limit, files)?;
                check(bytes.len() as u64)?;
                Ok(PreparedBody {
                    bytes: Cow::Owned(bytes),
                    content_type: Some(content_type),
                })
            }
        }
    }
}

/// How errors name a body file and a multipart file.
const BODY_FILE: &str = "body file";
const MULTIPART_FILE: &str = "multipart file";

fn too_big(len: u64, max: u64) -> Error {
    Error::new(
        crate::error::ErrorKind::PolicyViolation,
        format!(
            "the request body ({len} bytes) exceeds the capability's maxRequestBodyBytes ({max})"
        ),
    )
}

/// Encodes `multipart/form-data` (RFC 7578) with a random boundary.
fn encode_multipart(
    parts: &[MultipartPart],
    limit: Option<u64>,
    files: &ProtectedPaths,
) -> Result<(String, Vec<u8>)> {
    let mut random = [0u8; 16];
    getrandom::getrandom(&mut random)
        .map_err(|e| Error::internal(format!("no randomness for a multipart boundary: {e}")))?;
    let boundary = format!(
        "aivault-{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            MultipartPart::Field { name, value } => {
                check_field_name(name)?;
                out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                out.extend_from_slice(value.as_bytes());
            }
            MultipartPart::File { name, path } => {
                check_field_name(name)?;
                let file_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "file".into());
                file_part_head(&mut out, name, &file_name);
                out.extend_from_slice(&files.read(path, MULTIPART_FILE, limit)?);
            }
            MultipartPart::Data {
                name,
                file_name,
                bytes,
            } => {
                check_field_name(name)?;
                file_part_head(&mut out, name, file_name);
                out.extend_from_slice(bytes);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), out))
}

/// The headers of a file part: its field name, its file name (quotes, backslashes and line
/// breaks replaced) and the content type its extension implies.
fn file_part_head(out: &mut Vec<u8>, name: &str, file_name: &str) {
    let file_name = file_name.replace(['"', '\r', '\n', '\\'], "_");
    out.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: {}\r\n\r\n",
            content_type_of(Path::new(&file_name))
        )
        .as_bytes(),
    );
}

fn check_field_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.contains(['"', '\r', '\n', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "invalid multipart field name {name:?}: use a plain name"
        )));
    }
    Ok(())
}

/// A content type from the file extension (uploads such as audio and images care).
fn content_type_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "txt" | "md" => "text/plain",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" | "mpga" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "audio/webm",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => "application/octet-stream",
    }
}
