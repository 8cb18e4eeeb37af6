//! A V4L2 camera: format negotiation, mmap streaming, and noticing when the camera goes away.
//!
//! Works around two behaviours of the `v4l` 0.14 mmap stream: its `next()` re-queues the
//! previous buffer only on the following call (so we copy out and call again at once), and after
//! a timed-out wait that buffer is already queued, so calling `next()` again would queue it twice
//! (EINVAL). After a timeout we therefore first `dequeue()` alone to get back in step; and once
//! streaming we wait for a filled buffer ourselves before calling `next()`, so a camera slower
//! than one frame per [`POLL_INTERVAL`] never times out inside it (each such timeout cost a frame:
//! at 5 fps every frame after the first was lost).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::{Capabilities, Device, Format, FourCC};

use super::controls::{self, ControlInfo, ControlRequest, ControlType};
use super::layout::Layout;
use super::{CaptureError, FrameSource, Next, POLL_INTERVAL};
use crate::frame::{PixelFormat, RawFrame};

/// Which camera format to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// The first the camera offers of MJPEG (less USB bandwidth, higher fps), YUYV, UYVY, NV12,
    /// YU12, NV21, YV12 ([`Layout::ALL`]).
    Auto,
    Only(Layout),
}

impl std::str::FromStr for FormatChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "mjpeg" | "mjpg" => Self::Only(Layout::Mjpeg),
            "yuyv" => Self::Only(Layout::Yuyv),
            "uyvy" => Self::Only(Layout::Uyvy),
            "nv12" => Self::Only(Layout::Nv12),
            "nv21" => Self::Only(Layout::Nv21),
            "yu12" | "i420" | "yuv420" => Self::Only(Layout::Yu12),
            "yv12" => Self::Only(Layout::Yv12),
            other => {
                return Err(format!(
                    "unknown format {other:?}: expected auto, mjpeg, yuyv, uyvy, nv12, nv21, \
                     yu12 (i420) or yv12"
                ))
            }
        })
    }
}

/// Buffers the driver fills while we work on one: enough to ride out a slow frame.
const BUFFER_COUNT: u32 = 4;

/// What the camera was asked for.
#[derive(Debug, Clone)]
pub struct CameraRequest {
    pub device: PathBuf,
    pub format: FormatChoice,
    pub width_px: u32,
    pub height_px: u32,
    pub fps: u32,
    /// `--control NAME=VALUE`, set in this order each time the camera is opened.
    pub controls: Vec<ControlRequest>,
}

pub struct V4l2Source {
    device: String,
    stream: MmapStream<'static>,
    layout: Layout,
    width_px: u32,
    height_px: u32,
    stride_bytes: u32,
    granted_fps: f64,
    /// A wait timed out inside `next()`; the next call must dequeue before it may queue again.
    resync: bool,
    /// `next()` has delivered a frame: the stream runs, and we wait for frames before `next()`.
    streaming: bool,
    // Keeps the device open for the stream's lifetime.
    _device: Device,
}

fn open_device(path: &Path) -> Result<Device, CaptureError> {
    Device::with_path(path).map_err(|source| CaptureError::Open {
        device: path.display().to_string(),
        source,
    })
}

/// A fourcc as v4l2-ctl prints it: the four characters, "-BE" added when bit 31 marks the
/// big-endian variant of a format.
fn fourcc_name(f: FourCC) -> String {
    let [a, b, c, d] = f.repr;
    let name: String = [a, b, c, d & 0x7f]
        .iter()
        .map(|&ch| {
            if ch.is_ascii_graphic() || ch == b' ' {
                char::from(ch)
            } else {
                '?'
            }
        })
        .collect();
    if d & 0x80 != 0 {
        name + "-BE"
    } else {
        name
    }
}

