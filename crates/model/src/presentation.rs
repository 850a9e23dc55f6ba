//! The RFC 1035 §5.1 presentation format: splitting text into entries and tokens, and decoding
//! the field kinds every record type shares (character strings, numbers, TTLs).
//!
//! The lexer keeps escapes intact inside a token (`\.` means different things in a name and in a
//! character string), strips quotes and comments, joins lines inside parentheses and remembers
//! the line of every token, so callers can report errors by line. It recovers after an error at
//! the end of the line, so one bad line does not hide the errors after it.

use crate::name::unescape_at;

/// One token of presentation text: the raw text between delimiters, escapes left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The text, without surrounding quotes; backslash escapes are still in it.
    pub text: &'a str,
    /// Whether it was written in double quotes.
    pub quoted: bool,
    /// The 1-based line it starts on.
    pub line: usize,
}

/// One logical entry: a line, or several lines joined by parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The 1-based line the entry starts on.
    pub line: usize,
    /// Whether the entry starts with white space (the owner is omitted).
    pub blank_start: bool,
    /// The tokens, at least one.
    pub tokens: Vec<Token<'a>>,
}

/// A lexical error, with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LexError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Splits presentation text into [`Entry`]s.
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`, starting at line 1.
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0, line: 1 }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Skips to just past the end of the current line (error recovery).
    fn skip_line(&mut self) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                return;
            }
        }
    }

    /// The next entry, an error for a malformed one, or `None` at the end of the input.
    pub fn next_entry(&mut self) -> Option<Result<Entry<'a>, LexError>> {
        loop {
            if self.pos >= self.src.len() {
                return None;
            }
            let start_line = self.line;
            let blank_start = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            let mut depth = 0usize;
            let mut paren_line = 0usize;
            loop {
                let Some(b) = self.peek() else {
                    if depth > 0 {
                        return Some(Err(LexError {
                            line: paren_line,
                            message: "'(' is never closed".to_owned(),
                        }));
                    }
                    break;
                };
                match b {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if depth == 0 {
                            paren_line = self.line;
                        }
                        depth += 1;
                        self.pos += 1;
                    }
                    b')' => {
                        if depth == 0 {
                            let line = self.line;
                            self.skip_line();
                            return Some(Err(LexError {
                                line,
                                message: "')' without a matching '('".to_owned(),
                            }));
                        }
                        depth -= 1;
                        self.pos += 1;
                    }
                    b'"' => match self.quoted() {
                        Ok(t) => tokens.push(t),
                        Err(e) => {
                            self.skip_line();
                            return Some(Err(e));
                        }
                    },
                    _ => tokens.push(self.bare()),
                }
            }
            if !tokens.is_empty() {
                return Some(Ok(Entry { line: start_line, blank_start, tokens }));
            }
        }
    }

    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let line = self.line;
        self.pos += 1; // opening quote
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(LexError {
                        line,
                        message: "quoted string is not closed on its line (write a newline inside quotes as \\010)"
                            .to_owned(),
                    });
                }
                Some(b'\\') => match self.src.as_bytes().get(self.pos + 1) {
                    None | Some(b'\n') => self.pos += 1, // reported as unterminated above
                    Some(c) => self.pos += 1 + c.len_utf8_from_lead(),
                },
                Some(b'"') => {
                    let text = &self.src[start..self.pos];
                    self.pos += 1;
                    return Ok(Token { text, quoted: true, line });
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn bare(&mut self) -> Token<'a> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    // an escaped character is part of the token, even a delimiter
                    self.pos += 1;
                    if let Some(c) = self.peek()
                        && c != b'\n'
                    {
                        self.pos += c.len_utf8_from_lead();
                    }
                }
                _ => self.pos += 1,
            }
        }
        // Never split a multi-byte character: advance to a char boundary.
        while !self.src.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        Token { text: &self.src[start..self.pos], quoted: false, line: self.line }
    }
}

trait Utf8Lead {
    fn len_utf8_from_lead(self) -> usize;
}

impl Utf8Lead for u8 {
    fn len_utf8_from_lead(self) -> usize {
        match self {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        }
    }
}

/// Tokenizes one piece of presentation text (e.g. the value of a record in an API call),
/// which must hold exactly one entry.
pub fn tokenize(text: &str) -> Result<Vec<Token<'_>>, LexError> {
    let mut lexer = Lexer::new(text);
    let mut tokens = Vec::new();
    while let Some(entry) = lexer.next_entry() {
        let entry = entry?;
        if !tokens.is_empty() {
            return Err(LexError {
                line: entry.line,
                message: "more than one line of data".to_owned(),
            });
        }
        tokens = entry.tokens;
    }
    Ok(tokens)
}

/// Decodes the escapes of a character string (`\X`, `\DDD`) into bytes.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let (b, used) =
                unescape_at(bytes, i).ok_or_else(|| format!("bad escape sequence in {text:?}"))?;
            out.push(b);
            i += used;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes a `<character-string>` (RFC 1035 §3.3): at most 255 bytes after unescaping.
pub fn char_string(token: &Token<'_>) -> Result<Vec<u8>, String> {
    let bytes = unescape(token.text)?;
    if bytes.len() > 255 {
        return Err(format!(
            "character string is {} bytes long; the limit is 255 (split it into several quoted strings)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Writes bytes as the inside of a quoted character string, escaping `"`, `\` and
