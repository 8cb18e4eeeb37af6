//! `--record FILE` and the `r` key: the JPEGs camview shows, byte for byte as received, into a
//! Matroska file (codec `V_MJPEG`) that VLC and ffmpeg play at the right speed: each frame's
//! timestamp is its capture time (the native header's clock; receive time for the tutorial's
//! base64 and bare JPEGs), in milliseconds from the file's first frame.
//!
//! The file is written on a thread of its own from a queue bounded in bytes: a slow disk costs
//! frames (counted as dropped), never memory. The Segment and each Cluster are written with
//! an unknown size (EBML's streaming form), so a file cut short by a crash or a power cut plays
//! up to its last complete frame; a clean stop also writes the Duration into the header. A
//! write error (a full disk, a removed USB stick) stops the recording with a message, and
//! camview goes on showing the stream. The EBML itself is written by `webm-iterable` (the
//! Matroska element table and the EBML coding); only the layout of the file is decided here.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver as Queue, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use webm_iterable::errors::TagWriterError;
use webm_iterable::matroska_spec::{Master, MatroskaSpec, SimpleBlock};
use webm_iterable::WebmWriter;

/// Frames waiting for the disk, at most (and at most [`QUEUE_BYTES`] of them).
const QUEUE_FRAMES: usize = 64;
/// The queue's bound in bytes: about 2 s of a 640x360 stream, a fraction of a second of a big
/// one; a frame that would pass it is dropped and counted.
const QUEUE_BYTES: usize = 32 << 20;
/// A new Cluster at least this often (and whenever a frame's offset would not fit a
/// SimpleBlock's 16-bit relative timestamp).
const CLUSTER_MS: u64 = 1000;
/// Timestamps in milliseconds (Matroska's TimestampScale in ns).
const TIMESTAMP_SCALE_NS: u64 = 1_000_000;

/// When to start a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Bytes(u64),
    Time(Duration),
}

impl Split {
    /// `100MB`, `2GB`, `500KB`; `30s`, `10m`, `1h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 100MB or 10m"))?;
        if number == 0 {
            return Err(format!("{text:?}: must be more than 0"));
        }
        let bytes = |scale: u64| number.checked_mul(scale).map(Split::Bytes);
        let split = match unit.to_ascii_lowercase().as_str() {
            "kb" => bytes(1000),
            "mb" => bytes(1000 * 1000),
            "gb" => bytes(1000 * 1000 * 1000),
            "s" => Some(Split::Time(Duration::from_secs(number))),
            "m" => number
                .checked_mul(60)
                .map(|s| Split::Time(Duration::from_secs(s))),
            "h" => number
                .checked_mul(3600)
                .map(|s| Split::Time(Duration::from_secs(s))),
            _ => {
                return Err(format!(
                    "{text:?}: the unit must be KB, MB, GB (size) or s, m, h (time)"
                ))
            }
        };
        let split = split.ok_or_else(|| format!("{text:?}: too large"))?;
        if let Split::Bytes(b) = split {
            if b < 100_000 {
                return Err(format!("{text:?}: at least 100KB"));
            }
        }
        Ok(split)
    }
}

/// Where and how to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// The file (FILE-0001.mkv and on when split or started again).
    pub path: PathBuf,
    pub split: Option<Split>,
}

impl RecordConfig {
    /// The same recording for one stream of a grid: the stream name goes into the file name.
    pub fn for_stream(&self, stream: &str) -> Self {
        let (stem, ext) = stem_and_extension(&self.path);
        Self {
            path: self.path.with_file_name(format!("{stem}-{stream}{ext}")),
            split: self.split,
        }
    }
}

/// `name` for a grid tile's file, unless another tile already records under it (`taken`): then
/// `name-N` with the tile's number N (from 1), or the first `name-N-K` (K from 2) still free.
pub fn unique_name(name: &str, index: usize, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_owned();
    }
    let numbered = format!("{name}-{}", index + 1);
    (1..)
        .map(|k| match k {
            1 => numbered.clone(),
            k => format!("{numbered}-{k}"),
        })
        .find(|candidate| !taken(candidate))
        .unwrap_or(numbered)
}