impl V4l2Source {
    /// Opens the camera and sets it up: capabilities, format, frame rate, then the buffers last
    /// (once they exist, V4L2 refuses a format change). Streaming starts with the first frame.
    pub fn open(req: &CameraRequest) -> Result<Self, CaptureError> {
        let device = req.device.display().to_string();
        let dev = open_device(&req.device)?;
        let caps = check_capabilities(&dev, &device)?;
        let layout = choose_offered_layout(&dev, &device, req.format)?;
        let granted = set_format(&dev, &device, req, layout)?;
        let granted_fps = set_frame_rate(&dev, &device, req.fps);
        // Every open sets the controls: a camera that comes back (unplugged, or its driver
        // reloaded) starts from its defaults. campub has one way to reopen a camera, which is to
        // start again: a lost camera ends it with exit 1, the service manager starts it again
        // (systemd: Restart=on-failure), and that run comes through here.
        apply_controls(&dev, &device, &req.controls)?;
        let stream = map_buffers(&dev, &device)?;
        log::info!(
            "{device} ({}, driver {}): {} {}x{} at {granted_fps:.2} fps, {BUFFER_COUNT} mmap buffers",
            caps.card,
            caps.driver,
            layout.name(),
            granted.width,
            granted.height
        );
        Ok(Self {
            device,
            stream,
            layout,
            width_px: granted.width,
            height_px: granted.height,
            stride_bytes: granted.stride,
            granted_fps,
            resync: false,
            streaming: false,
            _device: dev,
        })
    }

    fn lost(&self, source: io::Error) -> CaptureError {
        CaptureError::Lost {
            device: self.device.clone(),
            source,
        }
    }
}

/// A failed ioctl while opening `device`, named in the message (`what`: "VIDIOC_S_FMT"...).
fn ioctl_error(device: &str, what: &str, e: io::Error) -> CaptureError {
    CaptureError::Open {
        device: device.to_owned(),
        source: io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

/// The device's capabilities, when it can stream video capture (a metadata node, say, cannot).
fn check_capabilities(dev: &Device, device: &str) -> Result<Capabilities, CaptureError> {
    let caps = dev
        .query_caps()
        .map_err(|e| ioctl_error(device, "VIDIOC_QUERYCAP", e))?;
    use v4l::capability::Flags as Cap;
    if !caps.capabilities.contains(Cap::VIDEO_CAPTURE)
        || !caps.capabilities.contains(Cap::STREAMING)
    {
        return Err(CaptureError::Unsupported(format!(
            "{device} ({}, driver {}) is not a streaming video capture device",
            caps.card, caps.driver
        )));
    }
    Ok(caps)
}

/// The format to ask for, among those the device offers; the error lists what it offers.
fn choose_offered_layout(
    dev: &Device,
    device: &str,
    choice: FormatChoice,
) -> Result<Layout, CaptureError> {
    let offered: Vec<FourCC> = dev
        .enum_formats()
        .map_err(|e| ioctl_error(device, "VIDIOC_ENUM_FMT", e))?
        .into_iter()
        .map(|d| d.fourcc)
        .collect();
    choose_layout(choice, &offered).map_err(|wanted| {
        let names: Vec<String> = offered.iter().map(|&f| fourcc_name(f)).collect();
        CaptureError::Unsupported(format!(
            "{device} offers none of the formats campub reads ({wanted}); it offers: {}",
            if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(", ")
            }
        ))
    })
}

/// Sets `layout` at the requested size; returns the format the driver granted (the nearest
/// size it has, with a warning), refused when it switched formats or its rows are unusable.
fn set_format(
    dev: &Device,
    device: &str,
    req: &CameraRequest,
    layout: Layout,
) -> Result<Format, CaptureError> {
    let mut fmt = dev
        .format()
        .map_err(|e| ioctl_error(device, "VIDIOC_G_FMT", e))?;
    fmt.width = req.width_px;
    fmt.height = req.height_px;
    fmt.fourcc = layout.fourcc();
    let granted = dev
        .set_format(&fmt)
        .map_err(|e| ioctl_error(device, "VIDIOC_S_FMT", e))?;
    if granted.fourcc != layout.fourcc() {
        return Err(CaptureError::Unsupported(format!(
            "{device} refused {} and switched to {}",
            layout.name(),
            fourcc_name(granted.fourcc)
        )));
    }
    if (granted.width, granted.height) != (req.width_px, req.height_px) {
        log::warn!(
            "{device}: asked for {}x{}, the driver granted the nearest size it has: {}x{}",
            req.width_px,
            req.height_px,
            granted.width,
            granted.height
        );
    }
    layout
        .check(granted.width, granted.height, granted.stride)
        .map_err(|why| CaptureError::Unsupported(format!("{device}: {why}")))?;
    Ok(granted)
}

/// Asks for `fps` and returns the rate the driver granted (warning when it differs); a driver
/// that cannot set it keeps its own, and `fps` is assumed.
fn set_frame_rate(dev: &Device, device: &str, fps: u32) -> f64 {
    let granted_fps = match dev.set_params(&v4l::video::capture::Parameters::with_fps(fps.max(1))) {
        Ok(p) if p.interval.numerator > 0 => {
            f64::from(p.interval.denominator) / f64::from(p.interval.numerator)
        }
        Ok(_) => f64::from(fps),
        Err(e) => {
            log::warn!("{device}: cannot set the frame rate ({e}); using the driver's");
            f64::from(fps)
        }
    };
    if (granted_fps - f64::from(fps)).abs() > 0.01 {
        log::warn!("{device}: asked for {fps} fps, the driver granted {granted_fps:.2} fps");
    }
    granted_fps
}

/// The mmap buffers the driver fills ([`BUFFER_COUNT`]), waited on at most [`POLL_INTERVAL`]
/// at a time. Streaming starts with the first `next()`.
fn map_buffers(dev: &Device, device: &str) -> Result<MmapStream<'static>, CaptureError> {
    let mut stream = MmapStream::with_buffers(dev, Type::VideoCapture, BUFFER_COUNT)
        .map_err(|e| ioctl_error(device, "VIDIOC_REQBUFS/mmap", e))?;
    stream.set_timeout(POLL_INTERVAL);
    Ok(stream)
}