/// non-printable bytes.
pub fn write_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
}

/// Parses a TTL or SOA timer: decimal seconds, or BIND units (`1h30m`, `2d`, `1w`), at most
/// 2^31 - 1 (RFC 2181 §8).
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a TTL (seconds, or units like 1h30m)");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut current: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let v = current.unwrap_or(0) * 10 + u64::from(d);
            if v > u64::from(u32::MAX) {
                return Err(format!("{text:?} is larger than the maximum TTL 2147483647"));
            }
            current = Some(v);
        } else {
            let unit = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 604_800,
                _ => return Err(bad()),
            };
            total += current.take().ok_or_else(bad)? * unit;
        }
    }
    if let Some(v) = current {
        if total > 0 {
            return Err(bad()); // a bare number after units, like "1h30"
        }
        total = v;
    }
    if total > 2_147_483_647 {
        return Err(format!("{text:?} is larger than the maximum TTL 2147483647"));
    }
    Ok(total as u32)
}

/// Parses an unsigned decimal integer of a field, with the field's name in the error.
pub fn parse_uint<T: TryFrom<u64>>(text: &str, field: &str) -> Result<T, String> {
    let max = || format!("{field} {text:?} is out of range");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 20 {
        return Err(format!("{field} {text:?} is not a number"));
    }
    let v: u64 = text.parse().map_err(|_| max())?;
    T::try_from(v).map_err(|_| max())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(src: &str) -> Vec<Result<Entry<'_>, LexError>> {
        let mut l = Lexer::new(src);
        std::iter::from_fn(|| l.next_entry()).collect()
    }

    #[test]
    fn splits_lines_and_joins_parentheses() {
        let src = "a 1 IN A 1.2.3.4 ; comment\n\n  b ( 1\n 2 ) ; x\nc \"q s\" \\; d\n";
        let e = entries(src);
        assert_eq!(e.len(), 3);
        let e0 = e[0].as_ref().expect("ok");
        assert_eq!(
            e0.tokens.iter().map(|t| t.text).collect::<Vec<_>>(),
            ["a", "1", "IN", "A", "1.2.3.4"]
        );
        assert!(!e0.blank_start);
        let e1 = e[1].as_ref().expect("ok");
        assert_eq!(e1.line, 3);
        assert!(e1.blank_start);
        assert_eq!(
            e1.tokens.iter().map(|t| (t.text, t.line)).collect::<Vec<_>>(),
            [("b", 3), ("1", 3), ("2", 4)]
        );
        let e2 = e[2].as_ref().expect("ok");
        assert_eq!(e2.line, 5);
        assert_eq!(e2.tokens[1], Token { text: "q s", quoted: true, line: 5 });
        assert_eq!(e2.tokens[2].text, "\\;");
    }

    #[test]
    fn recovers_after_errors() {
        let src = "a \"open\nb ) x\nc ok\nd ( never closed\n";
        let e = entries(src);
        assert_eq!(e[0].as_ref().err().map(|e| e.line), Some(1));
        assert_eq!(e[1].as_ref().err().map(|e| e.line), Some(2));
        assert_eq!(e[2].as_ref().map(|e| e.tokens[0].text).ok(), Some("c"));
        assert_eq!(e[3].as_ref().err().map(|e| e.line), Some(4));
    }

    #[test]
    fn escaped_quote_inside_quotes() {
        let e = entries("x \"a\\\"b\" y\n");
        let t = &e[0].as_ref().expect("ok").tokens;
        assert_eq!(t[1].text, "a\\\"b");
        assert_eq!(char_string(&t[1]).expect("ok"), b"a\"b");
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("1W"), Ok(604_800));
        assert_eq!(parse_ttl("2147483647"), Ok(2_147_483_647));
        assert!(parse_ttl("2147483648").is_err());
        assert!(parse_ttl("1h30").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("-1").is_err());
        assert!(parse_ttl("").is_err());
    }

    #[test]
    fn char_strings() {
        let t = Token { text: "a\\032b\\\\", quoted: true, line: 1 };
        assert_eq!(char_string(&t).expect("ok"), b"a b\\");
        let long = "x".repeat(256);
        assert!(char_string(&Token { text: &long, quoted: false, line: 1 }).is_err());
        let mut s = String::new();
        write_escaped(&mut s, b"a\"b\\c\x07");
        assert_eq!(s, "a\\\"b\\\\c\\007");
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint::<u16>("65535", "port"), Ok(65535));
        assert!(parse_uint::<u16>("65536", "port").is_err());
        assert!(parse_uint::<u8>("-1", "flags").is_err());
        assert!(parse_uint::<u8>("", "flags").is_err());
    }
}
