//! TLS and mutual TLS on the gRPC listener, with rustls (`ring`).
//!
//! The PEM files are read and checked once at start ([`Tls::load`]): a
//! missing, unreadable or invalid file stops the server with an error
//! naming the file and the problem. While serving, a watcher re-reads
//! them every [`TlsFiles::reload_interval`]; a changed certificate and key
//! reach new connections through [`CurrentCert`], a changed client CA
//! through a new server configuration. Open connections keep what they
//! were handshaken with. A change that cannot be loaded leaves the previous
//! certificate in use and logs a warning naming the file (never a key's
//! contents).
//!
//! Handshakes run on tasks of their own (see `listener`), bounded by the
//! header read timeout and by the connection limit: a client that opens
//! connections and never finishes their handshakes holds up no one else.

use std::{
    fmt,
    path::Path,
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock, Weak},
    time::Duration,
};

use anyhow::anyhow;
use sha2::{Digest, Sha256};
use tokio::time::MissedTickBehavior;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, RootCertStore, ServerConfig,
        crypto::CryptoProvider,
        pki_types::{CertificateDer, PrivateKeyDer, pem, pem::PemObject},
        server::{
            ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerifier,
        },
        sign::CertifiedKey,
    },
};

/// The PEM files that turn TLS on for the gRPC listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key of `cert`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
    /// CA certificates that sign client certificates. With it, every
    /// client must present a certificate signed by one of them (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

impl TlsFiles {
    /// Reads and checks every file as the server does when it starts: the
    /// error names the file and what is wrong with it.
    pub fn check(&self) -> anyhow::Result<()> {
        Tls::load(self).map(drop)
    }
}