/// What a recording did, for the log and the headless JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RecordStats {
    /// Frames written.
    pub frames: u64,
    /// Frames the disk did not keep up with (the queue was full).
    pub dropped: u64,
    /// The files written, in order.
    pub files: Vec<String>,
    /// Why the recording stopped early (a full disk...), if it did.
    pub error: Option<String>,
}

/// What the viewer and the writing thread share.
#[derive(Default)]
struct Shared {
    frames: AtomicU64,
    dropped: AtomicU64,
    queued_bytes: AtomicUsize,
    failed: AtomicBool,
    files: Mutex<Vec<String>>,
    error: Mutex<Option<String>>,
}

struct Frame {
    jpeg: Vec<u8>,
    unix_ns: u64,
    width_px: u32,
    height_px: u32,
}

/// A recording in progress: frames in with [`Recorder::push`], finished by [`Recorder::stop`]
/// (or when dropped).
pub struct Recorder {
    queue: Option<SyncSender<Frame>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Starts the writing thread; `first_index` numbers the first file (1 for the first
    /// recording of a run). The file is created with the first frame.
    pub fn start(config: &RecordConfig, first_index: u32) -> std::io::Result<Self> {
        let (queue, frames) = sync_channel(QUEUE_FRAMES);
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let config = config.clone();
            std::thread::Builder::new()
                .name("record".into())
                .spawn(move || write_all(&config, first_index, &frames, &shared))?
        };
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            shared,
        })
    }

    /// Queues one frame; never blocks. Dropped (and counted) when the disk is behind.
    pub fn push(&self, jpeg: &[u8], unix_ns: u64, width_px: u32, height_px: u32) {
        let Some(queue) = &self.queue else {
            return;
        };
        if self.shared.failed.load(Ordering::Relaxed) {
            return;
        }
        let queued = self.shared.queued_bytes.load(Ordering::Relaxed);
        if queued + jpeg.len() > QUEUE_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.shared
            .queued_bytes
            .fetch_add(jpeg.len(), Ordering::Relaxed);
        let frame = Frame {
            jpeg: jpeg.to_vec(),
            unix_ns,
            width_px,
            height_px,
        };
        match queue.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) => {
                self.shared
                    .queued_bytes
                    .fetch_sub(frame.jpeg.len(), Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether the recording stopped by itself (a write error).
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// The figures so far.
    pub fn stats(&self) -> RecordStats {
        RecordStats {
            frames: self.shared.frames.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            files: self
                .shared
                .files
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default(),
            error: self.shared.error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Writes what is queued, finishes the file, and returns the figures.
    pub fn stop(mut self) -> RecordStats {
        self.finish();
        self.stats()
    }

    fn finish(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the recording thread panicked");
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// FILE's stem and extension (".mkv" when it has none).
fn stem_and_extension(path: &Path) -> (String, String) {
    let stem = path.file_stem().map_or_else(
        || "camview".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let ext = path.extension().map_or_else(
        || ".mkv".to_owned(),
        |e| format!(".{}", e.to_string_lossy()),
    );
    (stem, ext)
}

/// The n-th file of a recording: FILE itself for the first of an unsplit recording, else
/// FILE-000n.
pub fn file_name(config: &RecordConfig, index: u32) -> PathBuf {
    if index <= 1 && config.split.is_none() {
        return config.path.clone();
    }
    let (stem, ext) = stem_and_extension(&config.path);
    config
        .path
        .with_file_name(format!("{stem}-{index:04}{ext}"))
}

/// The writing thread: frames from the queue into files until the queue closes or a write
/// fails.
fn write_all(config: &RecordConfig, first_index: u32, frames: &Queue<Frame>, shared: &Shared) {
    let mut index = first_index;
    let mut file: Option<MkvFile> = None;
    for frame in frames {
        shared
            .queued_bytes
            .fetch_sub(frame.jpeg.len(), Ordering::Relaxed);
        let due = file
            .as_ref()
            .is_some_and(|f| f.split_due(config.split, frame.unix_ns));
        let result = (|| -> Result<(), String> {
            if due {
                if let Some(done) = file.take() {
                    done.finish()?;
                }
                index += 1;
            }
            if file.is_none() {
                let path = file_name(config, index);
                file = Some(MkvFile::create(&path, &frame)?);
                if let Ok(mut files) = shared.files.lock() {
                    files.push(path.display().to_string());
                }
                log::info!("recording to {}", path.display());
            }
            if let Some(f) = &mut file {
                f.frame(&frame)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                shared.frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                log::error!("recording stopped: {why}; camview goes on without recording");
                if let Ok(mut error) = shared.error.lock() {
                    *error = Some(why);
                }
                shared.failed.store(true, Ordering::Relaxed);
                // What the file got so far stays readable (unknown sizes); try to close it.
                if let Some(f) = file.take() {
                    let _ = f.finish();
                }
                // Empty the queue so that nothing waits on it.
                for rest in frames.try_iter() {
                    shared
                        .queued_bytes
                        .fetch_sub(rest.jpeg.len(), Ordering::Relaxed);
                }
                return;
            }
        }
    }
    if let Some(f) = file.take() {
        if let Err(why) = f.finish() {
            log::error!("recording: {why}");
            if let Ok(mut error) = shared.error.lock() {
                *error = Some(why);
            }
        }
    }
}

/// An EBML writer's error with what caused it (the I/O error says "No space left on device").
fn ebml_error(path: &Path, e: &TagWriterError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{}: {cause}", path.display()),
        None => format!("{}: {e}", path.display()),
    }
}

/// Counts the bytes written, so that the Duration's place in the header is known.
struct Counting {
    inner: BufWriter<File>,
    written: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One Matroska file being written.
struct MkvFile {
    path: PathBuf,
    writer: WebmWriter<Counting>,
    /// Where the Info's Duration (an 8-byte float) is, to fill in at the end.
    duration_at: u64,
    /// The file's first frame's capture time: timestamps are counted from it.
    origin_ns: u64,
    /// The current Cluster's timestamp (ms), once one is open.
    cluster_ms: Option<u64>,
    last_ms: u64,
}

impl MkvFile {
    fn create(path: &Path, first: &Frame) -> Result<Self, String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let ebml = |e: TagWriterError| ebml_error(path, &e);
        let file = File::create(path).map_err(io)?;
        let mut writer = WebmWriter::new(Counting {
            inner: BufWriter::with_capacity(256 * 1024, file),
            written: 0,
        });
        writer
            .write(&MatroskaSpec::Ebml(Master::Full(vec![
                MatroskaSpec::EbmlVersion(1),
                MatroskaSpec::EbmlReadVersion(1),
                MatroskaSpec::EbmlMaxIdLength(4),
                MatroskaSpec::EbmlMaxSizeLength(8),
                MatroskaSpec::DocType("matroska".into()),
                MatroskaSpec::DocTypeVersion(4),
                MatroskaSpec::DocTypeReadVersion(2),
            ])))
            .map_err(ebml)?;
        writer
            .write_advanced(
                &MatroskaSpec::Segment(Master::Start),
                webm_iterable::WriteOptions::is_unknown_sized_element(),
            )
            .map_err(ebml)?;
        // The Duration last in Info: its 8 bytes are then the last ones written so far.
        writer
            .write(&MatroskaSpec::Info(Master::Full(vec![
                MatroskaSpec::TimestampScale(TIMESTAMP_SCALE_NS),
                MatroskaSpec::MuxingApp(format!("camview {}", env!("CARGO_PKG_VERSION"))),
                MatroskaSpec::WritingApp(format!("camview {}", env!("CARGO_PKG_VERSION"))),
                MatroskaSpec::Duration(0.0),
            ])))
            .map_err(ebml)?;
        let duration_at = writer.get_ref().written.saturating_sub(8);
        writer
            .write(&MatroskaSpec::Tracks(Master::Full(vec![
                MatroskaSpec::TrackEntry(Master::Full(vec![
                    MatroskaSpec::TrackNumber(1),
                    MatroskaSpec::TrackUID(1),
                    MatroskaSpec::TrackType(1),
                    MatroskaSpec::FlagLacing(0),
                    MatroskaSpec::CodecID("V_MJPEG".into()),
                    MatroskaSpec::Video(Master::Full(vec![
                        MatroskaSpec::PixelWidth(u64::from(first.width_px)),
                        MatroskaSpec::PixelHeight(u64::from(first.height_px)),
                    ])),
                ])),
            ])))
            .map_err(ebml)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            duration_at,
            origin_ns: first.unix_ns,
            cluster_ms: None,
            last_ms: 0,
        })
    }

    fn split_due(&self, split: Option<Split>, unix_ns: u64) -> bool {
        match split {
            None => false,
            Some(Split::Bytes(limit)) => self.writer.get_ref().written >= limit,
            Some(Split::Time(every)) => {
                unix_ns.saturating_sub(self.origin_ns)
                    >= u64::try_from(every.as_nanos()).unwrap_or(u64::MAX)
            }
        }
    }

    fn frame(&mut self, frame: &Frame) -> Result<(), String> {
        let ebml =
            |e: webm_iterable::errors::TagWriterError| format!("{}: {e}", self.path.display());
        // Never backwards (a publisher restarted with another clock): one ms after the last.
        let ms = (frame.unix_ns.saturating_sub(self.origin_ns) / TIMESTAMP_SCALE_NS)
            .max(self.last_ms + u64::from(self.cluster_ms.is_some()));
        let cluster = match self.cluster_ms {
            Some(start) if ms - start < CLUSTER_MS && ms - start <= i16::MAX as u64 => start,
            open => {
                if open.is_some() {
                    self.writer
                        .write(&MatroskaSpec::Cluster(Master::End))
                        .map_err(ebml)?;
                }
                self.writer
                    .write_advanced(
                        &MatroskaSpec::Cluster(Master::Start),
                        webm_iterable::WriteOptions::is_unknown_sized_element(),
                    )
                    .map_err(ebml)?;
                self.writer
                    .write(&MatroskaSpec::Timestamp(ms))
                    .map_err(ebml)?;
                self.cluster_ms = Some(ms);
                ms
            }
        };
        let relative = i16::try_from(ms - cluster).unwrap_or(i16::MAX);
        let block = SimpleBlock::new_uncheked(&frame.jpeg, 1, relative, false, None, false, true);
        self.writer
            .write(&MatroskaSpec::from(block))
            .map_err(ebml)?;
        self.last_ms = ms;
        Ok(())
    }

    /// Closes the open elements, writes the Duration and flushes to the disk.
    fn finish(self) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", self.path.display());
        let duration_ms = self.last_ms as f64;
        let duration_at = self.duration_at;
        let path = self.path.clone();
        let counting = self
            .writer
            .into_inner()
            .map_err(|e| ebml_error(&path, &e))?;
        let mut file = counting
            .inner
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        file.seek(SeekFrom::Start(duration_at)).map_err(io)?;
        file.write_all(&duration_ms.to_be_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parse_sizes_and_times() {
        assert_eq!(Split::parse("100MB"), Ok(Split::Bytes(100_000_000)));
        assert_eq!(Split::parse("2gb"), Ok(Split::Bytes(2_000_000_000)));
        assert_eq!(
            Split::parse("10m"),
            Ok(Split::Time(Duration::from_secs(600)))
        );
        assert_eq!(
            Split::parse("30s"),
            Ok(Split::Time(Duration::from_secs(30)))
        );
        assert_eq!(
            Split::parse("1h"),
            Ok(Split::Time(Duration::from_secs(3600)))
        );
        for bad in [
            "",
            "MB",
            "10",
            "10x",
            "0s",
            "50KB",
            "-1m",
            "99999999999999999999h",
        ] {
            assert!(Split::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_number_the_parts_and_name_the_stream() {
        let plain = RecordConfig {
            path: PathBuf::from("/tmp/rec.mkv"),
            split: None,
        };
        assert_eq!(file_name(&plain, 1), PathBuf::from("/tmp/rec.mkv"));
        assert_eq!(file_name(&plain, 2), PathBuf::from("/tmp/rec-0002.mkv"));
        let split = RecordConfig {
            split: Some(Split::Time(Duration::from_secs(60))),
            ..plain.clone()
        };
        assert_eq!(file_name(&split, 1), PathBuf::from("/tmp/rec-0001.mkv"));
        assert_eq!(
            file_name(&plain.for_stream("door"), 1),
            PathBuf::from("/tmp/rec-door.mkv")
        );
    }

    /// ebml-iterable before 0.7 coded a size of 2^(7n)-1 bytes (a 16,383-byte SimpleBlock: a
    /// 16,379-byte JPEG) as EBML's reserved "unknown size", and ffmpeg lost the rest of that
    /// Cluster (seen in CI: 172 of 181 frames). Blocks of every such size, and their
    /// neighbours, must read back whole.
    #[test]
    fn blocks_whose_size_is_all_ones_in_a_vint_read_back_whole() {
        let dir = std::env::temp_dir().join(format!("camview-record-vint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sizes.mkv");
        // A SimpleBlock is the frame and 4 bytes: track (1), relative timestamp (2), flags (1).
        let lengths = [
            1, 122, 123, 124, 16_378, 16_379, 16_380, 2_097_146, 2_097_147, 2_097_148,
        ];
        let frame = |n: usize, len: usize| Frame {
            jpeg: vec![u8::try_from(n).unwrap(); len],
            unix_ns: 1_700_000_000_000_000_000 + n as u64 * 33_000_000,
            width_px: 640,
            height_px: 360,
        };
        let mut file = MkvFile::create(&path, &frame(0, lengths[0])).unwrap();
        for (n, &len) in lengths.iter().enumerate() {
            file.frame(&frame(n, len)).unwrap();
        }
        file.finish().unwrap();

        let mut read = Vec::new();
        let source = File::open(&path).unwrap();
        for tag in webm_iterable::WebmIterator::new(source, &[]) {
            let tag = tag.unwrap();
            if let MatroskaSpec::SimpleBlock(_) = &tag {
                let block = SimpleBlock::try_from(&tag).unwrap();
                let data = block.raw_frame_data();
                read.push((data.len(), data.first().copied()));
            }
        }
        let expected: Vec<_> = lengths
            .iter()
            .enumerate()
            .map(|(n, &len)| (len, Some(u8::try_from(n).unwrap())))
            .collect();
        assert_eq!(read, expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_name_another_tile_records_under_gets_the_tile_number() {
        let taken = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        assert_eq!(unique_name("door", 2, taken(&[])), "door");
        assert_eq!(unique_name("door", 2, taken(&["garden"])), "door");
        assert_eq!(unique_name("door", 2, taken(&["door"])), "door-3");
        assert_eq!(
            unique_name("door", 2, taken(&["door", "door-3"])),
            "door-3-2"
        );
        assert_eq!(
            unique_name("door", 2, taken(&["door", "door-3", "door-3-2"])),
            "door-3-3"
        );
        // A whole endpoint's tile is named by its number, which a stream may also be called.
        assert_eq!(unique_name("2", 1, taken(&["2"])), "2-2");
    }
}
