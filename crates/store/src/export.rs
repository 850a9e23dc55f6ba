//! The store as one JSON document: every key and its value, for backups and for moving data
//! across store format versions (a new redb major version, or from the embedded store to etcd).

use serde::{Deserialize, Serialize};

use crate::{RangeResponse, Revision, StoreError};

/// The `format` field of an export.
pub const EXPORT_FORMAT: &str = "turnout-store";
/// The `version` field this code writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// A whole-store export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Always [`EXPORT_VERSION`] for now.
    pub version: u32,
    /// The store revision the export is consistent with (informative: an import starts anew).
    pub revision: Revision,
    /// Every key, in byte order.
    pub entries: Vec<ExportEntry>,
}

/// One key of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEntry {
    /// The key.
    pub key: String,
    /// The value (Turnout's values are UTF-8 JSON documents).
    pub value: String,
}

impl Export {
    /// Builds an export from a full range, leaving out leased keys.
    pub fn from_range(range: &RangeResponse) -> Result<Export, StoreError> {
        let entries = range
            .kvs
            .iter()
            // A leased key belongs to a running process (a node's registration), not to the
            // configuration a backup restores.
            .filter(|kv| kv.lease == 0)
            .map(|kv| {
                String::from_utf8(kv.value.clone())
                    .map(|value| ExportEntry { key: kv.key.clone(), value })
                    .map_err(|_| {
                        StoreError::Corrupt(format!("the value of {:?} is not UTF-8", kv.key))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Export {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            revision: range.revision,
            entries,
        })
    }

    /// The export as a range at its revision (every key as if last written at it).
    pub fn to_range(&self) -> RangeResponse {
        let kvs = self
            .entries
            .iter()
            .map(|e| crate::KeyValue {
                key: e.key.clone(),
                value: e.value.clone().into_bytes(),
                create_revision: self.revision,
                mod_revision: self.revision,
                version: 1,
                lease: 0,
            })
            .collect();
        RangeResponse { kvs, revision: self.revision }
    }

    /// Parses and checks an export document.
    pub fn parse(text: &str) -> Result<Export, StoreError> {
        let export: Export = serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("not a store export: {e}")))?;
        if export.format != EXPORT_FORMAT || export.version != EXPORT_VERSION {
            return Err(StoreError::Corrupt(format!(
                "export format {:?} version {} (this build reads {EXPORT_FORMAT:?} version \
                 {EXPORT_VERSION})",
                export.format, export.version
            )));
        }
        Ok(export)
    }
}
