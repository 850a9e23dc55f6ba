//! Geolocations as record sets name them: a continent, a country, a US state, or the default.
//!
//! The code lists are Route 53's (docs/desired-state.md): ISO 3166-1 alpha-2 countries except
//! BV, CX, EH and HM; the seven continent codes; US states and DC as subdivisions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, FieldError};

/// A geolocation as written: a continent, or a country (with an optional US state), or the
/// default location `country: "*"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoSpec {
    /// Two-letter continent code (AF, AN, AS, EU, NA, OC, SA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    /// ISO 3166-1 alpha-2 country code, or `*` for the default record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// US state code; requires `country: US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
}

/// The continent codes.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// ISO 3166-1 alpha-2 codes Route 53 accepts (every assigned code but BV, CX, EH and HM).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
BL BM BN BO BQ BR BS BT BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CY CZ DE DJ DK DM \
DO DZ EC EE EG ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC \
NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB \
SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV \
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// US states and DC.
const US_STATES: &str = "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN \
MO MS MT NC ND NE NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY";

/// Whether `code` (upper case) is a country Route 53 accepts.
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
}

/// A geolocation record's location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GeoLocation {
    /// The default record (`country: "*"`).
    Default,
    /// A continent.
    Continent(String),
    /// A country.
    Country(String),
    /// A US state (the country is US).
    Subdivision(String),
}

impl GeoLocation {
    /// Validates a written location; codes are case-insensitive and stored upper case.
    pub fn validate(
        continent: Option<&str>,
        country: Option<&str>,
        subdivision: Option<&str>,
    ) -> Result<GeoLocation, FieldError> {
        let up = |s: &str| s.to_ascii_uppercase();
        match (continent.map(up), country.map(up), subdivision.map(up)) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(FieldError::new(
                "continent",
                ErrorCode::ConflictingFields,
                "a continent cannot be combined with a country or subdivision",
            )),
            (Some(c), None, None) if CONTINENTS.contains(&c.as_str()) => {
                Ok(GeoLocation::Continent(c))
            }
            (Some(c), None, None) => Err(FieldError::new(
                "continent",
                ErrorCode::InvalidValue,
                format!("{c:?} is not a continent code; use one of {}", CONTINENTS.join(" ")),
            )),
            (None, Some(c), None) if c == "*" => Ok(GeoLocation::Default),
            (None, Some(c), None) if is_country(&c) => Ok(GeoLocation::Country(c)),
            (None, Some(c), None) => Err(FieldError::new(
                "country",
                ErrorCode::InvalidValue,
                format!("{c:?} is not a supported ISO 3166-1 alpha-2 country code (or \"*\")"),
            )),
            (None, Some(c), Some(s)) if c == "US" => {
                if US_STATES.split(' ').any(|st| st == s) {
                    Ok(GeoLocation::Subdivision(s))
                } else {
                    Err(FieldError::new(
                        "subdivision",
                        ErrorCode::InvalidValue,
                        format!("{s:?} is not a US state code"),
                    ))
                }
            }
            (None, _, Some(_)) => Err(FieldError::new(
                "subdivision",
                ErrorCode::InvalidValue,
                "a subdivision requires country: US",
            )),
            (None, None, None) => Err(FieldError::new(
                "country",
                ErrorCode::MissingField,
                "give a continent, a country (\"*\" for the default), or country US and a \
                 subdivision",
            )),
        }
    }

    /// The written form.
    pub fn to_spec(&self) -> GeoSpec {
        match self {
            GeoLocation::Default => GeoSpec { country: Some("*".into()), ..Default::default() },
            GeoLocation::Continent(c) => {
                GeoSpec { continent: Some(c.clone()), ..Default::default() }
            }
            GeoLocation::Country(c) => GeoSpec { country: Some(c.clone()), ..Default::default() },
            GeoLocation::Subdivision(s) => GeoSpec {
                country: Some("US".into()),
                subdivision: Some(s.clone()),
                ..Default::default()
            },
        }
    }
}

impl fmt::Display for GeoLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeoLocation::Default => f.write_str("*"),
            GeoLocation::Continent(c) => write!(f, "continent {c}"),
            GeoLocation::Country(c) => write!(f, "country {c}"),
            GeoLocation::Subdivision(s) => write!(f, "US-{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(COUNTRIES.split(' ').count(), 245);
        assert!(is_country("UA") && is_country("US") && !is_country("BV") && !is_country("HM"));
        assert_eq!(US_STATES.split(' ').count(), 51);
        assert_eq!(
            GeoLocation::validate(None, Some("us"), Some("ca")),
            Ok(GeoLocation::Subdivision("CA".into()))
        );
        assert_eq!(GeoLocation::validate(None, Some("*"), None), Ok(GeoLocation::Default));
        let e = GeoLocation::validate(Some("EU"), Some("FR"), None).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("continent", ErrorCode::ConflictingFields));
        let e = GeoLocation::validate(None, Some("CA"), Some("QC")).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("subdivision", ErrorCode::InvalidValue));
        let e = GeoLocation::validate(None, Some("EH"), None).unwrap_err();
        assert_eq!(e.field, "country");
    }
}
