//! `--http-cert`/`--http-key`: HTTPS with rustls (its ring provider: small, no C toolchain
//! beyond what ring builds), and `campub tls-selfsigned`, a certificate for a LAN (rcgen).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The server's TLS settings from a PEM certificate chain and its PEM private key (which
/// must not be readable by group or others).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(key)
        .map_err(|e| format!("--http-key {}: {e}", key.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "--http-key {}: mode {:04o} lets others read the private key: chmod 600 it",
            key.display(),
            mode & 0o7777
        ));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("--http-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--http-cert {}: no PEM certificate in it",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--http-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "--http-cert {} and --http-key {}: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a new self-signed certificate for `names` (host names or IP addresses; "localhost"
/// is always one) to `cert` (0644) and its private key to `key` (0600). Existing files are
/// never overwritten.
pub fn write_self_signed(cert: &Path, key: &Path, names: &[String]) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = names.to_vec();
    if !all.iter().any(|n| n == "localhost") {
        all.push("localhost".into());
    }
    let signing_key = rcgen::KeyPair::generate().map_err(|e| format!("rcgen: {e}"))?;
    let certificate = server_params(&all)?
        .self_signed(&signing_key)
        .map_err(|e| format!("rcgen: {e}"))?;
    write_new(key, signing_key.serialize_pem().as_bytes(), 0o600)?;
    if let Err(e) = write_new(cert, certificate.pem().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(key);
        return Err(e);
    }
    Ok(all)
}

/// Days a self-signed certificate is valid: Apple's platforms refuse TLS server certificates
/// valid for more than 825 days, whoever trusts them; a day of it lies in the past, for clocks
/// that are a little behind.
pub const SELF_SIGNED_DAYS: i64 = 825;

/// A TLS server certificate's fields for `names` (the first is its subject's common name):
/// extended key usage server authentication, which Apple's platforms require; no key usage and
/// no basic constraints, so that a trust store that takes it as its own anchor (as a browser
/// imports it, under Authorities) need not see it as a CA that may not sign: Chromium refuses a
/// trusted self-signed certificate whose key usage lacks certificate signing. Valid for
/// [`SELF_SIGNED_DAYS`] from yesterday (rcgen's own defaults: no usages, 1975 to 4096).
fn server_params(names: &[String]) -> Result<rcgen::CertificateParams, String> {
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("rcgen: {e}"))?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(
        rcgen::DnType::CommonName,
        names.first().map_or("campub", String::as_str),
    );
    params.distinguished_name = subject;
    params.is_ca = rcgen::IsCa::NoCa;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?
        .as_secs();
    let day_s: i64 = 24 * 3600;
    let from = i64::try_from(now_s).map_err(|e| format!("the clock: {e}"))? - day_s;
    let date = |unix_s: i64| {
        time::OffsetDateTime::from_unix_timestamp(unix_s).map_err(|e| format!("validity: {e}"))
    };
    params.not_before = date(from)?;
    params.not_after = date(from + SELF_SIGNED_DAYS * day_s)?;
    Ok(params)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_loads_and_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("campub-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let names = write_self_signed(&cert, &key, &["cam.lan".into()]).unwrap();
        assert_eq!(names, ["cam.lan", "localhost"]);
        server_config(&cert, &key).unwrap();
        assert!(write_self_signed(&cert, &key, &[]).is_err());
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(server_config(&cert, &key)
            .unwrap_err()
            .contains("chmod 600"));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = server_config(&key, &key).unwrap_err();
        assert!(err.contains("--http-cert"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
