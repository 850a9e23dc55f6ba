//! HTTPS for the API listeners: a certificate and key from files, reloaded on demand (SIGHUP)
//! without touching open connections, and optional client-certificate authentication against a
//! CA file.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::WebPkiClientVerifier;
use turnout_health::tls::{TlsError, load_certs, load_key, load_roots, provider};

/// The files of one listener's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// When set, clients must present a certificate this CA file (PEM) signed.
    pub client_ca: Option<PathBuf>,
}

/// A listener's TLS configuration: new connections take the current one, so a reload serves
/// the next handshake and leaves established connections as they are.
#[derive(Debug)]
pub struct ServerTls {
    files: TlsFiles,
    current: ArcSwap<rustls::ServerConfig>,
}

impl ServerTls {
    /// Loads the files; any that is missing, unreadable or not matching fails with its name.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let config = build(&files)?;
        Ok(Arc::new(ServerTls { files, current: ArcSwap::from_pointee(config) }))
    }

    /// Reads the files again; on an error the configuration in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.current.store(Arc::new(build(&self.files)?));
        Ok(())
    }

    /// The files it serves.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// An acceptor with the current configuration.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}

fn build(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let certs = load_certs("certificate", &files.cert)?;
    let key = load_key(&files.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new("certificate", &files.cert, e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = load_roots(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::new("CA file", ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError::new(
            "certificate",
            &files.cert,
            format!("cannot be served with the key {}: {e}", files.key.display()),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
