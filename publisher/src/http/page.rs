//! What the HTTP server writes besides frames: the `/` page (inline, no files) and the
//! `/metrics` text (prometheus-client's OpenMetrics encoder).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::feed::Figures;
use super::serve::Live;

/// The live picture and, once a second, the figures of /status. Relative URLs, so it works
/// behind a reverse proxy's path prefix too.
pub const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>campub</title>
<style>
body { margin: 0; background: #111; color: #ddd; font: 14px/1.4 system-ui, sans-serif; }
img { display: block; width: 100%; max-width: 100vw; max-height: 85vh; object-fit: contain; background: #000; }
#figures { padding: 0.5em 0.8em; font-variant-numeric: tabular-nums; }
#figures.failed { color: #f66; }
</style>
</head>
<body>
<img id="picture" src="stream" alt="live picture">
<div id="figures">connecting&hellip;</div>
<script>
const figures = document.getElementById("figures");
// Relative to the page without the user:password@ a URL may carry: fetch() refuses those, and
// the browser sends the login it has for this origin anyway.
const statusUrl = new URL("status", location.origin + location.pathname);
function failed(text) {
  figures.textContent = text;
  figures.className = "failed";
}
async function refresh() {
  try {
    const response = await fetch(statusUrl, { cache: "no-store" });
    if (!response.ok) { failed("status: HTTP " + response.status); return; }
    const s = await response.json();
    const subscribers = s.zmq_subscribers === null ? "?" : s.zmq_subscribers;
    figures.textContent =
      s.published_fps.toFixed(1) + " fps, " + s.width_px + "x" + s.height_px +
      ", capture-to-send " + s.capture_to_send_ms.toFixed(1) + " ms" +
      ", viewers: " + s.http_streams + " HTTP, " + subscribers + " ZeroMQ" +
      " | " + s.source + " | campub " + s.version;
    figures.className = "";
  } catch (e) {
    failed("status: " + e);
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"#;

/// The figures as OpenMetrics text (counters end in `_total`).
pub fn metrics(figures: &Figures, live: &Live) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("campub");
    let counters = [
        (
            "frames_captured",
            "Frames the source delivered",
            figures.captured_total,
        ),
        (
            "frames_published",
            "Frames encoded and published",
            figures.published_total,
        ),
        (
            "frames_dropped_encoder_busy",
            "Frames replaced by a newer one before the encoder took them",
            figures.dropped_encoder_busy_total,
        ),
        (
            "frames_dropped_source",
            "Frames the source itself dropped",
            figures.dropped_source_total,
        ),
        (
            "frames_bad",
            "Frames that could not be published",
            figures.bad_frames_total,
        ),
        (
            "published_bytes",
            "JPEG bytes published",
            figures.bytes_published_total,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    let gauges = [
        (
            "captured_fps",
            "Frames captured per second, last second",
            figures.captured_fps,
        ),
        (
            "published_fps",
            "Frames published per second, last second",
            figures.published_fps,
        ),
        (
            "capture_to_send_milliseconds",
            "Mean capture-to-send time, last second",
            figures.capture_to_send_ms,
        ),
        (
            "uptime_seconds",
            "Seconds since the HTTP server started",
            live.uptime_s,
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, ConstGauge::new(value));
    }
    let counts = [
        (
            "width_pixels",
            "Width of the published picture",
            i64::from(figures.width_px),
        ),
        (
            "height_pixels",
            "Height of the published picture",
            i64::from(figures.height_px),
        ),
        (
            "http_clients",
            "HTTP requests being served (streams included)",
            i64::try_from(live.http_clients).unwrap_or(i64::MAX),
        ),
        (
            "http_streams",
            "HTTP /stream clients",
            i64::try_from(live.http_streams).unwrap_or(i64::MAX),
        ),
    ];
    for (name, help, value) in counts {
        registry.register(name, help, ConstGauge::new(value));
    }
    registry.register(
        "idle",
        "1 while nobody watches (capturing without encoding), else 0",
        ConstGauge::new(i64::from(figures.idle)),
    );
    if let Some(subscribers) = figures.zmq_subscribers {
        registry.register(
            "zmq_subscribers",
            "ZeroMQ subscribers connected",
            ConstGauge::new(i64::try_from(subscribers).unwrap_or(i64::MAX)),
        );
    }
    registry.register(
        "build",
        "campub's version",
        Info::new(vec![(
            "version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        )]),
    );
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}
