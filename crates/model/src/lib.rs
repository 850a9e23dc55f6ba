//! Turnout's pure data model: DNS names, record types and data, zones and RFC 1035 zone files.
//!
//! Everything here is plain data and validation: no tokio, no sockets, no files except where
//! [`zonefile::parse_file`] reads a zone file the caller named. The data plane compiles these
//! types into its answer snapshot; the control plane (a later crate) stores and edits them.

pub mod name;
pub mod presentation;
pub mod rdata;
pub mod rtype;
pub mod zone;
pub mod zonefile;

pub use name::{Name, NameError};
pub use rdata::{EmbeddedName, Rdata, RdataError};
pub use rtype::RType;
pub use zone::{RRset, Soa, Zone, ZoneError};
pub use zonefile::ZoneFileError;
