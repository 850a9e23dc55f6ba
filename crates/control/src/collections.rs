//! CIDR collections, for IP-based routing: listing, creating or replacing and deleting them
//! (a collection that records use cannot be deleted; the write compares what it scanned).

use turnout_model::cidr::CidrCollectionSpec;
use turnout_store::Op;

use crate::node::Control;
use crate::write::{Lane, Plan};
use crate::{ControlError, keys};

impl Control {
    /// Every CIDR collection, as written, in name order.
    pub fn collections(&self) -> Vec<CidrCollectionSpec> {
        self.read().collections.values().map(|(spec, _)| spec.clone()).collect()
    }

    /// One CIDR collection, as written.
    pub fn collection(&self, name: &str) -> Result<CidrCollectionSpec, ControlError> {
        self.read()
            .collections
            .get(name)
            .map(|(spec, _)| spec.clone())
            .ok_or_else(|| ControlError::NoSuchCollection(name.to_owned()))
    }

    /// Creates or replaces a CIDR collection; returns whether it was created. A replacement
    /// may not drop a location that records still name.
    pub async fn put_collection(&self, spec: &CidrCollectionSpec) -> Result<bool, ControlError> {
        let collection = spec.validate().map_err(ControlError::InvalidCollection)?;
        let value = serde_json::to_vec(spec)
            .map_err(|e| turnout_store::StoreError::Corrupt(e.to_string()))?;
        let written = self
            .write(Lane::Config, |st, reads| {
                reads.object(keys::collection(&collection.name));
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
                let ops = vec![Op::put(keys::collection(&collection.name), value.clone())];
                Ok(Plan::Write { ops, value: !st.collections.contains_key(&collection.name) })
            })
            .await?;
        Ok(written.value)
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
