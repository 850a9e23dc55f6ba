//! Where a client is: a MaxMind-format database (GeoIP2 / GeoLite2 Country or City, or any
//! database with the same fields), compiled once when it is loaded, and a latency map from
//! client networks to the round-trip time to each region.
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
    /// The latency map is malformed.
    #[error("{path}: not a valid latency map: {reason}")]
    LatencyMap {
        /// The file.
        path: String,
        /// Which entry, and why.
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

/// A longest-prefix-match table from networks to values: one hash map per prefix length in
/// use, probed from the longest. A lookup costs one hash probe per distinct prefix length.
#[derive(Debug, Clone)]
pub struct PrefixMap<T> {
    v4: Vec<(u8, FxHashMap<u32, T>)>,
    v6: Vec<(u8, FxHashMap<u128, T>)>,
}

impl<T> Default for PrefixMap<T> {
    fn default() -> Self {
        PrefixMap { v4: Vec::new(), v6: Vec::new() }
    }
}

fn mask4(a: u32, prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(prefix))) }
}

fn mask6(a: u128, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { a & (u128::MAX << (128 - u32::from(prefix))) }
}

impl<T> PrefixMap<T> {
    /// Adds a network; returns false (and changes nothing) when it is already there.
    pub fn insert(&mut self, net: ipnet::IpNet, value: T) -> bool {
        fn slot<K, T>(tables: &mut Vec<(u8, FxHashMap<K, T>)>, prefix: u8) -> &mut FxHashMap<K, T> {
            let at = match tables.iter().position(|(p, _)| *p == prefix) {
                Some(i) => i,
                None => {
                    tables.push((prefix, FxHashMap::default()));
                    tables.sort_by_key(|t| std::cmp::Reverse(t.0));
                    tables.iter().position(|(p, _)| *p == prefix).unwrap_or(0)
                }
            };
            &mut tables[at].1
        }
        let prefix = net.prefix_len();
        match net {
            ipnet::IpNet::V4(n) => {
                let key = mask4(u32::from(n.addr()), prefix);
                let t = slot(&mut self.v4, prefix);
                if t.contains_key(&key) {
                    return false;
                }
                t.insert(key, value);
            }
            ipnet::IpNet::V6(n) => {
                let key = mask6(u128::from(n.addr()), prefix);
                let t = slot(&mut self.v6, prefix);
                if t.contains_key(&key) {
                    return false;
                }
                t.insert(key, value);
            }
        }
        true
    }

    /// The value of the longest network holding `ip`, and that network's prefix length.
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<(&T, u8)> {
        self.longest_within(ip, 128)
    }

    /// [`PrefixMap::longest`] among networks no longer than `max` bits: when only a prefix of
    /// the address is known, a longer network cannot be said to hold it.
    #[inline]
    pub fn longest_within(&self, ip: IpAddr, max: u8) -> Option<(&T, u8)> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .filter(|(p, _)| *p <= max)
                    .find_map(|(p, t)| t.get(&mask4(a, *p)).map(|v| (v, *p)))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .filter(|(p, _)| *p <= max)
                    .find_map(|(p, t)| t.get(&mask6(a, *p)).map(|v| (v, *p)))
            }
        }
    }
}

/// A latency map: the round-trip time from client networks to each region, and where the
/// regions are (for geoproximity, and for latency records when a client's network is not in
/// the map). Loaded from JSON:
///
/// ```json
/// {"regions": {"us-east-1": {"latitude": 38.9, "longitude": -77.0}, "eu-west-1": {}},
///  "networks": [{"network": "192.0.2.0/24", "rtt_ms": {"us-east-1": 20, "eu-west-1": 95}}]}
/// ```
#[derive(Debug, Default)]
pub struct LatencyMap {
    names: Vec<String>,
    coordinates: Vec<Option<(f32, f32)>>,
    index: FxHashMap<String, u32>,
    networks: PrefixMap<u32>,
    /// Per network row, the RTT to each region (u32::MAX: unknown).
    rtts: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    regions: std::collections::BTreeMap<String, RegionFile>,
    #[serde(default)]
    networks: Vec<NetworkFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    network: String,
    rtt_ms: std::collections::BTreeMap<String, u32>,
}

