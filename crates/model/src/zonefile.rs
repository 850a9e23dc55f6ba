//! RFC 1035 master files: `$ORIGIN`, `$TTL` (RFC 2308), `$INCLUDE`, `@`, relative names, blank
//! owners, parentheses, comments, escapes, multi-string TXT and the RFC 3597 generic forms.
//!
//! The parser reads the whole file and reports every error with its file and line instead of
//! stopping at the first, so `turnout check-zone` can list them all. A zone is returned only when
//! there are no errors at all. TTL defaults follow BIND: an omitted TTL is the `$TTL` value, else
//! the last TTL written, else the SOA MINIMUM.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::name::Name;
use crate::presentation::{Entry, Lexer, Token, parse_ttl};
use crate::rdata::Rdata;
use crate::rtype::RType;
use crate::zone::{Soa, Zone};

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

/// One problem in a zone file, located by file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFileError {
    /// The file, as it was named to the parser.
    pub file: String,
    /// The 1-based line, or 0 when the error is about the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ZoneFileError {}

/// A record as read, before it joins a zone.
struct Record {
    file: usize,
    line: usize,
    name: Name,
    rtype: RType,
    ttl: Option<u32>,
    rdata: Rdata,
}

struct Parser {
    files: Vec<String>,
    /// With the index of their file, to report in file and line order.
    errors: Vec<(usize, ZoneFileError)>,
    records: Vec<Record>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
}

/// Reads and parses a zone file. `origin` is the initial `$ORIGIN` (optional: the file may set
/// it, or use only absolute names); the zone apex is the owner of the SOA record.
pub fn parse_file(path: &Path, origin: Option<&Name>) -> Result<Zone, Vec<ZoneFileError>> {
    let mut p = Parser::new();
    p.include(path, origin.cloned(), 0, None);
    p.finish()
}

/// Parses zone-file text. `source` names it in errors; `$INCLUDE` paths are relative to the
/// current directory.
pub fn parse_str(
    text: &str,
    source: &str,
    origin: Option<&Name>,
) -> Result<Zone, Vec<ZoneFileError>> {
    let mut p = Parser::new();
    p.files.push(source.to_owned());
    p.parse_text(text, 0, Path::new("."), origin.cloned(), 0);
    p.finish()
}

impl Parser {
    fn new() -> Self {
        Parser {
            files: Vec::new(),
            errors: Vec::new(),
            records: Vec::new(),
            default_ttl: None,
            last_ttl: None,
            last_owner: None,
        }
    }

    fn error(&mut self, file: usize, line: usize, message: impl Into<String>) {
        let e = ZoneFileError { file: self.files[file].clone(), line, message: message.into() };
        self.errors.push((file, e));
    }

    /// The errors in file and line order.
    fn into_errors(mut self) -> Vec<ZoneFileError> {
        self.errors.sort_by_key(|(file, e)| (*file, e.line));
        self.errors.into_iter().map(|(_, e)| e).collect()
    }

