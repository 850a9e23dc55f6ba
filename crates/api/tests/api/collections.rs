//! CIDR collections through the API: validation with fields, references from IP-based
//! records, and deletion (or the loss of a location) guarded while in use.

use hyper::Method;

use crate::harness::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_are_validated_referenced_and_guarded() {
    let s = start().await;
    let e = s
        .call(
            Method::PUT,
            "/v1/collections/offices",
            Some(r#"{"locations":{"paris":["192.0.2.0/25","nope"],"tokyo":[]}}"#),
        )
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidCidrCollection"));
    let fields: Vec<&str> = e.errors.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["locations.paris[0]", "locations.paris[1]", "locations.tokyo"], "{e:?}");
    let offices = r#"{"locations":{"paris":["192.0.2.0/24"],"tokyo":["198.51.100.0/24"]}}"#;
    let created = s.call(Method::PUT, "/v1/collections/offices", Some(offices)).await.unwrap();
    assert_eq!(created["name"], "offices");
    let list = s.call(Method::GET, "/v1/collections", None).await.unwrap();
    assert_eq!(list["collections"][0]["locations"]["tokyo"][0], "198.51.100.0/24");

    // Records name existing collections and locations only.
    s.zone("ip.test").await;
    let record = |collection: &str, location: &str| {
        format!(
            r#"{{"changes":[{{"action":"CREATE","record_set":{{"name":"www","type":"A","ttl":60,"set_id":"{location}","cidr":{{"collection":"{collection}","location":"{location}"}},"values":["192.0.2.1"]}}}}]}}"#
        )
    };
    let e = s
        .call(Method::POST, "/v1/zones/ip.test/changes", Some(&record("nope", "paris")))
        .await
        .unwrap_err();
    assert_eq!(e.errors[0].field, "changes[0].record_set.cidr.collection");
    assert_eq!(e.errors[0].code.as_str(), "NoSuchCidrCollection");
    let e = s
        .call(Method::POST, "/v1/zones/ip.test/changes", Some(&record("offices", "rome")))
        .await
        .unwrap_err();
    assert_eq!(e.errors[0].code.as_str(), "NoSuchCidrLocation");
    s.call(Method::POST, "/v1/zones/ip.test/changes", Some(&record("offices", "paris")))
        .await
        .unwrap();

    // In use: it cannot go, nor lose the location a record names; it may lose another one.
    let e = s.call(Method::DELETE, "/v1/collections/offices", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (409, "CidrCollectionInUse"));
    let e = s
        .call(
            Method::PUT,
            "/v1/collections/offices",
            Some(r#"{"locations":{"tokyo":["198.51.100.0/24"]}}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "CidrCollectionInUse");
    assert!(e.message.contains("location \"paris\""), "{}", e.message);
    s.call(
        Method::PUT,
        "/v1/collections/offices",
        Some(r#"{"locations":{"paris":["192.0.2.0/24"]}}"#),
    )
    .await
    .unwrap();
    let e = s.call(Method::GET, "/v1/collections/nope", None).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchCidrCollection"));
}