impl LatencyMap {
    /// Loads a map file.
    pub fn open(path: &Path) -> Result<LatencyMap, LocateError> {
        let text = std::fs::read_to_string(path).map_err(|e| LocateError::Database {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        LatencyMap::from_json(&text)
            .map_err(|reason| LocateError::LatencyMap { path: path.display().to_string(), reason })
    }

    /// Parses a map; the error names the offending entry.
    pub fn from_json(text: &str) -> Result<LatencyMap, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: MapFile = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        let mut map = LatencyMap::default();
        for (name, r) in &file.regions {
            let coords = match (r.latitude, r.longitude) {
                (Some(lat), Some(lon))
                    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
                {
                    Some((lat as f32, lon as f32))
                }
                (None, None) => None,
                _ => {
                    return Err(format!(
                        "regions.{name}: give both latitude (-90 to 90) and longitude (-180 to 180), or neither"
                    ));
                }
            };
            map.add_region(name, coords);
        }
        for (i, n) in file.networks.iter().enumerate() {
            let net: ipnet::IpNet = n.network.parse().map_err(|_| {
                format!("networks[{i}].network: {:?} is not a CIDR network", n.network)
            })?;
            let mut row = vec![u32::MAX; map.names.len()];
            for (region, rtt) in &n.rtt_ms {
                let at =
                    map.index.get(region).copied().ok_or_else(|| {
                        format!("networks[{i}].rtt_ms: {region:?} is not in regions")
                    })?;
                row[at as usize] = *rtt;
            }
            let id = map.rtts.len() as u32;
            if !map.networks.insert(net.trunc(), id) {
                return Err(format!("networks[{i}].network: {net} is listed twice"));
            }
            map.rtts.push(row);
        }
        Ok(map)
    }

    fn add_region(&mut self, name: &str, coords: Option<(f32, f32)>) -> u32 {
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.coordinates.push(coords);
        self.index.insert(name.to_owned(), id);
        id
    }

    /// A region's index, if the map knows it.
    pub fn region(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// A region's coordinates.
    pub fn coordinates(&self, region: u32) -> Option<(f32, f32)> {
        self.coordinates.get(region as usize).copied().flatten()
    }

    /// The RTTs from `ip`'s network to each region, and the network's prefix length.
    #[inline]
    pub fn rtts(&self, ip: IpAddr) -> Option<(&[u32], u8)> {
        self.networks.longest(ip).map(|(&row, p)| (self.rtts[row as usize].as_slice(), p))
    }

    /// How many networks the map holds.
    pub fn networks(&self) -> usize {
        self.rtts.len()
    }
}

/// Great-circle distance in kilometres (haversine).
pub fn distance_km(a: (f32, f32), b: (f32, f32)) -> f32 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// Everything the query path knows about where clients are.
#[derive(Debug, Default)]
pub struct Locator {
    /// The geolocation database, if configured.
    pub geo: Option<GeoDb>,
    /// The latency map, if configured.
    pub latency: Option<LatencyMap>,
}

impl Locator {
    /// Where a client is (coordinates) per the geolocation database, with the network prefix.
    pub fn coordinates(&self, ip: IpAddr) -> Option<((f32, f32), u8)> {
        let geo = self.geo.as_ref()?;
        let (place, prefix) = geo.locate(ip);
        place.and_then(|p| p.coordinates).map(|c| (c, prefix))
    }
}

/// A location as a number: its kind (1 continent, 2 country, 3 subdivision, 4 the default)
/// and up to three letters.
pub(crate) fn key(kind: u32, code: [u8; 3]) -> u32 {
    kind << 24 | u32::from(code[0]) << 16 | u32::from(code[1]) << 8 | u32::from(code[2])
}

/// A geolocation record's location as a number the query path compares.
pub(crate) fn geo_key(g: &turnout_model::geo::GeoLocation) -> u32 {
    let bytes = |s: &str| {
        let mut out = [0u8; 3];
        for (o, b) in out.iter_mut().zip(s.bytes()) {
            *o = b.to_ascii_uppercase();
        }
        out
    };
    match g {
        turnout_model::geo::GeoLocation::Continent(c) => key(1, bytes(c)),
        turnout_model::geo::GeoLocation::Country(c) => key(2, bytes(c)),
        turnout_model::geo::GeoLocation::Subdivision(s) => key(3, bytes(s)),
        turnout_model::geo::GeoLocation::Default => key(4, [0; 3]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins() {
        let mut m = PrefixMap::default();
        assert!(m.insert("10.0.0.0/8".parse().unwrap(), 8));
        assert!(m.insert("10.1.0.0/16".parse().unwrap(), 16));
        assert!(m.insert("2001:db8::/32".parse().unwrap(), 32));
        assert!(!m.insert("10.0.0.0/8".parse().unwrap(), 0), "a network twice");
        assert_eq!(m.longest("10.1.2.3".parse().unwrap()), Some((&16, 16)));
        assert_eq!(m.longest("10.2.0.1".parse().unwrap()), Some((&8, 8)));
        assert_eq!(m.longest("2001:db8:1::1".parse().unwrap()), Some((&32, 32)));
        assert_eq!(m.longest("192.0.2.1".parse().unwrap()), None);
        assert_eq!(
            m.longest_within("10.1.2.3".parse().unwrap(), 12),
            Some((&8, 8)),
            "a /12 is known"
        );
    }

    #[test]
    fn latency_map_errors_name_the_entry() {
        let cases = [
            (r#"{"regions":{"a":{"latitude":1}}}"#, "regions.a: give both"),
            (
                r#"{"regions":{"a":{}},"networks":[{"network":"x","rtt_ms":{}}]}"#,
                "networks[0].network",
            ),
            (
                r#"{"regions":{},"networks":[{"network":"10.0.0.0/8","rtt_ms":{"b":1}}]}"#,
                "networks[0].rtt_ms: \"b\" is not in regions",
            ),
            (
                r#"{"regions":{"a":{}},"networks":[{"network":"10.0.0.0/8","rtt_ms":{"a":1}},{"network":"10.0.0.0/8","rtt_ms":{"a":2}}]}"#,
                "networks[1].network: 10.0.0.0/8 is listed twice",
            ),
            (r#"{"regions":{},"bogus":1}"#, "unknown field"),
        ];
        for (json, want) in cases {
            let err = LatencyMap::from_json(json).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        let ok = LatencyMap::from_json(
            r#"{"regions":{"a":{"latitude":1,"longitude":2},"b":{}},"networks":[{"network":"10.0.0.0/8","rtt_ms":{"b":7}}]}"#,
        )
        .unwrap();
        let (rtts, prefix) = ok.rtts("10.9.9.9".parse().unwrap()).unwrap();
        assert_eq!((rtts, prefix), (&[u32::MAX, 7][..], 8));
        assert_eq!(ok.coordinates(ok.region("a").unwrap()), Some((1.0, 2.0)));
    }

    #[test]
    fn distances() {
        let d = distance_km((0.0, 0.0), (1.0, 0.0));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        let paris_ny = distance_km((48.86, 2.35), (40.71, -74.01));
        assert!((paris_ny - 5837.0).abs() < 20.0, "{paris_ny}");
    }
}