fn choose_layout(choice: FormatChoice, offered: &[FourCC]) -> Result<Layout, String> {
    match choice {
        FormatChoice::Auto => Layout::ALL
            .into_iter()
            .find(|l| offered.contains(&l.fourcc()))
            .ok_or_else(|| {
                let names: Vec<&str> = Layout::ALL.iter().map(|l| l.name()).collect();
                names.join(", ")
            }),
        FormatChoice::Only(layout) if offered.contains(&layout.fourcc()) => Ok(layout),
        FormatChoice::Only(layout) => Err(format!(
            "{}, as --format {} asks",
            layout.name(),
            layout.name().to_ascii_lowercase()
        )),
    }
}

/// Converts a V4L2 buffer timestamp (CLOCK_MONOTONIC) to wall-clock ns, or None if implausible.
fn monotonic_to_unix_ns(ts: v4l::timestamp::Timestamp) -> Option<u64> {
    let buf_ns = u64::try_from(ts.sec).ok()? * 1_000_000_000 + u64::try_from(ts.usec).ok()? * 1000;
    let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let mono_now_ns =
        u64::try_from(mono.tv_sec).ok()? * 1_000_000_000 + u64::try_from(mono.tv_nsec).ok()?;
    let age_ns = mono_now_ns.checked_sub(buf_ns)?;
    (age_ns < 1_000_000_000).then(|| camwire::unix_time_ns().saturating_sub(age_ns))
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        if self.resync {
            return match CaptureStream::dequeue(&mut self.stream) {
                // That frame is unreachable through v4l's API; the next `next()` re-queues it.
                Ok(_) => {
                    self.resync = false;
                    Ok(Next::Idle)
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(Next::Idle),
                Err(e) => Err(self.lost(e)),
            };
        }
        if self.streaming {
            let timeout_ms = i32::try_from(POLL_INTERVAL.as_millis()).unwrap_or(i32::MAX);
            match self.stream.handle().poll(libc::POLLIN, timeout_ms) {
                Ok(0) => return Ok(Next::Idle),
                // Ready, or an error condition (device gone) that `next()` then reports.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Next::Idle),
                Err(e) => return Err(self.lost(e)),
            }
        }
        let (buf, meta) = match CaptureStream::next(&mut self.stream) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.resync = true;
                return Ok(Next::Idle);
            }
            Err(e) => {
                return Err(CaptureError::Lost {
                    device: self.device.clone(),
                    source: e,
                });
            }
        };
        self.streaming = true;
        let used = match meta.bytesused as usize {
            0 => buf.len(),
            n => n.min(buf.len()),
        };
        let payload = &buf[..used];
        let expected = self.layout.frame_bytes(self.height_px, self.stride_bytes);
        let intact = !meta.flags.contains(BufferFlags::ERROR)
            && payload.len() >= expected
            && (self.layout != Layout::Mjpeg || payload.starts_with(&[0xFF, 0xD8]));
        if !intact {
            log::debug!(
                "{}: discarding a damaged frame (seq {}, {} bytes)",
                self.device,
                meta.sequence,
                used
            );
            return Ok(Next::Idle);
        }
        frame.captured_at = Instant::now();
        frame.capture_unix_ns =
            monotonic_to_unix_ns(meta.timestamp).unwrap_or_else(camwire::unix_time_ns);
        frame.format = self.layout.pixel_format();
        frame.width_px = self.width_px;
        frame.height_px = self.height_px;
        frame.stride_bytes = if frame.format == PixelFormat::Mjpeg {
            0
        } else {
            self.stride_bytes
        };
        frame.source_seq = u64::from(meta.sequence);
        self.layout
            .copy_frame(payload, self.height_px, self.stride_bytes, &mut frame.data);
        Ok(Next::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "{} {} {}x{} at {:.2} fps",
            self.device,
            self.layout.name(),
            self.width_px,
            self.height_px,
            self.granted_fps
        )
    }
}