    fn include(
        &mut self,
        path: &Path,
        origin: Option<Name>,
        depth: usize,
        from: Option<(usize, usize)>,
    ) {
        let shown = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                    let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                    self.files.push(shown);
                    let f = self.files.len() - 1;
                    self.error(
                        f,
                        line,
                        "the file is not UTF-8 text (write other bytes as \\DDD escapes)",
                    );
                    return;
                }
            },
            Err(e) => {
                match from {
                    Some((file, line)) => {
                        self.error(file, line, format!("cannot read $INCLUDE file {shown}: {e}"))
                    }
                    None => {
                        self.files.push(shown);
                        let f = self.files.len() - 1;
                        self.error(f, 0, format!("cannot read the file: {e}"));
                    }
                }
                return;
            }
        };
        self.files.push(shown);
        let file = self.files.len() - 1;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        self.parse_text(&text, file, &dir, origin, depth);
    }

    fn parse_text(
        &mut self,
        text: &str,
        file: usize,
        dir: &Path,
        mut origin: Option<Name>,
        depth: usize,
    ) {
        let mut lexer = Lexer::new(text);
        while let Some(entry) = lexer.next_entry() {
            match entry {
                Err(e) => self.error(file, e.line, e.message),
                Ok(entry) => {
                    if let Err((line, msg)) = self.entry(&entry, file, dir, &mut origin, depth) {
                        self.error(file, line, msg);
                    }
                }
            }
        }
    }

    fn entry(
        &mut self,
        entry: &Entry<'_>,
        file: usize,
        dir: &Path,
        origin: &mut Option<Name>,
        depth: usize,
    ) -> Result<(), (usize, String)> {
        let tokens = &entry.tokens;
        let line = entry.line;
        let first = tokens[0];
        if !entry.blank_start && !first.quoted && first.text.starts_with('$') {
            return self.directive(tokens, file, dir, origin, depth);
        }
        let mut i = 0;
        let owner = if entry.blank_start {
            self.last_owner
                .clone()
                .ok_or((line, "no owner name: the first record must name its owner".to_owned()))?
        } else {
            i = 1;
            let n = Name::parse_in(first.text, origin.as_ref())
                .map_err(|e| (line, format!("owner name: {e}")))?;
            self.last_owner = Some(n.clone());
            n
        };
        let mut ttl = None;
        let mut class_seen = false;
        while let Some(t) = tokens.get(i) {
            if ttl.is_none() && t.text.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(parse_ttl(t.text).map_err(|m| (t.line, m))?);
            } else if !class_seen && is_class(t.text) {
                if !t.text.eq_ignore_ascii_case("IN") && !t.text.eq_ignore_ascii_case("CLASS1") {
                    return Err((t.line, format!("class {} is not served; only IN is", t.text)));
                }
                class_seen = true;
            } else {
                break;
            }
            i += 1;
        }
        let type_tok = tokens.get(i).ok_or((line, "missing record type".to_owned()))?;
        let rtype = RType::from_mnemonic(type_tok.text)
            .ok_or_else(|| (type_tok.line, format!("unknown record type {:?}", type_tok.text)))?;
        let data = &tokens[i + 1..];
        if data.is_empty() {
            return Err((type_tok.line, format!("missing {rtype} data")));
        }
        let rdata = Rdata::parse(rtype, data, origin.as_ref()).map_err(|e| {
            let at = e.token.and_then(|k| data.get(k)).map_or(type_tok.line, |t| t.line);
            (at, format!("{rtype} data: {}", e.message))
        })?;
        if let Some(t) = ttl {
            self.last_ttl = Some(t);
        }
        // Resolved here, where the $TTL in force is known; None waits for the SOA MINIMUM.
        let ttl = ttl.or(self.default_ttl).or(self.last_ttl);
        self.records.push(Record { file, line, name: owner, rtype, ttl, rdata });
        Ok(())
    }

    fn directive(
        &mut self,
        tokens: &[Token<'_>],
        file: usize,
        dir: &Path,
        origin: &mut Option<Name>,
        depth: usize,
    ) -> Result<(), (usize, String)> {
        let d = tokens[0];
        let arg = |k: usize, what: &str| {
            tokens.get(k).copied().ok_or((d.line, format!("{} needs {what}", d.text)))
        };
        match d.text.to_ascii_uppercase().as_str() {
            "$ORIGIN" => {
                let a = arg(1, "a domain name")?;
                *origin = Some(
                    Name::parse_in(a.text, origin.as_ref())
                        .map_err(|e| (a.line, format!("$ORIGIN: {e}")))?,
                );
                extra(tokens, 2)
            }
            "$TTL" => {
                let a = arg(1, "a TTL")?;
                self.default_ttl =
                    Some(parse_ttl(a.text).map_err(|m| (a.line, format!("$TTL: {m}")))?);
                extra(tokens, 2)
            }
            "$INCLUDE" => {
                let a = arg(1, "a file name")?;
                extra(tokens, 3)?;
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err((
                        a.line,
                        format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files"),
                    ));
                }
                let inner_origin = match tokens.get(2) {
                    Some(o) => Some(
                        Name::parse_in(o.text, origin.as_ref())
                            .map_err(|e| (o.line, format!("$INCLUDE origin: {e}")))?,
                    ),
                    None => origin.clone(),
                };
                let path = dir.join(a.text);
                // RFC 1035 §5.1: the included file never changes the parent's origin.
                self.include(&path, inner_origin, depth + 1, Some((file, a.line)));
                Ok(())
            }
            other => Err((
                d.line,
                format!("unknown directive {other} (supported: $ORIGIN, $TTL, $INCLUDE)"),
            )),
        }
    }

    fn finish(mut self) -> Result<Zone, Vec<ZoneFileError>> {
        let Some(soa_at) = self.records.iter().position(|r| r.rtype == RType::SOA) else {
            // Only worth saying when nothing else is wrong: a broken SOA line was reported.
            if self.errors.is_empty() {
                if self.files.is_empty() {
                    self.files.push(String::new());
                }
                self.error(0, 0, "no SOA record: the SOA's owner is the zone apex");
            }
            return Err(self.into_errors());
        };
        let apex = self.records[soa_at].name.clone();
        let soa_min = Soa::from_rdata(&self.records[soa_at].rdata).map(|s| s.minimum);
        let mut zone = Zone::new(apex);
        let mut first_line: HashMap<(Name, Option<RType>), (usize, usize)> = HashMap::new();
        let records = std::mem::take(&mut self.records);
        for rec in records {
            first_line.entry((rec.name.clone(), Some(rec.rtype))).or_insert((rec.file, rec.line));
            first_line.entry((rec.name.clone(), None)).or_insert((rec.file, rec.line));
            let Some(ttl) = rec.ttl.or(soa_min) else {
                self.error(
                    rec.file,
                    rec.line,
                    "no TTL: give the record a TTL or set $TTL before it",
                );
                continue;
            };
            if let Err(e) = zone.insert(rec.name, rec.rtype, ttl, rec.rdata) {
                self.error(rec.file, rec.line, e.to_string());
            }
        }
        for e in zone.validate() {
            let (file, line) = e
                .subject()
                .and_then(|(n, t)| {
                    first_line.get(&(n.clone(), t)).or_else(|| first_line.get(&(n.clone(), None)))
                })
                .copied()
                .unwrap_or((0, 0));
            self.error(file, line, e.to_string());
        }
        if self.errors.is_empty() { Ok(zone) } else { Err(self.into_errors()) }
    }
}

fn extra(tokens: &[Token<'_>], from: usize) -> Result<(), (usize, String)> {
    match tokens.get(from) {
        Some(t) => Err((t.line, format!("unexpected {:?} after {}", t.text, tokens[0].text))),
        None => Ok(()),
    }
}

fn is_class(text: &str) -> bool {
    let u = text.to_ascii_uppercase();
    matches!(u.as_str(), "IN" | "CH" | "CS" | "HS" | "NONE" | "ANY")
        || u.strip_prefix("CLASS")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
