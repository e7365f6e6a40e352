//! The relay's destination allowlist, in the format of AWS's `vsock-proxy` allowlist
//! (`/etc/nitro_enclaves/vsock-proxy.yaml` in aws-nitro-enclaves-cli):
//!
//! ```yaml
//! allowlist:
//! - {address: kms.us-east-1.amazonaws.com, port: 443}
//! - address: custodian.example.com
//!   port: 8443
//! ```
//!
//! Why a hand parser and not a YAML crate: the format is one key holding a list of two-field
//! maps, the workspace has no YAML crate yet (a general YAML parser is a large attack surface
//! for a file this small), and a strict parser of exactly this shape fails closed on anything
//! surprising: anchors, aliases, tags, multi-line scalars, extra keys and tabs are all errors
//! that name their line, never silently reinterpreted. It accepts both item styles AWS's own
//! `serde_yaml`-based vsock-proxy accepts for this shape: flow maps (`- {address: A, port: P}`,
//! the style of the file AWS ships) and block maps (`- address: A` / `  port: P`), plus
//! comments, blank lines and a leading `---`.
//!
//! Matching is by exact name (ASCII case-insensitive) and port; unlike vsock-proxy, the relay
//! does not also accept a destination because it resolves to the same IP as a listed name.

use std::str::FromStr;

use thiserror::Error;

/// The largest allowlist file read, in bytes (AWS's file is about 4 KiB).
pub const MAX_ALLOWLIST_BYTES: u64 = 1 << 20;

/// The longest DNS name (RFC 1035 section 2.3.4) and so the longest address accepted.
const MAX_ADDRESS_LEN: usize = 253;

/// A TCP destination: a DNS name or IP literal, and a port (1-65535).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    host: String,
    port: u16,
}

impl Destination {
    /// A destination, checked: `host` is a name or IP literal of [A-Za-z0-9.-_:], port non-zero.
    ///
    /// # Errors
    /// A message naming the bad part.
    pub fn new(host: &str, port: u16) -> Result<Self, String> {
        if !valid_address(host) {
            return Err(format!(
                "address {host:?} must be a DNS name or IP literal (1-{MAX_ADDRESS_LEN} chars of A-Z a-z 0-9 . - _ :)"
            ));
        }
        if port == 0 {
            return Err("port must be 1-65535".into());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The name or IP literal (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for Destination {
    type Err = String;

    /// `HOST:PORT` or `[IPV6]:PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            rest.split_once("]:")
                .ok_or_else(|| format!("destination {s:?} must be [IPV6]:PORT"))?
        } else {
            let (h, p) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("destination {s:?} must be HOST:PORT"))?;
            if h.contains(':') {
                return Err(format!(
                    "destination {s:?}: write an IPv6 address in brackets, [IPV6]:PORT"
                ));
            }
            (h, p)
        };
        let port = parse_port(port).ok_or_else(|| format!("port {port:?} must be 1-65535"))?;
        Self::new(host, port)
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The destinations the relay may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Destination>,
}

impl Allowlist {
    /// Parses a vsock-proxy allowlist (see the module docs for the accepted shape).
    ///
    /// # Errors
    /// [`AllowlistError`] naming the first bad line.
    pub fn parse(text: &str) -> Result<Self, AllowlistError> {
        Parser::default().parse(text)
    }

    /// The listed destinations, in file order.
    pub fn entries(&self) -> &[Destination] {
        &self.entries
    }

    /// Whether `dest` is listed (name compared ASCII case-insensitively, port exactly).
    pub fn permits(&self, dest: &Destination) -> bool {
        self.entries
            .iter()
            .any(|e| e.port == dest.port && e.host.eq_ignore_ascii_case(&dest.host))
    }
}

/// Why an allowlist file was rejected. Lines count from 1.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowlistError {
    /// The file does not start with the `allowlist:` key.
    #[error("line {line}: expected `allowlist:` as the first (and only) top-level key")]
    MissingHeader {
        /// The line.
        line: usize,
    },
    /// A tab character: YAML forbids tabs for indentation; refused everywhere for simplicity.
    #[error("line {line}: tab character (indent with spaces)")]
    Tab {
        /// The line.
        line: usize,
    },
    /// A line that is neither a list item nor a field of the current block item.
    #[error(
        "line {line}: expected a list item `- {{address: HOST, port: PORT}}` or a field of the item above"
    )]
    UnexpectedLine {
        /// The line.
        line: usize,
    },
    /// A flow map that does not close on its line.
    #[error("line {line}: `{{` without a closing `}}` on the same line")]
    UnterminatedFlow {
        /// The line.
        line: usize,
    },
    /// A field that is not `key: value`.
    #[error("line {line}: expected `key: value`")]
    BadField {
        /// The line.
        line: usize,
    },
    /// A key other than `address` or `port`.
    #[error("line {line}: unknown key {key:?} (only address and port)")]
    UnknownKey {
        /// The line.
        line: usize,
        /// The key found.
        key: String,
    },
    /// A key given twice in one item.
    #[error("line {line}: key {key} given twice in one item")]
    DuplicateKey {
        /// The line.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// An item without `address` or without `port`.
    #[error("line {line}: item has no {key}")]
    MissingKey {
        /// The item's first line.
        line: usize,
        /// The missing key.
        key: &'static str,
    },
    /// An address that is not a DNS name or IP literal.
    #[error(
        "line {line}: address {address:?} is not a DNS name or IP literal (1-253 chars of A-Z a-z 0-9 . - _ :)"
    )]
    BadAddress {
        /// The line.
        line: usize,
        /// The value found.
        address: String,
    },
    /// A port that is not an unquoted integer 1-65535.
    #[error("line {line}: port {port:?} is not an integer 1-65535")]
    BadPort {
        /// The line.
        line: usize,
        /// The value found.
        port: String,
    },
}