/// The listener's TLS, loaded from its files and kept up to date with them
/// once serving (see [`incoming`]).
pub(crate) struct Tls {
    files: TlsFiles,
    live: Arc<Live>,
    watched: Watched,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What handshakes use: the server configuration of new connections and
/// the certificate it resolves to.
struct Live {
    provider: Arc<CryptoProvider>,
    cert: Arc<CurrentCert>,
    config: RwLock<Arc<ServerConfig>>,
}

/// The certificate and key new connections are served, replaced when the
/// files change.
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl CurrentCert {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

impl fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurrentCert(..)")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

impl Tls {
    /// Reads and checks every file: the error names the file and what is
    /// wrong with it.
    pub(crate) fn load(files: &TlsFiles) -> anyhow::Result<Tls> {
        anyhow::ensure!(
            !files.reload_interval.is_zero(),
            "--tls-reload-interval must be longer than zero"
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = read_pair(files)?;
        let key = certified_key(files, &pair, &provider)?;
        let cert = Arc::new(CurrentCert(RwLock::new(Arc::new(key))));
        let (verifier, client_ca) = match &files.client_ca {
            Some(path) => {
                let ca = Contents::read([(CLIENT_CA, path)])?;
                let [pem] = &ca.bytes;
                (Some(client_verifier(path, pem, &provider)?), ca.fingerprint)
            }
            None => (None, [0; 32]),
        };
        let config = server_config(&provider, verifier, &cert)?;
        Ok(Tls {
            files: files.clone(),
            watched: Watched {
                pair: Seen::new(pair.fingerprint),
                client_ca: Seen::new(client_ca),
            },
            live: Arc::new(Live {
                provider,
                cert,
                config: RwLock::new(config),
            }),
        })
    }
}

/// The server configuration of new connections: TLS 1.2 and 1.3, HTTP/2
/// (ALPN `h2`, preferred) or HTTP/1.1 (`http/1.1`, for REST clients),
/// client certificates required when there is a verifier.
fn server_config(
    provider: &Arc<CryptoProvider>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    cert: &Arc<CurrentCert>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An error about one file: `<what> <path>: <problem>`.
fn about(what: &str, path: &Path, problem: impl fmt::Display) -> anyhow::Error {
    anyhow!("{what} {}: {problem}", path.display())
}

const CERT: &str = "TLS certificate";
const KEY: &str = "TLS key";
const CLIENT_CA: &str = "TLS client CA";

/// What a PEM parsing error means, in words that never quote the file
/// (which may be a private key).
fn pem_problem(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => "not valid PEM: a block has no END line",
        pem::Error::IllegalSectionStart { .. } => "not valid PEM: a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "not valid PEM: a block is not valid base64",
        _ => "not valid PEM",
    }
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(
    what: &str,
    path: &Path,
    pem: &[u8],
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| about(what, path, pem_problem(&err)))?;
    if certs.is_empty() {
        return Err(about(
            what,
            path,
            "no certificate in it (a PEM `CERTIFICATE` block)",
        ));
    }
    Ok(certs)
}

/// The certificate chain and key of `files`, checked to belong together.
fn certified_key(
    files: &TlsFiles,
    pair: &Contents<2>,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let [cert_pem, key_pem] = &pair.bytes;
    let chain = certificates(CERT, &files.cert, cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| {
        let problem = match err {
            pem::Error::NoItemsFound => {
                "no private key in it (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)"
            }
            err => pem_problem(&err),
        };
        about(KEY, &files.key, problem)
    })?;
    let key = provider.key_provider.load_private_key(key).map_err(|err| {
        about(
            KEY,
            &files.key,
            format_args!("unusable private key ({err})"),
        )
    })?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(anyhow!(
            "{KEY} {} does not belong to {CERT} {} (their public keys differ)",
            files.key.display(),
            files.cert.display()
        )),
        Err(err) => Err(about(
            CERT,
            &files.cert,
            format_args!("not a valid certificate ({err})"),
        )),
    }
}

/// The verifier of client certificates signed by the CAs in `pem`.
fn client_verifier(
    path: &Path,
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(CLIENT_CA, path, pem)? {
        roots.add(cert).map_err(|err| {
            about(
                CLIENT_CA,
                path,
                format_args!("not a usable CA certificate ({err})"),
            )
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|err| about(CLIENT_CA, path, err))
}

/// Some files' bytes, and a fingerprint of them to tell when they change.
struct Contents<const N: usize> {
    bytes: [Vec<u8>; N],
    fingerprint: [u8; 32],
}

impl<const N: usize> Contents<N> {
    /// Reads each `(what, path)` whole.
    fn read(files: [(&str, &Path); N]) -> anyhow::Result<Contents<N>> {
        let mut hasher = Sha256::new();
        let mut bytes: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
        for (content, (what, path)) in bytes.iter_mut().zip(files) {
            *content = std::fs::read(path)
                .map_err(|err| about(what, path, format_args!("cannot read it ({err})")))?;
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(&content);
        }
        Ok(Contents {
            bytes,
            fingerprint: hasher.finalize().into(),
        })
    }
}

/// The certificate and key files.
fn read_pair(files: &TlsFiles) -> anyhow::Result<Contents<2>> {
    Contents::read([(CERT, &files.cert), (KEY, &files.key)])
}

/// What the watcher knows of the files: the contents it last tried to
/// load, so that each change is tried (and a bad one reported) once.
struct Watched {
    pair: Seen,
    client_ca: Seen,
}

struct Seen {
    /// Fingerprint of the contents last loaded, or last found bad.
    tried: [u8; 32],
    /// The reading problem last reported, so that it is reported once.
    unreadable: Option<String>,
}

impl Seen {
    fn new(tried: [u8; 32]) -> Seen {
        Seen {
            tried,
            unreadable: None,
        }
    }

    /// Contents worth trying: read and different from the last tried.
    fn changed<const N: usize>(
        &mut self,
        read: anyhow::Result<Contents<N>>,
    ) -> Option<Contents<N>> {
        match read {
            Ok(contents) => {
                self.unreadable = None;
                if contents.fingerprint == self.tried {
                    return None;
                }
                self.tried = contents.fingerprint;
                Some(contents)
            }
            Err(err) => {
                let problem = format!("{err:#}");
                if self.unreadable.as_ref() != Some(&problem) {
                    tracing::warn!(
                        error = %problem,
                        "TLS files not reloaded; new connections keep the previous ones"
                    );
                    self.unreadable = Some(problem);
                }
                None
            }
        }
    }
}

impl Watched {
    /// Loads whatever changed since the last look.
    fn refresh(&mut self, files: &TlsFiles, live: &Live) {
        if let Some(pair) = self.pair.changed(read_pair(files)) {
            match certified_key(files, &pair, &live.provider) {
                Ok(key) => {
                    live.cert.set(key);
                    tracing::info!(
                        cert = %files.cert.display(),
                        "TLS certificate reloaded; new connections are served it"
                    );
                }
                Err(err) => tracing::warn!(
                    error = %format!("{err:#}"),
                    "TLS certificate not reloaded; new connections keep the previous one"
                ),
            }
        }
        let Some(path) = &files.client_ca else {
            return;
        };
        let Some(ca) = self.client_ca.changed(Contents::read([(CLIENT_CA, path)])) else {
            return;
        };
        let [pem] = &ca.bytes;
        let config = client_verifier(path, pem, &live.provider)
            .and_then(|verifier| server_config(&live.provider, Some(verifier), &live.cert));
        match config {
            Ok(config) => {
                *live.config.write().unwrap_or_else(PoisonError::into_inner) = config;
                tracing::info!(
                    client_ca = %path.display(),
                    "TLS client CA reloaded; new connections are checked against it"
                );
            }
            Err(err) => tracing::warn!(
                error = %format!("{err:#}"),
                "TLS client CA not reloaded; new connections are checked against the previous one"
            ),
        }
    }
}

/// Re-reads the files every `files.reload_interval` while `live` is in use.
async fn watch(files: TlsFiles, live: Weak<Live>, mut watched: Watched) {
    let mut ticks = tokio::time::interval(files.reload_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    let files = Arc::new(files);
    loop {
        ticks.tick().await;
        let Some(live) = live.upgrade() else {
            return;
        };
        let files = files.clone();
        // File reads block: off the runtime's workers.
        let refreshed = tokio::task::spawn_blocking(move || {
            watched.refresh(&files, &live);
            watched
        })
        .await;
        match refreshed {
            Ok(kept) => watched = kept,
            Err(err) => {
                tracing::error!(%err, "the TLS file watcher stopped");
                return;
            }
        }
    }
}

/// The listener's TLS while it serves: the configuration new handshakes
/// use, kept up to date with the files by a watcher that stops when this
/// is dropped.
pub(crate) struct LiveTls {
    live: Arc<Live>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Tls {
    /// Starts watching the files; handshakes take [`LiveTls::acceptor`].
    pub(crate) fn serve(self) -> LiveTls {
        let Tls {
            files,
            live,
            watched,
        } = self;
        let watcher = tokio::spawn(watch(files, Arc::downgrade(&live), watched));
        LiveTls { live, watcher }
    }
}

impl LiveTls {
    /// What the next handshake uses: the current certificate and client CA.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.live
                .config
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

impl Drop for LiveTls {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

#[cfg(test)]
mod tests;
