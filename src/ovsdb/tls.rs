//! `ssl:` connections the way OVS makes them (`lib/stream-ssl.c`): mutual TLS, the server's
//! chain checked against the CA given with `-C`, a client certificate always presented, and
//! **no host-name check** — OVS never checks names, and `ovs-pki` certificates carry names like
//! "ovnsb id:<uuid>" that match no address. So the chain, signatures and validity are verified
//! by rustls's WebPKI verifier and only a name mismatch is accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};

/// The `-p/-c/-C` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub private_key: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug)]
struct OvsVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for OvsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(TlsError::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn read_err(what: &str, p: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot read the {what} {}: {e}", p.display())
}

fn roots(ca: &Path, what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| read_err(what, ca, e))? {
        roots
            .add(c.map_err(|e| read_err(what, ca, e))?)
            .map_err(|e| read_err(what, ca, e))?;
    }
    if roots.is_empty() {
        return Err(format!("{} ({what}) holds no certificate", ca.display()));
    }
    Ok(roots)
}

fn chain(cert: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read_err(what, cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(what, cert, e))?;
    if chain.is_empty() {
        return Err(format!("{} ({what}) holds no certificate", cert.display()));
    }
    Ok(chain)
}

/// The client configuration for the `-p/-c/-C` files; an error names the file and the fix.
pub fn client_config(files: &TlsFiles) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    let (Some(key), Some(cert), Some(ca)) = (&files.private_key, &files.certificate, &files.ca_cert) else {
        return Err("ssl: needs -p PRIVATE-KEY, -c CERTIFICATE and -C CA-CERT (ovsdb-server requires a client certificate)".into());
    };
    let roots = roots(ca, "CA certificate (-C)")?;
    let chain = chain(cert, "certificate (-c)")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read_err("private key (-p)", key, e))?;
    let verifier = WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| format!("CA certificate (-C): {e}"))?;
    tokio_rustls::rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OvsVerifier(verifier)))
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("certificate (-c) and private key (-p) do not go together: {e}"))
}

/// A server configuration that, like ovsdb-server's, requires every client to present a
/// certificate signed by `files.ca_cert` (`ovnscope serve --tls-*`).
pub fn server_config(files: &TlsFiles) -> Result<tokio_rustls::rustls::ServerConfig, String> {
    let (Some(key), Some(cert), Some(ca)) = (&files.private_key, &files.certificate, &files.ca_cert) else {
        return Err("a TLS listener needs --tls-key, --tls-cert and --tls-client-ca (clients must present certificates)".into());
    };
    let roots = roots(ca, "client CA certificate (--tls-client-ca)")?;
    let chain = chain(cert, "certificate (--tls-cert)")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read_err("private key (--tls-key)", key, e))?;
    let verifier = tokio_rustls::rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| format!("client CA certificate (--tls-client-ca): {e}"))?;
    tokio_rustls::rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate (--tls-cert) and private key (--tls-key) do not go together: {e}"))
}

/// The name to present: the address itself (OVS connects by IP).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("bad server name {host:?}: {e}"))
}