impl AllowlistError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "host.allowlist.missing_header",
            Self::Tab { .. } => "host.allowlist.tab",
            Self::UnexpectedLine { .. } => "host.allowlist.unexpected_line",
            Self::UnterminatedFlow { .. } => "host.allowlist.unterminated_flow",
            Self::BadField { .. } => "host.allowlist.bad_field",
            Self::UnknownKey { .. } => "host.allowlist.unknown_key",
            Self::DuplicateKey { .. } => "host.allowlist.duplicate_key",
            Self::MissingKey { .. } => "host.allowlist.missing_key",
            Self::BadAddress { .. } => "host.allowlist.bad_address",
            Self::BadPort { .. } => "host.allowlist.bad_port",
        }
    }
}

/// An item being read: its first line, and the fields seen so far.
#[derive(Debug)]
struct Item {
    line: usize,
    address: Option<String>,
    port: Option<u16>,
}

impl Item {
    fn new(line: usize) -> Self {
        Self {
            line,
            address: None,
            port: None,
        }
    }

    fn set(&mut self, line: usize, field: &str) -> Result<(), AllowlistError> {
        let (key, value) = field
            .split_once(':')
            .ok_or(AllowlistError::BadField { line })?;
        let value = value.trim();
        match key.trim() {
            "address" => {
                if self.address.is_some() {
                    return Err(AllowlistError::DuplicateKey {
                        line,
                        key: "address",
                    });
                }
                let address = unquote(value);
                if !valid_address(address) {
                    return Err(AllowlistError::BadAddress {
                        line,
                        address: value.to_owned(),
                    });
                }
                self.address = Some(address.to_owned());
            }
            "port" => {
                if self.port.is_some() {
                    return Err(AllowlistError::DuplicateKey { line, key: "port" });
                }
                self.port = Some(parse_port(value).ok_or_else(|| AllowlistError::BadPort {
                    line,
                    port: value.to_owned(),
                })?);
            }
            other => {
                return Err(AllowlistError::UnknownKey {
                    line,
                    key: other.to_owned(),
                });
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Destination, AllowlistError> {
        let line = self.line;
        let host = self.address.ok_or(AllowlistError::MissingKey {
            line,
            key: "address",
        })?;
        let port = self
            .port
            .ok_or(AllowlistError::MissingKey { line, key: "port" })?;
        Ok(Destination { host, port })
    }
}

#[derive(Debug, Default)]
struct Parser {
    seen_header: bool,
    /// The indent of the first item's `-`; every item must use it.
    item_indent: Option<usize>,
    /// A block item still reading fields, and the column its fields start at.
    open: Option<(Item, usize)>,
    entries: Vec<Destination>,
}

impl Parser {
    fn parse(mut self, text: &str) -> Result<Allowlist, AllowlistError> {
        let mut first_content = true;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.contains('\t') {
                return Err(AllowlistError::Tab { line });
            }
            let content = strip_comment(raw).trim_end();
            if content.trim_start().is_empty() {
                continue;
            }
            if std::mem::take(&mut first_content) && content == "---" {
                continue;
            }
            self.line(line, content)?;
        }
        if !self.seen_header {
            return Err(AllowlistError::MissingHeader { line: 1 });
        }
        self.close_item()?;
        Ok(Allowlist {
            entries: self.entries,
        })
    }

    fn line(&mut self, line: usize, content: &str) -> Result<(), AllowlistError> {
        let body = content.trim_start();
        let indent = content.len() - body.len();
        if !self.seen_header {
            if content != "allowlist:" {
                return Err(AllowlistError::MissingHeader { line });
            }
            self.seen_header = true;
            return Ok(());
        }
        if let Some(item) = body.strip_prefix("- ").or((body == "-").then_some("")) {
            if *self.item_indent.get_or_insert(indent) != indent {
                return Err(AllowlistError::UnexpectedLine { line });
            }
            self.close_item()?;
            let item = item.trim_start();
            let field_col = content.len() - item.len();
            return self.item(line, item, field_col);
        }
        match self.open.as_mut() {
            Some((item, col)) if *col == indent => item.set(line, body),
            _ => Err(AllowlistError::UnexpectedLine { line }),
        }
    }

    /// The text after `- `: a whole flow map, or the first field of a block map.
    fn item(&mut self, line: usize, text: &str, field_col: usize) -> Result<(), AllowlistError> {
        let mut item = Item::new(line);
        if let Some(flow) = text.strip_prefix('{') {
            let inner = flow
                .strip_suffix('}')
                .ok_or(AllowlistError::UnterminatedFlow { line })?;
            for field in inner.split(',') {
                item.set(line, field)?;
            }
            self.entries.push(item.finish()?);
            return Ok(());
        }
        if text.is_empty() {
            // `-` alone: YAML allows the map to start on the next line; that shape is not
            // vsock-proxy's, so refuse rather than guess the field column.
            return Err(AllowlistError::UnexpectedLine { line });
        }
        item.set(line, text)?;
        self.open = Some((item, field_col));
        Ok(())
    }

    fn close_item(&mut self) -> Result<(), AllowlistError> {
        if let Some((item, _)) = self.open.take() {
            self.entries.push(item.finish()?);
        }
        Ok(())
    }
}

/// Cuts a `#` comment: one at the start of the line or after a space. Neither an address nor a
/// port may contain `#`, so a `#` anywhere else is left in place to fail validation.
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(at) => line.get(..at).unwrap_or(line),
        None => line,
    }
}

