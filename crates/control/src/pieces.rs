//! Compiling a store zone for the snapshot: whole, or, for a large zone, as a home part (the
//! apex's record sets) and chunks of about [`CHUNK_TARGET`] records split by the first label
//! below the apex (`turnout_dns::ZoneParts`), so that a change recompiles only the home part
//! and the chunks holding the names it wrote.
//!
//! The pieces are checked by the same rules as a whole zone: the home part as a zone (SOA and
//! apex NS), each chunk name by name. A zone with an alias is compiled whole (an alias answers
//! from its target's records, which may be in another chunk); so is a zone whose names share
//! too few first labels to split.

use std::collections::BTreeSet;
use std::sync::Arc;

use turnout_dns::dnssec::ZoneSigner;
use turnout_dns::{ZonePart, ZoneParts, chunk_index, first_label_below};
use turnout_model::cidr::CidrCollection;
use turnout_model::compile::{Piece, compile_piece, compile_zone};
use turnout_model::health::HealthSlot;
use turnout_model::{Name, RecordData, ZoneError, ZoneRecords};

/// Zones of fewer records are compiled whole.
pub(crate) const CHUNK_MIN: usize = 4096;
/// About how many records a chunk holds.
pub(crate) const CHUNK_TARGET: usize = 1024;
/// A chunk that grew past this many records makes the zone split again.
const CHUNK_MAX: usize = 8 * CHUNK_TARGET;

/// What compiling needs besides the records.
pub(crate) struct Inputs<'a> {
    /// A health check's slot, by name.
    pub slot: &'a dyn Fn(&str) -> Arc<HealthSlot>,
    /// A CIDR collection, by name.
    pub collection: &'a dyn Fn(&str) -> Option<Arc<CidrCollection>>,
    /// Where clients are, for location-based policies.
    pub locator: Option<&'a Arc<turnout_dns::locate::Locator>>,
    /// The zone's DNSSEC keys, when it is signed: its apex publishes them and its home part
    /// signs with them.
    pub signer: Option<&'a Arc<ZoneSigner>>,
}

/// Builds the part that holds a zone's apex: with its signer's DNSKEY, CDS and CDNSKEY
/// published, and the signer attached.
fn apex_part(mut zone: turnout_model::Zone, inputs: &Inputs<'_>) -> Result<ZonePart, String> {
    if let Some(signer) = inputs.signer {
        signer.publish(&mut zone).map_err(|e| e.to_string())?;
    }
    let mut part = ZonePart::build_validated(&zone, inputs.locator).map_err(|e| e.to_string())?;
    part.set_signer(inputs.signer.cloned());
    Ok(part)
}

