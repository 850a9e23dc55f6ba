//! Turnout's pure data model: DNS names, record types and data, zones and RFC 1035 zone files.
//!
//! Everything here is plain data and validation: no tokio, no sockets, no files except where
//! [`zonefile::parse_file`] reads a zone file the caller named. The data plane compiles these
//! types into its answer snapshot; the control plane stores record sets and edits them through
//! validated change batches ([`change::plan`]).

pub mod change;
pub mod cidr;
pub mod compile;
pub mod controls;
pub mod drills;
pub mod duration;
pub mod error;
pub mod geo;
pub mod health;
pub mod metric;
pub mod name;
pub mod presentation;
pub mod rdata;
pub mod records;
pub mod rtype;
pub mod sets;
pub mod zone;
pub mod zonefile;

pub use change::{Action, ChangeBatchSpec, ChangeError, ChangeSpec, Plan, ZoneDelta, ZoneRecords};
pub use error::{ErrorCode, FieldError};
pub use name::{Name, NameError};
pub use rdata::{EmbeddedName, Rdata, RdataError};
pub use records::{Policy, PolicyKind, RecordData, RecordKey, RecordSet, RecordSetSpec};
pub use rtype::RType;
pub use sets::RecordSets;
pub use zone::{Group, Member, MemberAnswer, RRset, Soa, Zone, ZoneError};
pub use zonefile::ZoneFileError;
