//! TLS material from files, and the verifying client configuration that webhooks and the CLI
//! use: the system's trust store, or only the CA file the operator names (as `curl --cacert`
//! does), and optionally a client certificate for listeners that ask for one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS file that cannot be used; the message names the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {path}: {reason}", path = .path.display())]
pub struct TlsError {
    /// What the file is for (`certificate`, `private key`, `CA file`).
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl TlsError {
    /// An error about `path`.
    pub fn new(what: &'static str, path: &Path, reason: impl Into<String>) -> Self {
        TlsError { what, path: path.to_owned(), reason: reason.into() }
    }
}

/// The crypto provider every TLS configuration of the process uses (ring only: two providers
/// would be ambiguous).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (a chain: the leaf first).
pub fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::new(what, path, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(what, path, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(TlsError::new(what, path, "holds no PEM CERTIFICATE block"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "private key";
    let bytes = std::fs::read(path).map_err(|e| TlsError::new(what, path, e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| TlsError::new(what, path, format!("no usable PEM private key ({e})")))
}

/// The certificates in a CA file, as a trust store.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs("CA file", path)? {
        roots.add(cert).map_err(|e| {
            TlsError::new("CA file", path, format!("a certificate is not usable: {e}"))
        })?;
    }
    Ok(roots)
}

/// The system's trust store.
pub fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _skipped = roots.add(cert);
    }
    roots
}

/// A client certificate and its key, for servers that authenticate clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// A client configuration that verifies servers: against `ca` alone if given, else against
/// the system's trust store; presenting `identity` when the server asks.
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<&ClientIdentity>,
) -> Result<rustls::ClientConfig, TlsError> {
    let roots = match ca {
        Some(path) => load_roots(path)?,
        None => system_roots(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("TLS", Path::new("-"), e.to_string()))?
        .with_root_certificates(roots);
    // ALPN is left to the connector (hyper-rustls sets it for the protocols it enables).
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let certs = load_certs("client certificate", &id.cert)?;
            let key = load_key(&id.key)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                TlsError::new(
                    "client certificate",
                    &id.cert,
                    format!("does not match its key: {e}"),
                )
            })?
        }
    };
    Ok(config)
}

/// An HTTP client connector for `http://` and `https://` URLs: `https://` verified as
/// [`client_config`] says (with `https` false no trust store is loaded: the connector then
/// only ever serves `http://`).
pub fn connector(
    https: bool,
    ca: Option<&Path>,
    identity: Option<&ClientIdentity>,
) -> Result<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    TlsError,
> {
    let config = if https {
        client_config(ca, identity)?
    } else {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new("TLS", Path::new("-"), e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build())
}

/// An error and its causes, `: `-separated (a TLS failure sits under hyper's "client error
/// (Connect)").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