/// Strips one pair of matching single or double quotes (no escapes are accepted: a backslash
/// or a quote inside fails the address check).
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= MAX_ADDRESS_LEN
        && !address.starts_with(['-', '.'])
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// An unquoted decimal 1-65535 (no sign, no leading `0x`; leading zeros are refused too, as YAML
/// 1.1 would read them as octal).
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's shipped allowlist (aws-nitro-enclaves-cli `vsock_proxy/configs/vsock-proxy.yaml`;
    /// provenance in the fixture directory's SOURCE.txt).
    const AWS_FIXTURE: &str =
        "/work/shared/fixtures/nitro/aws+aws-nitro-enclaves-cli/vsock-proxy.yaml";

    fn dest(s: &str) -> Destination {
        s.parse().expect(s)
    }

    #[test]
    fn accepts_the_real_vsock_proxy_file() {
        let Ok(text) = std::fs::read_to_string(AWS_FIXTURE) else {
            eprintln!(
                "!!!!! SKIPPED accepts_the_real_vsock_proxy_file: fixture {AWS_FIXTURE} not present !!!!!"
            );
            return;
        };
        let list = Allowlist::parse(&text).expect("AWS's allowlist parses");
        assert!(list.entries().len() > 10, "{}", list.entries().len());
        assert!(list.entries().iter().all(|d| d.port() == 443));
        assert!(list.permits(&dest("kms.us-east-1.amazonaws.com:443")));
        assert!(list.permits(&dest("KMS.us-east-1.amazonaws.com:443")));
        assert!(!list.permits(&dest("kms.us-east-1.amazonaws.com:80")));
        assert!(!list.permits(&dest("evil.example.com:443")));
    }

    #[test]
    fn accepts_block_items_comments_and_quotes() {
        let text = "---\n# relay destinations\nallowlist:\n  - address: custodian.example.com # ours\n    port: 8443\n  - {port: 443, address: \"10.0.0.7\"}\n  - {address: '::1', port: 9000}\n\n";
        let list = Allowlist::parse(text).expect("parses");
        assert_eq!(
            list.entries(),
            &[
                dest("custodian.example.com:8443"),
                dest("10.0.0.7:443"),
                dest("[::1]:9000")
            ]
        );
        assert_eq!(
            Allowlist::parse("allowlist:\n").expect("empty"),
            Allowlist::default()
        );
    }

    #[test]
    fn rejects_malformed_files() {
        let cases: &[(&str, &str)] = &[
            ("", "host.allowlist.missing_header"),
            ("# only a comment\n", "host.allowlist.missing_header"),
            ("allowlist: []\n", "host.allowlist.missing_header"),
            (
                "allow:\n- {address: a, port: 1}\n",
                "host.allowlist.missing_header",
            ),
            (
                "allowlist:\n\t- {address: a, port: 1}\n",
                "host.allowlist.tab",
            ),
            (
                "allowlist:\n- {address: a, port: 1\n",
                "host.allowlist.unterminated_flow",
            ),
            (
                "allowlist:\n- {address: a, port: 1, extra: 2}\n",
                "host.allowlist.unknown_key",
            ),
            (
                "allowlist:\n- {address: a, address: b, port: 1}\n",
                "host.allowlist.duplicate_key",
            ),
            ("allowlist:\n- {address: a}\n", "host.allowlist.missing_key"),
            ("allowlist:\n- address: a\n", "host.allowlist.missing_key"),
            ("allowlist:\n- {port: 1}\n", "host.allowlist.missing_key"),
            (
                "allowlist:\n- {address: a, port: 0}\n",
                "host.allowlist.bad_port",
            ),
            (
                "allowlist:\n- {address: a, port: 65536}\n",
                "host.allowlist.bad_port",
            ),
            (
                "allowlist:\n- {address: a, port: \"443\"}\n",
                "host.allowlist.bad_port",
            ),
            (
                "allowlist:\n- {address: a, port: 0443}\n",
                "host.allowlist.bad_port",
            ),
            (
                "allowlist:\n- {address: *anchor, port: 1}\n",
                "host.allowlist.bad_address",
            ),
            (
                "allowlist:\n- {address: , port: 1}\n",
                "host.allowlist.bad_address",
            ),
            (
                "allowlist:\n- {address: a b, port: 1}\n",
                "host.allowlist.bad_address",
            ),
            (
                "allowlist:\n- {address: a/b, port: 1}\n",
                "host.allowlist.bad_address",
            ),
            (
                "allowlist:\n- {address a, port: 1}\n",
                "host.allowlist.bad_field",
            ),
            (
                "allowlist:\n- {address: a, port: 1}\nother: 1\n",
                "host.allowlist.unexpected_line",
            ),
            (
                "allowlist:\n- address: a\n      port: 1\n",
                "host.allowlist.unexpected_line",
            ),
            (
                "allowlist:\n- {address: a, port: 1}\n  - {address: b, port: 1}\n",
                "host.allowlist.unexpected_line",
            ),
            (
                "allowlist:\n-\n  address: a\n  port: 1\n",
                "host.allowlist.unexpected_line",
            ),
            ("allowlist:\nallowlist:\n", "host.allowlist.unexpected_line"),
        ];
        for (text, code) in cases {
            let err = Allowlist::parse(text).expect_err(text);
            assert_eq!(err.code(), *code, "{text:?}: {err}");
        }
    }

    #[test]
    fn parses_destinations() {
        assert_eq!(dest("a.example:443").to_string(), "a.example:443");
        assert_eq!(dest("[::1]:80").host(), "::1");
        assert_eq!(dest("[::1]:80").to_string(), "[::1]:80");
        for bad in [
            "a.example",
            "a.example:0",
            "a.example:x",
            ":443",
            "::1:80",
            "[::1]80",
            "a b:1",
            "-a:1",
        ] {
            assert!(bad.parse::<Destination>().is_err(), "{bad}");
        }
    }
}