impl Drop for V4l2Source {
    fn drop(&mut self) {
        // Stop explicitly so a failure is logged here; v4l's own Drop would panic on it.
        if let Err(e) = self.stream.stop() {
            log::debug!("{}: VIDIOC_STREAMOFF: {e}", self.device);
        }
    }
}

/// Prints what the device offers: formats, frame sizes and frame intervals (`--list-formats`).
pub fn list_formats(path: &Path, out: &mut dyn io::Write) -> Result<(), CaptureError> {
    let dev = open_device(path)?;
    let device = path.display().to_string();
    let wrap = |e: io::Error| CaptureError::Open {
        device: device.clone(),
        source: e,
    };
    let caps = dev.query_caps().map_err(wrap)?;
    let _ = writeln!(
        out,
        "{device}: {} (driver {}, bus {})",
        caps.card, caps.driver, caps.bus
    );
    for desc in dev.enum_formats().map_err(wrap)? {
        let usable = if Layout::from_fourcc(desc.fourcc).is_some() {
            ""
        } else {
            "  (not read by campub)"
        };
        let _ = writeln!(
            out,
            "  {} {}{usable}",
            fourcc_name(desc.fourcc),
            desc.description
        );
        let sizes = dev.enum_framesizes(desc.fourcc).unwrap_or_default();
        for size in sizes {
            match size.size {
                v4l::framesize::FrameSizeEnum::Discrete(d) => {
                    let rates = dev
                        .enum_frameintervals(desc.fourcc, d.width, d.height)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|i| match i.interval {
                            v4l::frameinterval::FrameIntervalEnum::Discrete(f)
                                if f.numerator > 0 =>
                            {
                                format!("{:.4}", f64::from(f.denominator) / f64::from(f.numerator))
                                    .trim_end_matches('0')
                                    .trim_end_matches('.')
                                    .to_owned()
                            }
                            v4l::frameinterval::FrameIntervalEnum::Discrete(_) => "?".to_owned(),
                            v4l::frameinterval::FrameIntervalEnum::Stepwise(s) => format!("{s}"),
                        })
                        .collect::<Vec<_>>();
                    let _ = writeln!(
                        out,
                        "    {}x{}  fps: {}",
                        d.width,
                        d.height,
                        rates.join(" ")
                    );
                }
                v4l::framesize::FrameSizeEnum::Stepwise(s) => {
                    let _ = writeln!(out, "    stepwise {s}");
                }
            }
        }
    }
    Ok(())
}

