//! Domain names in canonical form.
//!
//! A [`Name`] is always fully qualified and stored as uncompressed wire format with ASCII letters
//! lowercased, so equality, hashing and ordering are plain byte operations and every comparison is
//! case-insensitive by construction (RFC 4343). This module owns presentation-format parsing
//! (escapes, relative names, `@`) and printing; it does no I/O.

use std::cmp::Ordering;
use std::fmt;

/// The longest name in wire format, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The text was empty.
    #[error("empty name")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("empty label in {0:?}")]
    EmptyLabel(String),
    /// A label longer than 63 bytes.
    #[error("label {label:?} is {len} bytes long; the limit is 63")]
    LabelTooLong {
        /// The label as written.
        label: String,
        /// Its length in bytes after unescaping.
        len: usize,
    },
    /// More than 255 bytes in wire format.
    #[error("name is {0} bytes long in wire format; the limit is 255")]
    TooLong(usize),
    /// A backslash escape that is not `\X` or `\DDD` with DDD <= 255.
    #[error("bad escape sequence in {0:?}")]
    BadEscape(String),
    /// A relative name where no origin is known.
    #[error("relative name {0:?} but no origin is set (use $ORIGIN or end the name with a dot)")]
    NoOrigin(String),
    /// Wire-format bytes that are not one uncompressed name.
    #[error("malformed name in wire format")]
    BadWire,
}

/// A fully-qualified domain name: uncompressed wire format, ASCII lowercased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name `.`.
    pub fn root() -> Self {
        Name(Box::new([0]))
    }

    /// Builds a name from uncompressed wire format, lowercasing it.
    pub fn from_wire(wire: &[u8]) -> Result<Self, NameError> {
        let len = wire_name_len(wire).ok_or(NameError::BadWire)?;
        if len != wire.len() {
            return Err(NameError::BadWire);
        }
        let mut bytes = wire.to_vec().into_boxed_slice();
        lowercase_wire(&mut bytes);
        Ok(Name(bytes))
    }

    /// Parses an absolute name in presentation format; the trailing dot is optional
    /// (`a.example` and `a.example.` are the same name), as in APIs and on the command line.
    pub fn parse_absolute(text: &str) -> Result<Self, NameError> {
        Self::parse_with(text, None, true)
    }

    /// Parses a name as a zone file does: `@` is the origin, a name without a trailing dot is
    /// relative to `origin`.
    pub fn parse_in(text: &str, origin: Option<&Name>) -> Result<Self, NameError> {
        Self::parse_with(text, origin, false)
    }

    fn parse_with(
        text: &str,
        origin: Option<&Name>,
        implicit_root: bool,
    ) -> Result<Self, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text == "@" {
            return origin.cloned().ok_or_else(|| NameError::NoOrigin(text.to_owned()));
        }
        if text == "." {
            return Ok(Name::root());
        }
        let mut out: Vec<u8> = Vec::with_capacity(text.len() + 2);
        let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL_LEN);
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut absolute = false;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    push_label(&mut out, &label, text)?;
                    label.clear();
                    if i + 1 == bytes.len() {
                        absolute = true;
                    }
                    i += 1;
                }
                b'\\' => {
                    let (byte, used) = unescape_at(bytes, i)
                        .ok_or_else(|| NameError::BadEscape(text.to_owned()))?;
                    label.push(byte);
                    i += used;
                }
                b => {
                    label.push(b);
                    i += 1;
                }
            }
        }
        if !absolute {
            push_label(&mut out, &label, text)?;
        }
        if absolute || implicit_root {
            out.push(0);
        } else {
            let origin = origin.ok_or_else(|| NameError::NoOrigin(text.to_owned()))?;
            out.extend_from_slice(origin.as_wire());
        }
        if out.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(out.len()));
        }
        lowercase_wire(&mut out);
        Ok(Name(out.into_boxed_slice()))
    }

    /// A name from wire bytes this crate wrote from a [`Name`] (packed record sets): not
    /// checked again.
    pub(crate) fn from_trusted_wire(wire: &[u8]) -> Self {
        Name(wire.into())
    }

    /// The name in uncompressed, lowercased wire format.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The number of labels, not counting the root label.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The labels from left to right, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels { wire: &self.0 }
    }

    /// Whether the leftmost label is `*` (a wildcard owner, RFC 4592).
    pub fn is_wildcard(&self) -> bool {
        self.0.len() >= 2 && self.0[0] == 1 && self.0[1] == b'*'
    }

    /// The name with its leftmost label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = usize::from(self.0[0]) + 1;
        Some(Name(self.0[skip..].to_vec().into_boxed_slice()))
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn is_subdomain_of(&self, other: &Name) -> bool {
        is_wire_subdomain(&self.0, &other.0)
    }

    /// The name with `label` prepended.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel(String::from_utf8_lossy(label).into_owned()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong {
                label: String::from_utf8_lossy(label).into_owned(),
                len: label.len(),
            });
        }
        let total = 1 + label.len() + self.0.len();
        if total > MAX_NAME_LEN {
            return Err(NameError::TooLong(total));
        }
        let mut out = Vec::with_capacity(total);
        out.push(label.len() as u8);
        out.extend_from_slice(label);
        out.extend_from_slice(&self.0);
        lowercase_wire(&mut out);
        Ok(Name(out.into_boxed_slice()))
    }

    /// The presentation form relative to `origin` (`@` for the origin itself), or the absolute
    /// form when the name is not below `origin`.
    pub fn to_relative_string(&self, origin: &Name) -> String {
        if self == origin {
            return "@".to_owned();
        }
        if !origin.is_root() && self.is_subdomain_of(origin) {
            let keep = self.0.len() - origin.0.len();
            let mut s = String::new();
            write_labels(&mut s, &self.0[..keep]);
            s.pop(); // the trailing dot of the last label
            return s;
        }
        self.to_string()
    }
}

