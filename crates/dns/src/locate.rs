//! Where a client is: a MaxMind-format database (GeoIP2 / GeoLite2 Country or City, or any
//! database with the same fields), compiled once when it is loaded.
//!
//! Loading walks every network of the database once and decodes each distinct record into a
//! small [`Place`] (continent, country, US state, coordinates); a query then costs one walk of
//! the database's search tree (no allocation) and one hash lookup from the record's offset to
//! its place. The loaded database is shared by every snapshot (`Arc`), so a zone change does
//! not reload it.

use std::net::IpAddr;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::Deserialize;

/// Why a database could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("{path}: not a readable MaxMind DB: {reason}")]
    Database {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Where a client is, as far as routing policies care.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Place {
    /// Continent code (`EU`), or zeros.
    pub continent: [u8; 2],
    /// ISO 3166-1 alpha-2 country code, or zeros.
    pub country: [u8; 2],
    /// The first subdivision's ISO 3166-2 code (a US state: `CA`), or zeros; up to 3 bytes.
    pub subdivision: [u8; 3],
    /// Latitude and longitude, when the database has them (City databases).
    pub coordinates: Option<(f32, f32)>,
}

/// A loaded MaxMind-format database.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
    by_offset: FxHashMap<usize, u32>,
    places: Vec<Place>,
    /// The database's type from its metadata (`GeoLite2-City`...), for logs.
    pub kind: String,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("kind", &self.kind)
            .field("places", &self.places.len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Code<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Iso<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Coordinates {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    continent: Option<Code<'a>>,
    #[serde(borrow, default)]
    country: Option<Iso<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Iso<'a>>>,
    #[serde(default)]
    location: Option<Coordinates>,
}

fn code<const N: usize>(text: Option<&str>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(t) = text.filter(|t| t.len() <= N && t.is_ascii()) {
        out[..t.len()].copy_from_slice(t.to_ascii_uppercase().as_bytes());
    }
    out
}

impl GeoDb {
    /// Loads a database file.
    pub fn open(path: &Path) -> Result<GeoDb, LocateError> {
        let bytes = std::fs::read(path).map_err(|e| LocateError::Database {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        GeoDb::from_bytes(bytes)
            .map_err(|reason| LocateError::Database { path: path.display().to_string(), reason })
    }

    /// Loads a database from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| e.to_string())?;
        let kind = reader.metadata().database_type.clone();
        let mut by_offset = FxHashMap::default();
        let mut places = Vec::new();
        for network in reader.networks(Default::default()).map_err(|e| e.to_string())? {
            let network = network.map_err(|e| e.to_string())?;
            let Some(offset) = network.offset() else { continue };
            if by_offset.contains_key(&offset) {
                continue;
            }
            let Some(record) = network.decode::<Record<'_>>().map_err(|e| e.to_string())? else {
                continue;
            };
            let coordinates =
                record.location.and_then(|l| Some((l.latitude? as f32, l.longitude? as f32)));
            let place = Place {
                continent: code(record.continent.and_then(|c| c.code)),
                country: code(record.country.and_then(|c| c.iso_code)),
                subdivision: code(
                    record.subdivisions.and_then(|s| s.into_iter().next()).and_then(|s| s.iso_code),
                ),
                coordinates,
            };
            let id = u32::try_from(places.len()).map_err(|_| "too many records".to_owned())?;
            places.push(place);
            by_offset.insert(offset, id);
        }
        Ok(GeoDb { reader, by_offset, places, kind })
    }

    /// Where `ip` is, and the prefix length of the database's network that says so (the
    /// prefix of the closest network when the database does not know the address).
    pub fn locate(&self, ip: IpAddr) -> (Option<&Place>, u8) {
        let Ok(result) = self.reader.lookup(ip) else { return (None, 0) };
        let prefix = result.network().map_or(0, |n| n.prefix());
        let place =
            result.offset().and_then(|o| self.by_offset.get(&o)).map(|&i| &self.places[i as usize]);
        (place, prefix)
    }

    /// How many distinct places the database holds.
    pub fn places(&self) -> usize {
        self.places.len()
    }
}

/// Everything the query path knows about where clients are.
#[derive(Debug, Default)]
pub struct Locator {
    /// The geolocation database, if configured.
    pub geo: Option<GeoDb>,
}