/// Sets `requests` in order, each checked against what the driver describes first (so a bad
/// one changes nothing), then reads each back and warns when the driver made it something else.
fn apply_controls(
    dev: &Device,
    device: &str,
    requests: &[ControlRequest],
) -> Result<(), CaptureError> {
    if requests.is_empty() {
        return Ok(());
    }
    let fd = dev.handle().fd();
    let described =
        query_controls(fd).map_err(|e| ioctl_error(device, "VIDIOC_QUERY_EXT_CTRL", e))?;
    let control_error = |request: &ControlRequest, reason: String| CaptureError::Control {
        device: device.to_owned(),
        request: request.to_string(),
        reason,
    };
    let settings = requests
        .iter()
        .map(|r| controls::resolve(r, &described).map_err(|why| control_error(r, why)))
        .collect::<Result<Vec<_>, _>>()?;
    for (request, setting) in requests.iter().zip(&settings) {
        // Asked again: an earlier control may have made this one active (gain after
        // gain_automatic=0).
        let flags = query_ext_ctrl(fd, setting.id)
            .ok()
            .flatten()
            .map_or(0, |c| c.flags);
        if flags & controls::flag::INACTIVE != 0 {
            log::warn!(
                "{device}: {} is inactive (another control governs it now); setting it anyway",
                setting.name
            );
        }
        set_control_value(fd, setting.id, setting.kind, setting.value).map_err(|e| {
            match e.raw_os_error() {
                // The driver refuses the value or the control: retrying cannot help.
                Some(libc::EINVAL | libc::ERANGE | libc::EACCES | libc::EPERM) => {
                    control_error(request, format!("the driver refused it: {e}"))
                }
                _ => ioctl_error(device, &format!("VIDIOC_S_EXT_CTRLS {}", setting.name), e),
            }
        })?;
    }
    for setting in &settings {
        match get_control_value(fd, setting.id, setting.kind) {
            Ok(got) if got == setting.value => {
                log::info!("{device}: control {}={got}", setting.name);
            }
            // The driver changes it by itself (gain under automatic gain).
            Ok(got) if setting.volatile => log::info!(
                "{device}: control {}={} set; it is volatile, now {got}",
                setting.name,
                setting.value
            ),
            Ok(got) => log::warn!(
                "{device}: control {} set to {}, the driver made it {got}",
                setting.name,
                setting.value
            ),
            Err(e) => log::warn!(
                "{device}: control {} set, but cannot read it back: {e}",
                setting.name
            ),
        }
    }
    Ok(())
}

