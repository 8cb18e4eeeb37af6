//! Key files on disk: writing a pair (the secret one never readable by others, not even for a
//! moment), and loading keys with the checks that turn every mistake into a one-line error.
//!
//! On Windows there are no Unix permission bits: a key file gets the access list of the folder
//! it is written in (in the user's own folders, by default, the user, SYSTEM and the
//! Administrators), and a secret key file is not checked for looser access when loaded. Keep
//! secret keys in your own profile's folders (README, "camview on Windows").

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::{
    parse_key_text, public_certificate_text, secret_certificate_text, KeyPair, KeyText, PublicKey,
};

/// File name endings of a pair written by [`write_key_pair`]: `STEM.key` is the public key,
/// `STEM.key_secret` the secret one (CZMQ's `_secret` convention).
pub const PUBLIC_SUFFIX: &str = ".key";
pub const SECRET_SUFFIX: &str = ".key_secret";
/// Marks a public key written on the command line instead of a file name (`z85:KEY`), so
/// that a file name is never mistaken for a key.
pub const INLINE_KEY_PREFIX: &str = "z85:";
/// A key file is a few hundred bytes; anything larger is not one (and is not read whole).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// An allow-list file or directory may name at most this many keys.
pub const MAX_ALLOWED_KEYS: usize = 10_000;
/// Permission bits a secret key file must not have: any access by group or others.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Why a key could not be written or loaded: one line, naming the file, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} already exists: a key is never overwritten (remove it first or choose another name)", .path.display())]
    Exists { path: PathBuf },
    #[error("secret key file {} is open to group or others (mode {mode:04o}): run chmod 600 {}", .path.display(), .path.display())]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("{} is not a regular file ({what})", .path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{}: its public-key line is not the public key of its secret key (a damaged or hand-edited file: make a new pair with `campub keygen STEM`)", .path.display())]
    Mismatch { path: PathBuf },
    #[error("{} is larger than {MAX_KEY_FILE_BYTES} bytes, so not a key file", .path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: {reason}", .path.display())]
    Content { path: PathBuf, reason: String },
    #[error("cannot generate a CURVE key pair: {0} (libzmq needs libsodium for CURVE)")]
    Generate(zmq::Error),
}

/// Where [`write_key_pair`] put the two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPaths {
    pub public: PathBuf,
    pub secret: PathBuf,
}

impl KeyPaths {
    /// `STEM.key` and `STEM.key_secret`.
    pub fn for_stem(stem: &Path) -> Self {
        let with = |suffix: &str| {
            let mut name = stem.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Self {
            public: with(PUBLIC_SUFFIX),
            secret: with(SECRET_SUFFIX),
        }
    }
}

/// Generates a key pair and writes it as `STEM.key` (public, mode 0644) and `STEM.key_secret`
/// (secret, mode 0600). Each file is written under a temporary name created with its final
/// mode, then linked into place, so a partly written key is never seen and an existing key is
/// never replaced. `generator` names the program in the files' header comment.
pub fn write_key_pair(stem: &Path, generator: &str) -> Result<(KeyPair, KeyPaths), KeyError> {
    let paths = KeyPaths::for_stem(stem);
    for path in [&paths.secret, &paths.public] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    let pair = KeyPair::generate().map_err(KeyError::Generate)?;
    write_new_file(
        &paths.secret,
        secret_certificate_text(&pair, generator).as_bytes(),
        0o600,
    )?;
    if let Err(e) = write_new_file(
        &paths.public,
        public_certificate_text(&pair.public, generator).as_bytes(),
        0o644,
    ) {
        // Half a pair is no use to anyone: take the secret back out.
        let _ = std::fs::remove_file(&paths.secret);
        return Err(e);
    }
    Ok((pair, paths))
}

/// Creates `path` with exactly `mode` and `contents`, or fails if it exists.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let write_err = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("key"),
        std::ffi::OsStr::to_owned,
    );
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(&name);
    temp_name.push(format!(".tmp{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut file = platform::create_new_with_mode(&temp, mode)?;
        file.write_all(contents)?;
        file.sync_all()?;
        // link(2) fails if the name is taken, where rename(2) would replace it.
        std::fs::hard_link(&temp, path)
    })();
    let _ = std::fs::remove_file(&temp);
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyError::Exists {
            path: path.to_owned(),
        }),
        Err(e) => Err(write_err(e)),
    }
}