/// Iterator over the labels of a [`Name`].
pub struct Labels<'a> {
    wire: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(*self.wire.first()?);
        if len == 0 {
            return None;
        }
        let label = &self.wire[1..=len];
        self.wire = &self.wire[len + 1..];
        Some(label)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        let mut s = String::with_capacity(self.0.len() + 8);
        write_labels(&mut s, &self.0);
        f.write_str(&s)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Name::parse_absolute(s)
    }
}

/// Canonical DNS name order (RFC 4034 §6.1): compare label by label from the right.
impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_wire(&self.0, &other.0)
    }
}

/// The canonical order of two names given in uncompressed lowercased wire format (RFC 4034
/// §6.1: label by label from the root).
pub(crate) fn cmp_wire(a: &[u8], b: &[u8]) -> Ordering {
    // Label start offsets on the stack: a name has at most 127 labels, each offset < 255.
    fn starts(wire: &[u8], out: &mut [u8; 128]) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < wire.len() && wire[i] != 0 && n < out.len() {
            out[n] = i as u8;
            n += 1;
            i += usize::from(wire[i]) + 1;
        }
        n
    }
    fn label(wire: &[u8], at: u8) -> &[u8] {
        let at = usize::from(at);
        &wire[at + 1..=at + usize::from(wire[at])]
    }
    let (mut sa, mut sb) = ([0u8; 128], [0u8; 128]);
    let (na, nb) = (starts(a, &mut sa), starts(b, &mut sb));
    for (x, y) in sa[..na].iter().rev().zip(sb[..nb].iter().rev()) {
        match label(a, *x).cmp(label(b, *y)) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    na.cmp(&nb)
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn push_label(out: &mut Vec<u8>, label: &[u8], text: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel(text.to_owned()));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong {
            label: String::from_utf8_lossy(label).into_owned(),
            len: label.len(),
        });
    }
    out.push(label.len() as u8);
    out.extend_from_slice(label);
    if out.len() + 1 > MAX_NAME_LEN {
        return Err(NameError::TooLong(out.len() + 1));
    }
    Ok(())
}