/// Prints every control of the device: name, type, range, step, default, current value, flags
/// and menu entries (`--list-controls`), as `v4l2-ctl --list-ctrls-menus` lays them out.
pub fn list_controls(path: &Path, out: &mut dyn io::Write) -> Result<(), CaptureError> {
    let dev = open_device(path)?;
    let device = path.display().to_string();
    let caps = dev
        .query_caps()
        .map_err(|e| ioctl_error(&device, "VIDIOC_QUERYCAP", e))?;
    let fd = dev.handle().fd();
    let described =
        query_controls(fd).map_err(|e| ioctl_error(&device, "VIDIOC_QUERY_EXT_CTRL", e))?;
    let mut text = format!(
        "{device}: {} (driver {}, bus {})\n",
        caps.card, caps.driver, caps.bus
    );
    if described.is_empty() {
        text.push_str("  no controls\n");
    }
    for info in &described {
        let value = if info.is_readable() {
            get_control_value(fd, info.id, info.kind).ok()
        } else {
            None
        };
        text.push_str(&controls::format_control(info, value));
    }
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// Entries a menu may have at most, against a driver that reports an absurd range.
const MAX_MENU_ENTRIES: i64 = 1024;

/// Every control the device describes, with menu entries. Our own walk of
/// VIDIOC_QUERY_EXT_CTRL instead of v4l's `query_controls`: that one panics on a control type
/// it does not know (kernels add types: rectangles for UVC regions of interest) and drops
/// array dimensions.
fn query_controls(fd: std::os::raw::c_int) -> io::Result<Vec<ControlInfo>> {
    let next = v4l::v4l_sys::V4L2_CTRL_FLAG_NEXT_CTRL | v4l::v4l_sys::V4L2_CTRL_FLAG_NEXT_COMPOUND;
    let mut found = Vec::new();
    let mut id = 0;
    while let Some(raw) = query_ext_ctrl(fd, id | next)? {
        if raw.id & !next <= id && id != 0 {
            break; // a driver that does not move on; never loop forever
        }
        id = raw.id;
        let kind = ControlType::from_raw(raw.type_);
        let dims_count = (raw.nr_of_dims as usize).min(raw.dims.len());
        let mut info = ControlInfo {
            id: raw.id,
            kind,
            // c_char is i8 on x86 and u8 on ARM: its one byte either way.
            name: c_string(raw.name.iter().map(|c| c.to_ne_bytes()[0])),
            minimum: raw.minimum,
            maximum: raw.maximum,
            step: raw.step,
            default: raw.default_value,
            flags: raw.flags,
            dims: raw.dims[..dims_count].to_vec(),
            menu: Vec::new(),
        };
        if matches!(kind, ControlType::Menu | ControlType::IntegerMenu) {
            let last = raw
                .maximum
                .min(raw.minimum.saturating_add(MAX_MENU_ENTRIES));
            for index in raw.minimum.max(0)..=last {
                let Ok(index) = u32::try_from(index) else {
                    break;
                };
                // A driver may skip entries inside the range (VIDIOC_QUERYMENU says EINVAL).
                if let Some(label) = query_menu(fd, raw.id, index, kind) {
                    info.menu.push((index, label));
                }
            }
        }
        found.push(info);
    }
    Ok(found)
}

/// A NUL-terminated name from a fixed-size ioctl field.
fn c_string(bytes: impl Iterator<Item = u8>) -> String {
    let bytes: Vec<u8> = bytes.take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// VIDIOC_QUERY_EXT_CTRL for `id` (with NEXT_* bits: the control after it); None past the last
/// one, or when the driver has no controls at all.
#[allow(unsafe_code)]
fn query_ext_ctrl(
    fd: std::os::raw::c_int,
    id: u32,
) -> io::Result<Option<v4l::v4l_sys::v4l2_query_ext_ctrl>> {
    // SAFETY: a plain C struct of integers, for which all zeroes is a valid value.
    let mut query: v4l::v4l_sys::v4l2_query_ext_ctrl = unsafe { std::mem::zeroed() };
    query.id = id;
    // SAFETY: `fd` is the open device borrowed for this call; the ioctl reads and writes exactly
    // a v4l2_query_ext_ctrl, which `query` is.
    let result = unsafe {
        v4l::v4l2::ioctl(
            fd,
            v4l::v4l2::vidioc::VIDIOC_QUERY_EXT_CTRL,
            std::ptr::addr_of_mut!(query).cast(),
        )
    };
    match result {
        Ok(()) => Ok(Some(query)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One menu entry's label (a menu's name, an integer menu's number); None for an index the
/// driver skips.
#[allow(unsafe_code)]
fn query_menu(fd: std::os::raw::c_int, id: u32, index: u32, kind: ControlType) -> Option<String> {
    // SAFETY: a plain C struct of integers and a byte array, valid as all zeroes.
    let mut query: v4l::v4l_sys::v4l2_querymenu = unsafe { std::mem::zeroed() };
    query.id = id;
    query.index = index;
    // SAFETY: `fd` is the open device; the ioctl reads and writes exactly a v4l2_querymenu.
    unsafe {
        v4l::v4l2::ioctl(
            fd,
            v4l::v4l2::vidioc::VIDIOC_QUERYMENU,
            std::ptr::addr_of_mut!(query).cast(),
        )
    }
    .ok()?;
    let entry = query.__bindgen_anon_1;
    Some(if kind == ControlType::IntegerMenu {
        // SAFETY: for an integer menu the driver fills `value` (V4L2 spec, VIDIOC_QUERYMENU).
        unsafe { entry.value }.to_string()
    } else {
        // SAFETY: for a menu the driver fills `name`; any bytes are a valid [u8; 32].
        c_string(unsafe { entry.name }.into_iter())
    })
}

/// VIDIOC_G_EXT_CTRLS or VIDIOC_S_EXT_CTRLS (`request`) on one single-value control.
#[allow(unsafe_code)]
fn ext_control_ioctl(
    fd: std::os::raw::c_int,
    request: v4l::v4l2::vidioc::_IOC_TYPE,
    control: &mut v4l::v4l_sys::v4l2_ext_control,
) -> io::Result<()> {
    // SAFETY: a plain C struct of integers and a pointer, valid as all zeroes (`which` 0 is
    // V4L2_CTRL_WHICH_CUR_VAL).
    let mut list: v4l::v4l_sys::v4l2_ext_controls = unsafe { std::mem::zeroed() };
    list.count = 1;
    list.controls = std::ptr::from_mut(control);
    // SAFETY: `fd` is the open device; `list` points at one v4l2_ext_control that outlives the
    // call, and a single-value control's value travels inside it (no payload pointer).
    unsafe { v4l::v4l2::ioctl(fd, request, std::ptr::addr_of_mut!(list).cast()) }
}

/// The current value of a single-value control (VIDIOC_G_EXT_CTRLS).
#[allow(unsafe_code)]
fn get_control_value(fd: std::os::raw::c_int, id: u32, kind: ControlType) -> io::Result<i64> {
    // SAFETY: plain C structs of integers, pointers and unions, valid as all zeroes (null
    // pointers; `which` 0 is V4L2_CTRL_WHICH_CUR_VAL).
    let mut control: v4l::v4l_sys::v4l2_ext_control = unsafe { std::mem::zeroed() };
    control.id = id;
    ext_control_ioctl(fd, v4l::v4l2::vidioc::VIDIOC_G_EXT_CTRLS, &mut control)?;
    let value = control.__bindgen_anon_1;
    Ok(if kind == ControlType::Integer64 {
        // SAFETY: a 64-bit control's value is in `value64`; any bits are a valid i64.
        unsafe { value.value64 }
    } else if kind == ControlType::Bitmask {
        // SAFETY: as below; a bitmask's 32 bits are unsigned.
        i64::from(unsafe { value.value } as u32)
    } else {
        // SAFETY: every other single-value control's is in `value`; any bits are a valid i32.
        i64::from(unsafe { value.value })
    })
}

/// Sets a single-value control (VIDIOC_S_EXT_CTRLS), `value` already checked against its range.
#[allow(unsafe_code)]
fn set_control_value(
    fd: std::os::raw::c_int,
    id: u32,
    kind: ControlType,
    value: i64,
) -> io::Result<()> {
    // SAFETY: plain C structs, valid as all zeroes (see get_control_value).
    let mut control: v4l::v4l_sys::v4l2_ext_control = unsafe { std::mem::zeroed() };
    control.id = id;
    if kind == ControlType::Integer64 {
        control.__bindgen_anon_1.value64 = value;
    } else if kind == ControlType::Bitmask {
        let bits = u32::try_from(value)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bitmask beyond 32 bits"))?;
        // The kernel reads a bitmask's 32 bits from the signed field.
        control.__bindgen_anon_1.value = bits as i32;
    } else {
        control.__bindgen_anon_1.value = i32::try_from(value)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value beyond 32 bits"))?;
    }
    ext_control_ioctl(fd, v4l::v4l2::vidioc::VIDIOC_S_EXT_CTRLS, &mut control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_mjpeg_then_packed_then_planar() {
        let fourcc = |l: Layout| l.fourcc();
        let (mjpg, yuyv, uyvy, nv12, yu12) = (
            fourcc(Layout::Mjpeg),
            fourcc(Layout::Yuyv),
            fourcc(Layout::Uyvy),
            fourcc(Layout::Nv12),
            fourcc(Layout::Yu12),
        );
        let rgb = FourCC::new(b"RGB3");
        let auto = FormatChoice::Auto;
        assert_eq!(choose_layout(auto, &[yuyv, mjpg]), Ok(Layout::Mjpeg));
        assert_eq!(choose_layout(auto, &[nv12, yuyv]), Ok(Layout::Yuyv));
        assert_eq!(choose_layout(auto, &[yu12, nv12, uyvy]), Ok(Layout::Uyvy));
        assert_eq!(choose_layout(auto, &[rgb, yu12, nv12]), Ok(Layout::Nv12));
        assert_eq!(choose_layout(auto, &[rgb, yu12]), Ok(Layout::Yu12));
        let why = choose_layout(auto, &[rgb]).unwrap_err();
        assert!(why.contains("MJPEG") && why.contains("NV12"), "{why}");
        let why = choose_layout(FormatChoice::Only(Layout::Mjpeg), &[yuyv]).unwrap_err();
        assert!(why.contains("--format mjpeg"), "{why}");
        assert_eq!(
            choose_layout(FormatChoice::Only(Layout::Yuyv), &[mjpg, yuyv]),
            Ok(Layout::Yuyv)
        );
    }

    #[test]
    fn fourcc_names_print_like_v4l2_ctl() {
        assert_eq!(fourcc_name(Layout::Yuyv.fourcc()), "YUYV");
        assert_eq!(
            fourcc_name(FourCC::new(&[b'Y', b'1', b'6', b' ' | 0x80])),
            "Y16 -BE"
        );
        assert_eq!(fourcc_name(FourCC::new(b"GREY")), "GREY");
    }

    #[test]
    fn format_names_parse() {
        assert_eq!("MJPG".parse(), Ok(FormatChoice::Only(Layout::Mjpeg)));
        assert_eq!("auto".parse(), Ok(FormatChoice::Auto));
        assert_eq!("i420".parse(), Ok(FormatChoice::Only(Layout::Yu12)));
        assert_eq!("NV12".parse(), Ok(FormatChoice::Only(Layout::Nv12)));
        assert_eq!("uyvy".parse(), Ok(FormatChoice::Only(Layout::Uyvy)));
        assert!("h264".parse::<FormatChoice>().is_err());
    }

    #[test]
    fn a_missing_device_is_a_clear_open_error() {
        let req = CameraRequest {
            device: "/dev/video-campub-test-missing".into(),
            format: FormatChoice::Auto,
            width_px: 640,
            height_px: 480,
            fps: 30,
            controls: vec![],
        };
        let err = V4l2Source::open(&req).err().unwrap().to_string();
        assert!(
            err.contains("cannot open /dev/video-campub-test-missing"),
            "{err}"
        );
    }

    #[test]
    fn recent_monotonic_timestamps_map_to_now() {
        let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let ts = v4l::timestamp::Timestamp::new(mono.tv_sec as _, (mono.tv_nsec / 1000) as _);
        let unix = monotonic_to_unix_ns(ts).unwrap();
        let now = camwire::unix_time_ns();
        assert!(now >= unix && now - unix < 1_000_000_000);
        assert_eq!(
            monotonic_to_unix_ns(v4l::timestamp::Timestamp::new(0, 0)),
            None
        );
    }
}
