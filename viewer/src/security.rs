//! CURVE on the SUB socket: the publisher's public key that camview pins, and this viewer's own
//! key pair (from --key, or a new one for this run only).

use std::path::Path;

use camkeys::{KeyPair, PublicKey};

use crate::error::Error;

/// The keys for a CURVE connection to the publisher.
#[derive(Debug, Clone)]
pub struct ClientKeys {
    /// The publisher's public key: a publisher without the matching secret key cannot talk
    /// to this viewer.
    pub server: PublicKey,
    /// This viewer's key pair; the publisher's allow-list names the public half.
    pub own: KeyPair,
    /// `true` when the pair was made for this run (no --key): no allow-list can name it.
    pub ephemeral: bool,
}

impl ClientKeys {
    /// Loads `--server-key` (a public key file, or `z85:KEY`) and `--key` (a secret key file);
    /// without `--key` a new pair is generated.
    pub fn load(server_key: &str, own_key: Option<&Path>) -> Result<Self, Error> {
        let server = camkeys::load_public_arg(server_key).map_err(|e| Error::Key {
            option: "--server-key",
            reason: e.to_string(),
        })?;
        let (own, ephemeral) = match own_key {
            Some(path) => (
                camkeys::load_secret_file(path).map_err(|e| Error::Key {
                    option: "--key",
                    reason: e.to_string(),
                })?,
                false,
            ),
            None => (
                KeyPair::generate().map_err(|e| Error::Key {
                    option: "--server-key",
                    reason: format!("cannot generate this viewer's key pair: {e}"),
                })?,
                true,
            ),
        };
        Ok(Self {
            server,
            own,
            ephemeral,
        })
    }

    /// Makes `socket` a CURVE client of the publisher with these keys (call before connect).
    pub fn apply(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_curve_serverkey(self.server.as_bytes())?;
        socket.set_curve_publickey(self.own.public.as_bytes())?;
        socket.set_curve_secretkey(self.own.secret.as_bytes())
    }

    /// Says which keys are in use, once at start.
    pub fn log(&self) {
        log::info!(
            "CURVE encryption on: publisher key {}, this viewer's key {}",
            self.server,
            self.own.public
        );
        if self.ephemeral {
            log::info!(
                "this viewer's key pair was made for this run (no --key): a publisher with an \
                 allow-list will refuse it; `camview --keygen STEM` makes a lasting one"
            );
        }
    }
}

/// `camview --keygen STEM`: writes STEM.key and STEM.key_secret; returns what to print.
pub fn keygen(stem: &Path) -> Result<String, Error> {
    let (pair, paths) =
        camkeys::write_key_pair(stem, "camview --keygen").map_err(|e| Error::Key {
            option: "--keygen",
            reason: e.to_string(),
        })?;
    Ok(format!(
        "wrote {} (secret key, mode 0600: use it with camview --key)\n\
         wrote {} (public key: add it to the publisher's allow-list)\n\
         public key: {}",
        paths.secret.display(),
        paths.public.display(),
        pair.public
    ))
}