/// Decodes the escape starting at `bytes[i] == b'\\'`: `\DDD` (decimal, <= 255) or `\X`.
/// Returns the byte and how many input bytes it used.
pub(crate) fn unescape_at(bytes: &[u8], i: usize) -> Option<(u8, usize)> {
    let next = *bytes.get(i + 1)?;
    if next.is_ascii_digit() {
        let digits = bytes.get(i + 1..i + 4)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        let v = u8::try_from(v).ok()?;
        Some((v, 4))
    } else {
        Some((next, 2))
    }
}

/// Writes labels of `wire` (which may end before the root) as `label.label.`, escaping.
fn write_labels(s: &mut String, wire: &[u8]) {
    let mut i = 0;
    while i < wire.len() {
        let len = usize::from(wire[i]);
        if len == 0 {
            break;
        }
        for &b in &wire[i + 1..=i + len] {
            match b {
                b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(char::from(b));
                }
                0x21..=0x7e => s.push(char::from(b)),
                _ => {
                    s.push('\\');
                    s.push_str(&format!("{b:03}"));
                }
            }
        }
        s.push('.');
        i += len + 1;
    }
}

/// Lowercases the ASCII letters of every label in place.
pub fn lowercase_wire(wire: &mut [u8]) {
    let mut i = 0;
    while i < wire.len() {
        let len = usize::from(wire[i]);
        if len == 0 {
            break;
        }
        let end = (i + 1 + len).min(wire.len());
        wire[i + 1..end].make_ascii_lowercase();
        i = end;
    }
}

/// The length of the uncompressed name at the start of `wire`, if it is well formed.
pub fn wire_name_len(wire: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let len = usize::from(*wire.get(i)?);
        if len == 0 {
            return if i < MAX_NAME_LEN { Some(i + 1) } else { None };
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        i += len + 1;
        if i >= MAX_NAME_LEN {
            return None;
        }
    }
}

/// The suffixes of a well-formed uncompressed wire name, longest first: the name itself, its
/// parent, ... down to the root (`\0`). Stops early on malformed input instead of panicking.
#[inline]
pub fn suffixes(wire: &[u8]) -> Suffixes<'_> {
    Suffixes { rest: Some(wire) }
}

/// Iterator returned by [`suffixes`].
pub struct Suffixes<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Suffixes<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let cur = self.rest?;
        self.rest = match cur.first() {
            Some(&len) if len != 0 => cur.get(usize::from(len) + 1..),
            _ => None,
        };
        Some(cur)
    }
}