/// Opens a key file and reads it whole, refusing anything that is not a small regular file.
/// Returns the text and the file's permission bits.
fn read_key_file(path: &Path) -> Result<(String, u32), KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    // Looked at before opening: open(2) of a FIFO waits for a writer, forever.
    check_regular(path, &std::fs::metadata(path).map_err(read_err)?)?;
    // O_NONBLOCK in case it was swapped for a FIFO in between: then the open returns at once
    // and the check on the open file below refuses it. Regular files ignore the flag.
    let mut file = platform::open_nonblocking(path).map_err(read_err)?;
    // Checked on the open file, so the file checked is the file read.
    let meta = file.metadata().map_err(read_err)?;
    check_regular(path, &meta)?;
    let mode = platform::permission_bits(&meta);
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge {
            path: path.to_owned(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| KeyError::Content {
        path: path.to_owned(),
        reason: "not text: a key file is UTF-8 text".into(),
    })?;
    Ok((text, mode))
}

/// Refuses anything but a regular file, saying what it is instead.
fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeyError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else {
        platform::special_file_kind(&kind)
    };
    Err(KeyError::NotAFile {
        path: path.to_owned(),
        what,
    })
}

/// What differs between Unix and Windows: permission bits, and the kinds of special files.
#[cfg(unix)]
mod platform {
    use std::fs::{File, FileType, Metadata, OpenOptions};
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _, PermissionsExt as _};
    use std::path::Path;

    /// Creates `path` (which must not exist) with exactly `mode`.
    pub fn create_new_with_mode(path: &Path, mode: u32) -> std::io::Result<File> {
        // The mode is given to open(2): the file never exists with wider permissions.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        // open(2) applied the umask; set the mode exactly (0644 must stay readable).
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }

    /// O_NONBLOCK in case the file was swapped for a FIFO after it was checked: then the open
    /// returns at once and the check on the open file refuses it. Regular files ignore it.
    pub fn open_nonblocking(path: &Path) -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
    }

    pub fn permission_bits(meta: &Metadata) -> u32 {
        meta.permissions().mode() & 0o7777
    }

    pub fn special_file_kind(kind: &FileType) -> &'static str {
        if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a file"
        }
    }
}

/// Windows: no permission bits (see the module's doc), no FIFOs that block an open.
#[cfg(windows)]
mod platform {
    use std::fs::{File, FileType, Metadata, OpenOptions};
    use std::path::Path;

    pub fn create_new_with_mode(path: &Path, _mode: u32) -> std::io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    pub fn open_nonblocking(path: &Path) -> std::io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// As if 0600: the access list is not checked (the module's doc says why and what to do).
    pub fn permission_bits(_meta: &Metadata) -> u32 {
        0o600
    }

    pub fn special_file_kind(_kind: &FileType) -> &'static str {
        "not a file"
    }
}