fn text(errors: &[ZoneError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Compiles a zone from scratch: whole when it is small or holds an alias, else in chunks.
pub(crate) fn compile(records: &ZoneRecords, inputs: &Inputs<'_>) -> Result<ZoneParts, String> {
    let bounds = if records.record_count() < CHUNK_MIN || has_alias(records) {
        Vec::new()
    } else {
        split(records)
    };
    if bounds.len() < 2 {
        let zone = compile_zone(records, inputs.slot, inputs.collection).map_err(|e| text(&e))?;
        return Ok(ZoneParts::whole(Arc::new(apex_part(zone, inputs)?)));
    }
    let bounds: Arc<[Box<[u8]>]> = Arc::from(bounds);
    let home = home(records, inputs)?;
    let chunks = (0..bounds.len())
        .map(|i| chunk(records, &bounds, i, inputs))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failed::text)?;
    Ok(ZoneParts { home, chunks, bounds })
}

/// The part of a zone that answers SERVFAIL to every query: a secondary zone not loaded yet, or
/// expired. It holds a placeholder SOA and NS, never answered.
pub(crate) fn unavailable(apex: &Name, inputs: &Inputs<'_>) -> Result<ZoneParts, String> {
    let mut zone = ZoneRecords::new(apex.clone());
    for (rtype, value) in [("SOA", "invalid. invalid. 0 0 0 0 0"), ("NS", "invalid.")] {
        let spec = turnout_model::RecordSetSpec {
            name: apex.to_string(),
            rtype: rtype.to_owned(),
            ttl: Some(0),
            values: Some(vec![value.to_owned()]),
            ..turnout_model::RecordSetSpec::default()
        };
        let set = spec.validate(apex).map_err(|e| format!("{e:?}"))?;
        zone.sets.insert(set);
    }
    let compiled = compile_zone(&zone, inputs.slot, inputs.collection).map_err(|e| text(&e))?;
    let mut part = ZonePart::build_validated(&compiled, None).map_err(|e| e.to_string())?;
    part.mark_unavailable();
    Ok(ZoneParts::whole(Arc::new(part)))
}

/// Compiles again what the record sets at `names` changed in a zone compiled as `previous`:
/// the home part when the apex is among them, and the chunks that hold the others. A zone
/// compiled whole, one that gained an alias, or one whose chunks grew too large or whose
/// records fell below [`CHUNK_MIN`] is compiled from scratch.
pub(crate) fn recompile(
    records: &ZoneRecords,
    previous: &ZoneParts,
    names: &BTreeSet<Name>,
    inputs: &Inputs<'_>,
) -> Result<ZoneParts, String> {
    if previous.chunks.is_empty() {
        return compile(records, inputs);
    }
    let apex_len = records.apex.as_wire().len();
    let mut home_changed = false;
    let mut touched = BTreeSet::new();
    for name in names {
        match first_label_below(name.as_wire(), apex_len) {
            Some(label) => {
                touched.insert(chunk_index(&previous.bounds, label));
            }
            None => home_changed = true,
        }
    }
    let mut next = previous.clone();
    if home_changed {
        next.home = home(records, inputs)?;
    }
    for i in touched {
        match chunk(records, &previous.bounds, i, inputs) {
            Ok(part) if part.record_count() <= CHUNK_MAX => next.chunks[i] = part,
            // Grown too large, or an alias written into it: the zone is compiled again.
            Ok(_) | Err(Failed::Alias) => return compile(records, inputs),
            Err(Failed::Invalid(e)) => return Err(e),
        }
    }
    let count: usize =
        next.home.record_count() + next.chunks.iter().map(|c| c.record_count()).sum::<usize>();
    if count < CHUNK_MIN / 2 {
        return compile(records, inputs);
    }
    Ok(next)
}

fn has_alias(records: &ZoneRecords) -> bool {
    records.sets.not_plain().any(|s| matches!(s.data, RecordData::Alias { .. }))
}

/// Chunk bounds for a zone: a new chunk starts at the first label after the current one holds
/// [`CHUNK_TARGET`] records. The first bound is empty.
fn split(records: &ZoneRecords) -> Vec<Box<[u8]>> {
    let apex_len = records.apex.as_wire().len();
    let mut bounds: Vec<Box<[u8]>> = Vec::new();
    let mut in_chunk = 0;
    let mut last: Option<&[u8]> = None;
    for (owner, count) in records.sets.owners() {
        let Some(label) = first_label_below(owner, apex_len) else { continue };
        if last != Some(label) {
            if bounds.is_empty() {
                bounds.push(Box::from(&b""[..]));
            } else if in_chunk >= CHUNK_TARGET {
                bounds.push(Box::from(label));
                in_chunk = 0;
            }
            last = Some(label);
        }
        in_chunk += count;
    }
    bounds
}

fn home(records: &ZoneRecords, inputs: &Inputs<'_>) -> Result<Arc<ZonePart>, String> {
    let zone = compile_piece(records, Piece::Apex, inputs.slot, inputs.collection)
        .map_err(|e| text(&e))?;
    Ok(Arc::new(apex_part(zone, inputs)?))
}

/// Why a chunk did not compile.
enum Failed {
    /// It holds an alias: only the whole zone can answer it.
    Alias,
    /// It breaks the zone rules.
    Invalid(String),
}

impl Failed {
    fn text(self) -> String {
        match self {
            Failed::Alias => "an alias in a chunk".to_owned(),
            Failed::Invalid(e) => e,
        }
    }
}

fn chunk(
    records: &ZoneRecords,
    bounds: &[Box<[u8]>],
    i: usize,
    inputs: &Inputs<'_>,
) -> Result<Arc<ZonePart>, Failed> {
    let piece = Piece::Chunk { from: &bounds[i], to: bounds.get(i + 1).map(AsRef::as_ref) };
    let zone = compile_piece(records, piece, inputs.slot, inputs.collection).map_err(|e| {
        if e.iter().any(|e| matches!(e, ZoneError::AliasInPiece(_))) {
            Failed::Alias
        } else {
            Failed::Invalid(text(&e))
        }
    })?;
    let part =
        ZonePart::build_chunk(&zone, inputs.locator).map_err(|e| Failed::Invalid(e.to_string()))?;
    Ok(Arc::new(part))
}
