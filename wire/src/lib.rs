//! The message format shared by `campub` and `camview`.
//!
//! A published message is one ZeroMQ frame in one of three shapes, told apart by [`classify`]:
//!
//! * **native**: `stream name` `NUL` [`FrameHeader`] JPEG — campub's default. The stream name
//!   comes first so that `stream name + NUL` is a ZeroMQ subscription prefix for one camera.
//! * **base64**: the tutorial's `base64.b64encode(jpeg)`, byte for byte.
//! * **bare JPEG**: just the JPEG bytes, as some simple senders do.
//!
//! ```
//! use camwire::{classify, FrameHeader, Message, StreamName};
//!
//! let name = StreamName::new("garden").unwrap();
//! let header = FrameHeader { seq: 7, capture_unix_ns: 1, width_px: 640, height_px: 360 };
//! let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
//! let mut msg = Vec::new();
//! camwire::encode_native(&name, &header, &jpeg, &mut msg);
//! match classify(&msg).unwrap() {
//!     Message::Native(frame) => assert_eq!((frame.header.seq, frame.jpeg), (7, &jpeg[..])),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! The full format, precise enough to write a client in another language, is in
//! `docs/PROTOCOL.md`.

mod detect;
mod directory;
mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod jpeg;

pub use detect::{
    classify, decode_base64_into, encode_base64_into, Message, MessageKind, NativeFrame,
};
pub use directory::{
    encode_directory, is_directory, is_reserved_stream_name, parse_directory, DIRECTORY_STREAM,
    DIRECTORY_SUBSCRIPTION, MAX_DIRECTORY_STREAMS,
};
pub use endpoint::{Direction, Endpoint, EndpointError};
pub use header::{
    encode_native, parse_native, FrameHeader, StreamName, WireError, CODEC_JPEG, HEADER_LEN, MAGIC,
    MAX_DIMENSION_PX, MAX_STREAM_NAME_LEN, VERSION,
};
pub use jpeg::{inspect_jpeg, JpegLayout};

/// Largest picture side either program handles, in pixels: campub's capture size and output
/// width, the frames camview decodes. Written once here; the wire header's own field limit
/// ([`MAX_DIMENSION_PX`]) is wider.
pub const MAX_PICTURE_SIDE_PX: u32 = 8192;

/// The TCP port of the tutorial, kept so its scripts and ours meet by default.
pub const DEFAULT_PORT: u16 = 5555;

/// Largest message either program sends or accepts (bytes), whole: for a multipart message
/// (which no sender of this format makes) the sum of its parts. campub skips a frame whose
/// message would be larger; receivers set it as ZMQ_MAXMSGSIZE (libzmq applies it per part and
/// drops the connection of a peer that exceeds it). A 4096x2304 JPEG of camera noise at q100 is
/// larger (18.6 MB), so campub skips such frames; at q90 or below it fits.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Wall-clock time now, in nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_time_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