fn parse_file(path: &Path, text: &str) -> Result<KeyText, KeyError> {
    parse_key_text(text).map_err(|e| KeyError::Content {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Loads a secret key file (as `campub keygen` writes it: both keys), refusing one that group
/// or others may read or change: that key is no longer secret.
pub fn load_secret_file(path: &Path) -> Result<KeyPair, KeyError> {
    let (text, mode) = read_key_file(path)?;
    let keys = parse_file(path, &text)?;
    let content = |reason: &str| KeyError::Content {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(secret) = keys.secret else {
        return Err(if keys.public.is_empty() {
            content("no key in it (create a key pair with `campub keygen STEM`)")
        } else {
            content("no secret-key line: this is not a secret key file (campub keygen writes STEM.key_secret)")
        });
    };
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyError::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    match keys.public.as_slice() {
        [public] => {
            let derived = secret.public_key().map_err(KeyError::Generate)?;
            if derived != *public {
                return Err(KeyError::Mismatch {
                    path: path.to_owned(),
                });
            }
            Ok(KeyPair {
                public: *public,
                secret,
            })
        }
        [] => Err(content(
            "no public-key line next to the secret key (campub keygen writes both)",
        )),
        _ => Err(content("more than one public-key line")),
    }
}

/// Reads a public key given on the command line: a file holding exactly one public key (a
/// `.key` file, or the bare Z85 text), or, only when written `z85:KEY`, the key itself. A
/// missing file is an error, whatever its name looks like. A file with a secret key in it is
/// refused: the secret key of a pair never travels.
pub fn load_public_arg(arg: &str) -> Result<PublicKey, KeyError> {
    if let Some(text) = arg.strip_prefix(INLINE_KEY_PREFIX) {
        return PublicKey::from_z85(text).map_err(|e| KeyError::Content {
            path: PathBuf::from(format!("the key given after {INLINE_KEY_PREFIX}")),
            reason: e.to_string(),
        });
    }
    let path = Path::new(arg);
    if path.symlink_metadata().is_err() && PublicKey::from_z85(arg).is_ok() {
        // Looks like a key, but a key is only taken from the command line when marked.
        return Err(KeyError::Content {
            path: path.to_owned(),
            reason: format!("no such file (to give the key itself, write {INLINE_KEY_PREFIX}KEY)"),
        });
    }
    let (text, _) = read_key_file(path)?;
    let keys = parse_file(path, &text)?;
    if keys.secret.is_some() {
        return Err(KeyError::Content {
            path: path.to_owned(),
            reason: format!(
                "holds a secret key: give the public key file ({PUBLIC_SUFFIX}) instead, and keep this one private"
            ),
        });
    }
    match keys.public.as_slice() {
        [key] => Ok(*key),
        [] => Err(KeyError::Content {
            path: path.to_owned(),
            reason: "no public key in it".into(),
        }),
        _ => Err(KeyError::Content {
            path: path.to_owned(),
            reason: "more than one public key: give the file of exactly one".into(),
        }),
    }
}

/// Loads an allow-list: a file of public keys (bare Z85 lines, `.key` certificates), or a
/// directory whose `*.key` files are read (other files are ignored). No secret keys allowed.
pub fn load_allow_list(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?;
            let file = entry.path();
            let is_key = file
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(PUBLIC_SUFFIX) && !n.starts_with('.'));
            if is_key {
                files.push(file);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut keys = Vec::new();
    for file in files {
        let (text, _) = read_key_file(&file)?;
        let parsed = parse_file(&file, &text)?;
        if parsed.secret.is_some() {
            return Err(KeyError::Content {
                path: file,
                reason: "holds a secret key: an allow-list takes public keys only".into(),
            });
        }
        keys.extend(parsed.public);
        if keys.len() > MAX_ALLOWED_KEYS {
            return Err(KeyError::Content {
                path: path.to_owned(),
                reason: format!("more than {MAX_ALLOWED_KEYS} keys"),
            });
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

#[cfg(test)]
#[cfg(unix)] // the checks of permission bits and FIFOs
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("camkeys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_written_pair_has_the_right_modes_and_loads_back() {
        let dir = temp_dir("pair");
        let (pair, paths) = write_key_pair(&dir.join("server"), "test").unwrap();
        assert_eq!(paths.public, dir.join("server.key"));
        assert_eq!(paths.secret, dir.join("server.key_secret"));
        assert_eq!(mode(&paths.secret), 0o600);
        assert_eq!(mode(&paths.public), 0o644);
        let loaded = load_secret_file(&paths.secret).unwrap();
        assert_eq!((loaded.public, &loaded.secret), (pair.public, &pair.secret));
        assert_eq!(
            load_public_arg(paths.public.to_str().unwrap()).unwrap(),
            pair.public
        );
        assert_eq!(
            load_public_arg(&format!("z85:{}", pair.public)).unwrap(),
            pair.public
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keys_are_never_overwritten() {
        let dir = temp_dir("exists");
        let stem = dir.join("k");
        let (first, paths) = write_key_pair(&stem, "test").unwrap();
        let err = write_key_pair(&stem, "test").unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err}");
        assert_eq!(
            load_secret_file(&paths.secret).unwrap().public,
            first.public
        );
        std::fs::remove_file(&paths.public).unwrap();
        assert!(matches!(
            write_key_pair(&stem, "test").unwrap_err(),
            KeyError::Exists { .. }
        ));
        let err = write_key_pair(&dir.join("no/such/dir/k"), "test").unwrap_err();
        assert!(err.to_string().starts_with("cannot write"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_secret_key_open_to_others_is_refused() {
        let dir = temp_dir("loose");
        let (_, paths) = write_key_pair(&dir.join("k"), "test").unwrap();
        for loose in [0o640, 0o604, 0o620, 0o644] {
            std::fs::set_permissions(&paths.secret, std::fs::Permissions::from_mode(loose))
                .unwrap();
            let err = load_secret_file(&paths.secret).unwrap_err().to_string();
            assert!(
                err.contains("open to group or others") && err.contains("chmod 600"),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1);
        }
        std::fs::set_permissions(&paths.secret, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            load_secret_file(&paths.secret).is_ok(),
            "0400 (systemd credentials) is fine"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn wrong_files_are_one_line_errors() {
        let dir = temp_dir("wrong");
        let (pair, paths) = write_key_pair(&dir.join("k"), "test").unwrap();
        let write = |name: &str, text: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            path
        };
        let cases: Vec<(PathBuf, &str)> = vec![
            (dir.join("missing"), "No such file"),
            (dir.clone(), "not a regular file"),
            (paths.public.clone(), "no secret-key"),
            (write("empty", b""), "no key in it"),
            (write("comment", b"# only a comment\n"), "no key in it"),
            (write("binary", &[0xFF, 0xFE, 0]), "not text"),
            (write("big", &vec![b'#'; 70_000]), "larger than"),
            (write("junk", b"hello\n"), "line 1"),
            (
                write(
                    "nopub",
                    b"secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n",
                ),
                "no public-key",
            ),
            (PathBuf::from("/dev/zero"), "not a regular file"),
        ];
        for (path, needle) in cases {
            let err = load_secret_file(&path).unwrap_err().to_string();
            assert!(err.contains(needle), "{}: {err}", path.display());
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(!err.contains(&pair.secret.to_z85()));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn public_args_refuse_secrets_and_nonsense() {
        let dir = temp_dir("public");
        let (_, paths) = write_key_pair(&dir.join("k"), "test").unwrap();
        let err = load_public_arg(paths.secret.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("holds a secret key"), "{err}");
        let err = load_public_arg("not-a-key-nor-a-file").unwrap_err();
        assert!(err.to_string().contains("not-a-key-nor-a-file"), "{err}");
        let err = load_public_arg(&format!("z85:{}", "~".repeat(40))).unwrap_err();
        assert!(err.to_string().contains("Z85"), "{err}");
        // A missing file whose name happens to be 40 Z85 characters is still a missing file.
        let forty = dir.join("x".repeat(40 - dir.to_str().unwrap().len() - 1));
        let forty = forty.to_str().unwrap();
        assert_eq!(forty.len(), 40);
        let err = load_public_arg(forty).unwrap_err().to_string();
        assert!(
            err.contains("no such file") && err.contains("z85:"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = temp_dir("fifo");
        let fifo = dir.join("k.key_secret");
        mkfifo(&fifo);
        // Without the checks these calls block in open(2) forever.
        let err = load_secret_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file (a FIFO)"), "{err}");
        let err = load_public_arg(fifo.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let err = load_allow_list(&fifo).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_public_key_line_that_is_not_the_secret_keys_is_refused() {
        let dir = temp_dir("mismatch");
        let (pair, paths) = write_key_pair(&dir.join("k"), "test").unwrap();
        let other = KeyPair::generate().unwrap();
        let text = std::fs::read_to_string(&paths.secret)
            .unwrap()
            .replace(&pair.public.to_z85(), &other.public.to_z85());
        let swapped = dir.join("swapped.key_secret");
        std::fs::write(&swapped, text).unwrap();
        std::fs::set_permissions(&swapped, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_secret_file(&swapped).unwrap_err().to_string();
        assert!(
            err.contains("not the public key of its secret key"),
            "{err}"
        );
        assert!(!err.contains(&pair.secret.to_z85()), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn allow_lists_come_from_a_file_or_a_directory() {
        let dir = temp_dir("allow");
        let keys_dir = dir.join("allowed");
        std::fs::create_dir(&keys_dir).unwrap();
        let (a, _) = write_key_pair(&keys_dir.join("a"), "test").unwrap();
        let (b, b_paths) = write_key_pair(&keys_dir.join("b"), "test").unwrap();
        // Secret files in the directory are not read (they do not end in .key).
        let mut expected = vec![a.public, b.public];
        expected.sort();
        assert_eq!(load_allow_list(&keys_dir).unwrap(), expected);

        let list = dir.join("list");
        std::fs::write(
            &list,
            format!("# viewers\n{} laptop\n\n{}\n", a.public, a.public),
        )
        .unwrap();
        assert_eq!(load_allow_list(&list).unwrap(), vec![a.public]);

        std::fs::copy(&b_paths.secret, keys_dir.join("oops.key")).unwrap();
        let err = load_allow_list(&keys_dir).unwrap_err();
        assert!(err.to_string().contains("secret key"), "{err}");
        assert!(load_allow_list(&dir.join("none")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
