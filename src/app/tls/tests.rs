use rcgen::{CertificateParams, KeyPair};

use super::*;

/// A self-signed certificate for `localhost`: (certificate, key) PEM.
fn self_signed() -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    (cert.pem(), key.serialize_pem())
}

/// Files with these contents in `dir` (no client CA when `None`).
fn files(dir: &Path, cert: &str, key: &str, client_ca: Option<&str>) -> TlsFiles {
    let write = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    };
    TlsFiles {
        cert: write("tls.crt", cert),
        key: write("tls.key", key),
        client_ca: client_ca.map(|ca| write("ca.crt", ca)),
        reload_interval: Duration::from_secs(5),
    }
}

fn served(tls: &Tls) -> CertificateDer<'static> {
    tls.live.cert.get().cert[0].clone()
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")
}

const BAD_BASE64_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nsecret!material\n-----END PRIVATE KEY-----\n";
const BAD_DER_CERT: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

#[test]
fn a_certificate_with_its_key_and_a_client_ca_load() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed();
    let (ca, _) = self_signed();
    let tls = Tls::load(&files(dir.path(), &cert, &key, Some(&ca))).expect("load");
    assert_eq!(served(&tls), der(&cert));
    let config = tls.live.config.read().unwrap().clone();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn each_bad_file_is_named_with_its_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed();
    let (other_cert, other_key) = self_signed();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let error = |files: TlsFiles| format!("{:#}", Tls::load(&files).expect_err("refused"));

    let mut missing = files(dir.path(), &cert, &key, None);
    missing.cert = dir.path().join("missing.crt");
    let err = error(missing);
    assert!(
        err.starts_with(&format!(
            "TLS certificate {}: cannot read it (",
            path("missing.crt")
        )),
        "{err}"
    );

    let cases = [
        (
            &key[..],
            &key[..],
            None,
            format!("TLS certificate {}: no certificate in it", path("tls.crt")),
        ),
        (
            &cert,
            &cert,
            None,
            format!("TLS key {}: no private key in it", path("tls.key")),
        ),
        (
            &cert,
            BAD_BASE64_KEY,
            None,
            format!("TLS key {}: not valid PEM", path("tls.key")),
        ),
        (
            BAD_DER_CERT,
            &key,
            None,
            format!(
                "TLS certificate {}: not a valid certificate",
                path("tls.crt")
            ),
        ),
        (
            &cert,
            &other_key,
            None,
            format!(
                "TLS key {} does not belong to TLS certificate {}",
                path("tls.key"),
                path("tls.crt")
            ),
        ),
        (
            &cert,
            &key,
            Some(&key[..]),
            format!("TLS client CA {}: no certificate in it", path("ca.crt")),
        ),
        (
            &cert,
            &key,
            Some(BAD_DER_CERT),
            format!(
                "TLS client CA {}: not a usable CA certificate",
                path("ca.crt")
            ),
        ),
    ];
    for (cert, key, ca, expected) in cases {
        let err = error(files(dir.path(), cert, key, ca));
        assert!(err.starts_with(&expected), "{err}\nexpected: {expected}");
        assert!(!err.contains("secret"), "{err}");
        assert!(!err.contains("BEGIN"), "{err}");
    }

    let mut never = files(dir.path(), &other_cert, &other_key, None);
    never.reload_interval = Duration::ZERO;
    assert!(error(never).contains("longer than zero"));
}

#[test]
fn a_change_is_taken_whole_and_a_bad_one_leaves_the_previous() {
    let dir = tempfile::tempdir().expect("dir");
    let (first, first_key) = self_signed();
    let (ca, _) = self_signed();
    let files = files(dir.path(), &first, &first_key, Some(&ca));
    let Tls {
        files,
        live,
        mut watched,
    } = Tls::load(&files).expect("load");
    let served = || live.cert.get().cert[0].clone();
    let config = || live.config.read().unwrap().clone();
    let first_config = config();

    // Unchanged files: nothing happens.
    watched.refresh(&files, &live);
    assert_eq!(served(), der(&first));
    assert!(Arc::ptr_eq(&first_config, &config()));

    // A certificate without its key, a broken key, a missing file.
    let (second, second_key) = self_signed();
    std::fs::write(&files.cert, &second).unwrap();
    watched.refresh(&files, &live);
    assert_eq!(served(), der(&first));
    std::fs::write(&files.key, BAD_BASE64_KEY).unwrap();
    watched.refresh(&files, &live);
    assert_eq!(served(), der(&first));
    std::fs::remove_file(&files.key).unwrap();
    watched.refresh(&files, &live);
    assert_eq!(served(), der(&first));

    // The key arrives.
    std::fs::write(&files.key, &second_key).unwrap();
    watched.refresh(&files, &live);
    assert_eq!(served(), der(&second));
    assert!(Arc::ptr_eq(&first_config, &config()), "same configuration");

    // A broken client CA keeps the configuration; a good one replaces it.
    let ca_path = files.client_ca.clone().unwrap();
    std::fs::write(&ca_path, BAD_DER_CERT).unwrap();
    watched.refresh(&files, &live);
    assert!(Arc::ptr_eq(&first_config, &config()));
    let (next_ca, _) = self_signed();
    std::fs::write(&ca_path, next_ca).unwrap();
    watched.refresh(&files, &live);
    assert!(!Arc::ptr_eq(&first_config, &config()));
    assert_eq!(served(), der(&second), "the certificate stays");
}
