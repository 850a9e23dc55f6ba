//! CIDR collections, for IP-based routing: listing, creating or replacing and deleting them
//! (a collection that records use cannot be deleted; the write compares what it scanned).

use turnout_model::cidr::CidrCollectionSpec;
use turnout_store::Op;

use crate::node::Control;
use crate::write::{Lane, Plan};
use crate::{ControlError, keys};

/// What [`Control::put_collection_at`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionWrite {
    /// Whether the collection is new.
    pub created: bool,
    /// The id of the change that wrote it.
    pub change: String,
}

/// A collection's Route 53 id: the stored one, or for a collection made before ids were
/// stored, a UUID-shaped digest of its name (the same forever).
pub fn collection_id(spec: &CidrCollectionSpec) -> String {
    if let Some(id) = &spec.id {
        return id.clone();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("cidr-collection {}", spec.name).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    crate::uuid_text(&b)
}

/// `spec` with its id filled in.
fn with_id(spec: &CidrCollectionSpec) -> CidrCollectionSpec {
    CidrCollectionSpec { id: Some(collection_id(spec)), ..spec.clone() }
}

impl Control {
    /// Every CIDR collection, as written (with its id), in name order.
    pub fn collections(&self) -> Vec<CidrCollectionSpec> {
        self.read().collections.values().map(|(spec, _)| with_id(spec)).collect()
    }

    /// One CIDR collection, as written (with its id).
    pub fn collection(&self, name: &str) -> Result<CidrCollectionSpec, ControlError> {
        self.read()
            .collections
            .get(name)
            .map(|(spec, _)| with_id(spec))
            .ok_or_else(|| ControlError::NoSuchCollection(name.to_owned()))
    }

    /// A CIDR collection by its Route 53 id ([`collection_id`]), with its version (1 when
    /// created, one more at each write: Route 53's `CollectionVersion`).
    pub fn collection_by_id(&self, id: &str) -> Option<(CidrCollectionSpec, i64)> {
        let st = self.read();
        let (spec, _) = st.collections.values().find(|(spec, _)| collection_id(spec) == id)?;
        Some((with_id(spec), st.version(&keys::collection(&spec.name))))
    }

    /// Every CIDR collection with its version, in name order.
    pub fn collections_versioned(&self) -> Vec<(CidrCollectionSpec, i64)> {
        let st = self.read();
        st.collections
            .values()
            .map(|(spec, _)| (with_id(spec), st.version(&keys::collection(&spec.name))))
            .collect()
    }

    /// Creates or replaces a CIDR collection; returns whether it was created. A replacement
    /// may not drop a location that records still name.
    pub async fn put_collection(&self, spec: &CidrCollectionSpec) -> Result<bool, ControlError> {
        Ok(self.put_collection_at(spec, None).await?.created)
    }

    /// [`Control::put_collection`], applied only while the stored collection is at `version`
    /// (`Some(0)`: only if there is none); else [`ControlError::VersionMismatch`] and nothing
    /// changes. The write is recorded as a change (`GetChange` follows it to INSYNC). A new
    /// collection without an id gets a new UUID; a replacement without one keeps the stored
    /// id and caller reference, so a collection has one id for its whole life.
    pub async fn put_collection_at(
        &self,
        spec: &CidrCollectionSpec,
        version: Option<i64>,
    ) -> Result<CollectionWrite, ControlError> {
        let collection = spec.validate().map_err(ControlError::InvalidCollection)?;
        let new_id = crate::random_uuid()?;
        let record = Self::new_change("cidr_collection", None, Vec::new(), 1)?;
        let change = serde_json::to_vec(&record)
            .map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::collection(&collection.name));
                let key = keys::collection(&collection.name);
                st.expect_version(&key, version, "CIDR collection", &collection.name)?;
                let mut stored = spec.clone();
                let old = st.collections.get(&collection.name).map(|(s, _)| s);
                if stored.id.is_none() {
                    stored.id = Some(old.map_or_else(|| new_id.clone(), collection_id));
                }
                if stored.caller_reference.is_none() {
                    stored.caller_reference = old.and_then(|o| o.caller_reference.clone());
                }
                let taken = st.collections.values().find(|(other, _)| {
                    other.name != collection.name && Some(collection_id(other)) == stored.id
                });
                if let Some((other, _)) = taken {
                    return Err(ControlError::InvalidCollection(vec![
                        turnout_model::FieldError::new(
                            "id",
                            turnout_model::ErrorCode::AlreadyExists,
                            format!("the CIDR collection {:?} has this id", other.name),
                        ),
                    ]));
                }
                let value = serde_json::to_vec(&stored)
                    .map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))?;
                if let Some((_, old)) = st.collections.get(&collection.name) {
                    for location in old.locations.keys() {
                        if collection.locations.contains_key(location) {
                            continue;
                        }
                        reads.prefix(keys::all_rrsets());
                        if let Some(user) = st.collection_user(&collection.name, Some(location)) {
                            return Err(ControlError::CollectionInUse {
                                name: collection.name.clone(),
                                user: format!("record set {user} (location {location:?})"),
                            });
                        }
                    }
                }
                let ops =
                    vec![Op::put(key, value), Op::put(keys::change(&record.id), change.clone())];
                Ok(Plan::Write { ops, value: !st.collections.contains_key(&collection.name) })
            })
            .await?;
        Ok(CollectionWrite { created: written.value, change: record.id })
    }

    /// Deletes a CIDR collection that no record names.
    pub async fn delete_collection(&self, name: &str) -> Result<(), ControlError> {
        self.write(Lane::Config, |st, reads| {
            reads.object(keys::collection(name));
            if !st.collections.contains_key(name) {
                return Err(ControlError::NoSuchCollection(name.to_owned()));
            }
            reads.prefix(keys::all_rrsets());
            if let Some(user) = st.collection_user(name, None) {
                return Err(ControlError::CollectionInUse {
                    name: name.to_owned(),
                    user: format!("record set {user}"),
                });
            }
            Ok(Plan::Write { ops: vec![Op::delete(keys::collection(name))], value: () })
        })
        .await?;
        Ok(())
    }
}
