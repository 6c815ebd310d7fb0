//! A git smart-HTTP responder (the "dumb" half of the protocol is not served): the ref
//! advertisement of `GET <repo>/info/refs?service=git-upload-pack` in pkt-lines, what
//! `git ls-remote https://...` needs, for requests carrying the expected `Authorization`;
//! `401` with a Basic challenge otherwise.

use crate::http::{Recorded, Reply};

/// One pkt-line: four hex digits of length (themselves included), then the payload.
pub fn pkt_line(payload: &str) -> String {
    format!("{:04x}{payload}", payload.len() + 4)
}

/// The protocol v0 advertisement of `refs` (`(object id, ref name)`, the first also as HEAD),
/// as a server sends it over smart HTTP.
pub fn upload_pack_advertisement(refs: &[(&str, &str)]) -> Vec<u8> {
    let mut body = pkt_line("# service=git-upload-pack\n");
    body.push_str("0000");
    for (i, (id, name)) in refs.iter().enumerate() {
        if i == 0 {
            body.push_str(&pkt_line(&format!(
                "{id} HEAD\0multi_ack side-band-64k ofs-delta symref=HEAD:{name} agent=git/aivault-testkit\n"
            )));
        }
        body.push_str(&pkt_line(&format!("{id} {name}\n")));
    }
    body.push_str("0000");
    body.into_bytes()
}

/// A handler serving `refs` for `repo` (`/acme/app.git`) to requests whose `Authorization`
/// is exactly `authorization`; other paths get `404`.
pub fn git_refs_handler(
    repo: &str,
    authorization: String,
    refs: Vec<(String, String)>,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let target = format!("{repo}/info/refs?service=git-upload-pack");
    move |req: &Recorded| {
        if req.target != target {
            return Reply::status(404);
        }
        if req.header("authorization") != Some(authorization.as_str()) {
            return Reply::status(401).header("www-authenticate", "Basic realm=\"git\"");
        }
        let refs: Vec<(&str, &str)> = refs
            .iter()
            .map(|(id, name)| (id.as_str(), name.as_str()))
            .collect();
        Reply::ok(upload_pack_advertisement(&refs))
            .header(
                "content-type",
                "application/x-git-upload-pack-advertisement",
            )
            .header("cache-control", "no-cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkt_lines_count_their_own_length() {
        assert_eq!(
            pkt_line("# service=git-upload-pack\n"),
            "001e# service=git-upload-pack\n"
        );
        let ad = String::from_utf8(upload_pack_advertisement(&[(
            "0123456789012345678901234567890123456789",
            "refs/heads/main",
        )]))
        .unwrap();
        assert!(ad.starts_with("001e# service=git-upload-pack\n0000"));
        assert!(ad.ends_with("refs/heads/main\n0000"));
    }
}