/// Whether wire name `a` equals or lies below wire name `b` (both canonical, uncompressed).
pub fn is_wire_subdomain(a: &[u8], b: &[u8]) -> bool {
    if b.len() > a.len() {
        return false;
    }
    let offset = a.len() - b.len();
    if a[offset..] != *b {
        return false;
    }
    // `offset` must fall on a label boundary of `a`.
    let mut i = 0;
    while i < offset {
        i += usize::from(a[i]) + 1;
    }
    i == offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse_absolute(s).expect("valid name")
    }

    #[test]
    fn parses_and_lowercases() {
        let a = n("WWW.Example.TEST.");
        assert_eq!(a.as_wire(), b"\x03www\x07example\x04test\x00");
        assert_eq!(a.to_string(), "www.example.test.");
        assert_eq!(n("www.example.test"), a, "trailing dot is optional in absolute parsing");
    }

    #[test]
    fn relative_names_use_the_origin() {
        let origin = n("example.test.");
        assert_eq!(Name::parse_in("www", Some(&origin)).expect("ok"), n("www.example.test."));
        assert_eq!(Name::parse_in("@", Some(&origin)).expect("ok"), origin);
        assert_eq!(Name::parse_in("other.", Some(&origin)).expect("ok"), n("other."));
        assert_eq!(Name::parse_in("www", None), Err(NameError::NoOrigin("www".into())));
    }

    #[test]
    fn escapes_round_trip() {
        let a = Name::parse_in("a\\.b.c\\032d.", None).expect("ok");
        assert_eq!(a.as_wire(), b"\x03a.b\x03c d\x00");
        assert_eq!(a.to_string(), "a\\.b.c\\032d.");
        assert_eq!(Name::parse_absolute(&a.to_string()).expect("ok"), a);
        assert!(matches!(Name::parse_absolute("a\\256."), Err(NameError::BadEscape(_))));
        assert!(matches!(Name::parse_absolute("a\\"), Err(NameError::BadEscape(_))));
    }

    #[test]
    fn limits_are_enforced() {
        let long = "a".repeat(64);
        assert!(matches!(
            Name::parse_absolute(&long),
            Err(NameError::LabelTooLong { len: 64, .. })
        ));
        let ok63 = "a".repeat(63);
        assert!(Name::parse_absolute(&ok63).is_ok());
        let too_long = vec!["abcdefghi"; 26].join("."); // 26 * 10 + 1 = 261 bytes
        assert!(matches!(Name::parse_absolute(&too_long), Err(NameError::TooLong(_))));
        assert!(matches!(Name::parse_absolute("a..b"), Err(NameError::EmptyLabel(_))));
        assert!(matches!(Name::parse_absolute(".a"), Err(NameError::EmptyLabel(_))));
        assert_eq!(Name::parse_absolute(""), Err(NameError::Empty));
    }

    #[test]
    fn subdomains_respect_label_boundaries() {
        assert!(n("a.example.test").is_subdomain_of(&n("example.test")));
        assert!(n("example.test").is_subdomain_of(&n("example.test")));
        assert!(!n("aexample.test").is_subdomain_of(&n("example.test")));
        assert!(n("x.y").is_subdomain_of(&Name::root()));
    }

    #[test]
    fn canonical_order_is_right_to_left() {
        let mut names = [
            n("z.a.example"),
            n("a.example"),
            n("example"),
            n("b.example"),
            n("yljkjljk.a.example"),
        ];
        names.sort();
        let shown: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["example.", "a.example.", "yljkjljk.a.example.", "z.a.example.", "b.example."]
        );
    }

    #[test]
    fn wire_validation() {
        assert!(Name::from_wire(b"\x03abc\x00").is_ok());
        assert_eq!(Name::from_wire(b"\x03abc"), Err(NameError::BadWire));
        assert_eq!(Name::from_wire(b"\x03abc\x00\x00"), Err(NameError::BadWire));
        assert_eq!(Name::from_wire(b"\xc0\x0c"), Err(NameError::BadWire));
        assert_eq!(Name::from_wire(b"\x03ABC\x00").expect("ok").as_wire(), b"\x03abc\x00");
    }

    #[test]
    fn relative_printing() {
        let origin = n("example.test");
        assert_eq!(n("www.example.test").to_relative_string(&origin), "www");
        assert_eq!(origin.to_relative_string(&origin), "@");
        assert_eq!(n("other.test").to_relative_string(&origin), "other.test.");
    }

    #[test]
    fn suffixes_run_down_to_the_root() {
        let w = n("a.b").as_wire().to_vec();
        let all: Vec<&[u8]> = suffixes(&w).collect();
        assert_eq!(all, [&b"\x01a\x01b\x00"[..], b"\x01b\x00", b"\x00"]);
        assert_eq!(suffixes(b"\x05ab").count(), 1, "malformed input ends the walk");
    }

    #[test]
    fn wildcard_and_parent() {
        assert!(n("*.example").is_wildcard());
        assert!(!n("a*.example").is_wildcard());
        assert_eq!(n("a.b.c").parent(), Some(n("b.c")));
        assert_eq!(Name::root().parent(), None);
    }
}
