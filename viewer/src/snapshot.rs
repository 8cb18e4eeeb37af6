//! Files camview writes: the current frame's original JPEG (the `s` key) and PNG screenshots.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::render::RgbImage;

/// Names tried per save before giving up (`name.jpg`, `name-2.jpg`, ...).
const MAX_NAME_ATTEMPTS: u32 = 100;

/// `camview-<stream>-<seq>` for native frames, `camview-<format>-<unix ms>` for the others.
pub fn jpeg_file_stem(
    stream: &str,
    seq: Option<u64>,
    fallback_label: &str,
    unix_ms: u64,
) -> String {
    let label: String = if stream.is_empty() {
        fallback_label
    } else {
        stream
    }
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        }
    })
    .collect();
    match seq {
        Some(seq) => format!("camview-{label}-{seq}"),
        None => format!("camview-{label}-{unix_ms}"),
    }
}

/// Writes `jpeg` to `<dir>/<stem>.jpg`, never overwriting: returns the path written.
pub fn save_jpeg(dir: &Path, stem: &str, jpeg: &[u8]) -> Result<PathBuf, Error> {
    for attempt in 1..=MAX_NAME_ATTEMPTS {
        let name = if attempt == 1 {
            format!("{stem}.jpg")
        } else {
            format!("{stem}-{attempt}.jpg")
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                return file
                    .write_all(jpeg)
                    .map(|()| path.clone())
                    .map_err(|e| write_error(&path, e));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_error(&path, e)),
        }
    }
    Err(Error::Write {
        path: dir.join(format!("{stem}.jpg")),
        reason: "too many files with this name".into(),
    })
}

/// Writes an 8-bit RGB PNG.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), Error> {
    let file = File::create(path).map_err(|e| write_error(path, e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), image.width_px, image.height_px);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| write_error(path, e))?;
    writer
        .write_image_data(&image.rgb)
        .map_err(|e| write_error(path, e))?;
    writer.finish().map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("camview-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn file_names_say_stream_and_sequence() {
        assert_eq!(jpeg_file_stem("cam", Some(42), "x", 7), "camview-cam-42");
        assert_eq!(
            jpeg_file_stem("", None, "tutorial base64", 1700),
            "camview-tutorial_base64-1700"
        );
    }

    #[test]
    fn saving_never_overwrites() {
        let dir = temp_dir("save");
        let first = save_jpeg(&dir, "camview-cam-1", b"one").unwrap();
        let second = save_jpeg(&dir, "camview-cam-1", b"two").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn png_round_trips() {
        let dir = temp_dir("png");
        let path = dir.join("shot.png");
        let image = RgbImage {
            width_px: 2,
            height_px: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        };
        write_png(&path, &image).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(&buf[..6], &image.rgb[..]);
        std::fs::remove_dir_all(dir).unwrap();
        assert!(write_png(Path::new("/nonexistent-dir/x.png"), &image).is_err());
    }
}
