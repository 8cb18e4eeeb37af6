//! The directory a relay (camrelay) publishes: which streams it carries, so that a viewer can
//! subscribe to each on a connection of its own (a publisher's queue keeps the newest message
//! per *connection*; one connection per stream keeps the newest frame per stream).
//!
//! `.streams` `NUL` `CAMD` `0x01` then each stream name followed by `NUL` (docs/PROTOCOL.md).
//! Stream names starting with `.` are reserved for such messages: a relay forwards no frame
//! under one.

use crate::header::{StreamName, WireError};

/// The stream name directory messages are published under; subscribe to
/// [`DIRECTORY_SUBSCRIPTION`] to receive only them.
pub const DIRECTORY_STREAM: &str = ".streams";
/// `.streams` and its NUL: the subscription prefix for directory messages.
pub const DIRECTORY_SUBSCRIPTION: &[u8] = b".streams\0";
/// Magic after the name.
pub const DIRECTORY_MAGIC: &[u8; 4] = b"CAMD";
pub const DIRECTORY_VERSION: u8 = 1;
/// Most stream names one directory lists (a relay carrying more lists the first ones).
pub const MAX_DIRECTORY_STREAMS: usize = 256;

/// Whether a stream name is reserved for control messages (starts with `.`).
pub fn is_reserved_stream_name(name: &str) -> bool {
    name.starts_with('.')
}

/// Whether `msg` is a directory message (by its prefix; [`parse_directory`] checks the rest).
pub fn is_directory(msg: &[u8]) -> bool {
    msg.starts_with(DIRECTORY_SUBSCRIPTION)
}

/// Writes a directory message listing `names` into `out` (cleared first).
pub fn encode_directory<'a>(names: impl IntoIterator<Item = &'a StreamName>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(DIRECTORY_SUBSCRIPTION);
    out.extend_from_slice(DIRECTORY_MAGIC);
    out.push(DIRECTORY_VERSION);
    for name in names.into_iter().take(MAX_DIRECTORY_STREAMS) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(0);
    }
}

/// The stream names a directory message lists, checked: each a valid, non-reserved stream name,
/// at most [`MAX_DIRECTORY_STREAMS`], no duplicates.
pub fn parse_directory(msg: &[u8]) -> Result<Vec<StreamName>, WireError> {
    let rest = msg
        .strip_prefix(DIRECTORY_SUBSCRIPTION)
        .ok_or(WireError::BadDirectory("not under .streams"))?;
    let rest = rest
        .strip_prefix(&DIRECTORY_MAGIC[..])
        .ok_or(WireError::BadDirectory("no CAMD magic"))?;
    let (&version, mut rest) = rest.split_first().ok_or(WireError::Truncated {
        len: msg.len(),
        need: DIRECTORY_SUBSCRIPTION.len() + DIRECTORY_MAGIC.len() + 1,
    })?;
    if version != DIRECTORY_VERSION {
        return Err(WireError::UnsupportedVersion { found: version });
    }
    let mut names: Vec<StreamName> = Vec::new();
    while !rest.is_empty() {
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::BadDirectory("a name without its NUL"))?;
        let name = std::str::from_utf8(&rest[..nul]).map_err(|_| WireError::BadStreamName)?;
        let name = StreamName::new(name)?;
        if is_reserved_stream_name(name.as_str())
            || names.len() >= MAX_DIRECTORY_STREAMS
            || names.contains(&name)
        {
            return Err(WireError::BadDirectory(
                "a reserved or repeated name, or too many names",
            ));
        }
        names.push(name);
        rest = &rest[nul + 1..];
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<StreamName> {
        list.iter().map(|n| StreamName::new(n).unwrap()).collect()
    }

    #[test]
    fn round_trip() {
        let mut msg = Vec::new();
        let list = names(&["garden", "door", "cam-2"]);
        encode_directory(&list, &mut msg);
        assert!(is_directory(&msg));
        assert_eq!(&msg[..14], b".streams\0CAMD\x01");
        assert_eq!(parse_directory(&msg).unwrap(), list);
        encode_directory(&[], &mut msg);
        assert_eq!(parse_directory(&msg).unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_is_not_a_directory() {
        for bad in [
            &b".streams\0CAMF\x01a\0"[..],
            b".streams\0CAMD\x02a\0",
            b".streams\0CAMD",
            b".streams\0CAMD\x01a",
            b".streams\0CAMD\x01a b\0",
            b".streams\0CAMD\x01.x\0",
            b".streams\0CAMD\x01a\0a\0",
            b".streams\0CAMD\x01\0",
            b"cam\0CAMD\x01a\0",
        ] {
            assert!(parse_directory(bad).is_err(), "{bad:?}");
        }
        let mut many = b".streams\0CAMD\x01".to_vec();
        for i in 0..=MAX_DIRECTORY_STREAMS {
            many.extend_from_slice(format!("s{i}\0").as_bytes());
        }
        assert!(parse_directory(&many).is_err());
    }
}
