//! Rotate and flip: `--rotate 0|90|180|270`, `--hflip`, `--vflip` as one transform of the
//! picture, applied to the scaled 4:2:0 planes just before they are encoded (so on 640-wide
//! planes, not the camera's full frame), or losslessly to a camera JPEG that is passed through
//! (`turbojpeg`'s transform, on the DCT coefficients).
//!
//! Semantics: the picture is flipped as asked, then rotated clockwise. Every combination is one
//! of the eight symmetries of a rectangle, kept here as flips followed by an optional transpose
//! (mirror along the main diagonal): a clockwise quarter turn is a vertical flip then a transpose.

use turbojpeg::TransformOp;

use crate::frame::{Plane, PlaneRef, YuvPlanes, YuvRef};

/// A clockwise rotation the options accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    #[default]
    R0,
    R90,
    R180,
    R270,
}

impl std::str::FromStr for Rotation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "0" => Ok(Rotation::R0),
            "90" => Ok(Rotation::R90),
            "180" => Ok(Rotation::R180),
            "270" => Ok(Rotation::R270),
            other => Err(format!(
                "rotation {other:?}: expected 0, 90, 180 or 270 (degrees clockwise)"
            )),
        }
    }
}

/// Flips, then (when `transpose`) a mirror along the main diagonal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orientation {
    pub hflip: bool,
    pub vflip: bool,
    pub transpose: bool,
}

impl Orientation {
    /// The picture flipped as asked, then rotated clockwise by `rotation`.
    pub fn new(rotation: Rotation, hflip: bool, vflip: bool) -> Self {
        let (h, v) = (hflip, vflip);
        let (hflip, vflip, transpose) = match rotation {
            Rotation::R0 => (h, v, false),
            // Quarter turn clockwise: out(x, y) = in(y, H-1-x), a vertical flip then transpose.
            Rotation::R90 => (h, !v, true),
            Rotation::R180 => (!h, !v, false),
            // Quarter turn anticlockwise: out(x, y) = in(W-1-y, x), a horizontal flip then
            // transpose.
            Rotation::R270 => (!h, v, true),
        };
        Self {
            hflip,
            vflip,
            transpose,
        }
    }

    pub fn is_identity(self) -> bool {
        self == Self::default()
    }

    /// The size of a `width_px` x `height_px` picture once oriented.
    pub fn oriented_size<T>(self, width_px: T, height_px: T) -> (T, T) {
        if self.transpose {
            (height_px, width_px)
        } else {
            (width_px, height_px)
        }
    }

    /// The same transform without its flips (what is left for campub when a camera's ISP
    /// flips).
    pub fn without_flips(self) -> Self {
        Self {
            transpose: self.transpose,
            ..Self::default()
        }
    }

    /// libjpeg-turbo's lossless transform that does the same to a JPEG.
    pub fn transform_op(self) -> TransformOp {
        match (self.hflip, self.vflip, self.transpose) {
            (false, false, false) => TransformOp::None,
            (true, false, false) => TransformOp::Hflip,
            (false, true, false) => TransformOp::Vflip,
            (true, true, false) => TransformOp::Rot180,
            (false, false, true) => TransformOp::Transpose,
            (false, true, true) => TransformOp::Rot90,
            (true, false, true) => TransformOp::Rot270,
            (true, true, true) => TransformOp::Transverse,
        }
    }

    /// Where the pixel at (`x`, `y`) of a `w` x `h` picture goes.
    pub fn map(self, (x, y): (usize, usize), (w, h): (usize, usize)) -> (usize, usize) {
        let fx = if self.hflip { w - 1 - x } else { x };
        let fy = if self.vflip { h - 1 - y } else { y };
        if self.transpose {
            (fy, fx)
        } else {
            (fx, fy)
        }
    }
}

/// Orients 4:2:0 planes into planes of its own, reused from frame to frame.
#[derive(Debug, Default)]
pub struct Orienter {
    out: YuvPlanes,
}

impl Orienter {
    /// `src` (4:2:0, even size: what the scaler makes) oriented by `orientation`.
    pub fn apply<'a>(&'a mut self, orientation: Orientation, src: YuvRef<'_>) -> YuvRef<'a> {
        Self::apply_into(&mut self.out, orientation, src)
    }

    /// [`Orienter::apply`] into `out`.
    pub fn apply_into<'a>(
        out: &'a mut YuvPlanes,
        orientation: Orientation,
        src: YuvRef<'_>,
    ) -> YuvRef<'a> {
        let (w, h) = (src.width_px, src.height_px);
        let (ow, oh) = orientation.oriented_size(w, h);
        out.reshape(ow, oh, turbojpeg::Subsamp::Sub2x2);
        let chroma = (w.div_ceil(2), h.div_ceil(2));
        orient_plane(src.y, (w, h), orientation, &mut out.y.data, ow);
        let chroma_stride = out.u.width_px;
        orient_plane(src.u, chroma, orientation, &mut out.u.data, chroma_stride);
        orient_plane(src.v, chroma, orientation, &mut out.v.data, chroma_stride);
        out.as_ref()
    }
}

/// Mirrors the visible `w` x `h` of `plane` in place: both flips (180) reverse the whole plane
/// when its rows have no padding, hflip reverses each row, vflip swaps rows top for bottom.
/// `slice::reverse` and `swap_with_slice` are vectorised by the standard library.
pub fn flip_in_place(plane: &mut Plane, (w, h): (usize, usize), hflip: bool, vflip: bool) {
    let stride = plane.width_px;
    if w == 0 || h == 0 || stride < w || plane.data.len() < stride * h {
        return;
    }
    let data = &mut plane.data[..stride * h];
    if hflip && vflip && stride == w {
        data.reverse();
        return;
    }
    if vflip {
        let (top, bottom) = data.split_at_mut(stride * (h / 2));
        let bottom_rows = bottom.chunks_exact_mut(stride).rev();
        for (a, b) in top.chunks_exact_mut(stride).zip(bottom_rows) {
            a[..w].swap_with_slice(&mut b[..w]);
        }
    }
    if hflip {
        for row in data.chunks_exact_mut(stride) {
            row[..w].reverse();
        }
    }
}

/// Side of the square tiles a transpose works in: a tile's source rows and destination rows
/// stay in the L1 cache (16 x 16 bytes: 16 cache lines each way).
const TILE: usize = 16;

/// The visible `w` x `h` of `src` into `dst` (rows of `dst_stride` bytes), oriented.
pub fn orient_plane(
    src: PlaneRef<'_>,
    (w, h): (usize, usize),
    o: Orientation,
    dst: &mut [u8],
    dst_stride: usize,
) {
    let stride = src.width_px;
    if w == 0 || h == 0 {
        return;
    }
    if !o.transpose {
        for (y, row) in src.data.chunks(stride).take(h).enumerate() {
            let out_y = if o.vflip { h - 1 - y } else { y };
            let out = &mut dst[out_y * dst_stride..][..w];
            if o.hflip {
                // Reversed copy: the compiler makes vector shuffles of it.
                for (d, s) in out.iter_mut().zip(row[..w].iter().rev()) {
                    *d = *s;
                }
            } else {
                out.copy_from_slice(&row[..w]);
            }
        }
        return;
    }
    for tile_y in (0..h).step_by(TILE) {
        for tile_x in (0..w).step_by(TILE) {
            for y in tile_y..(tile_y + TILE).min(h) {
                let row = &src.data[y * stride..][..w];
                let out_x = if o.vflip { h - 1 - y } else { y };
                for (x, &px) in row.iter().enumerate().skip(tile_x).take(TILE) {
                    let out_y = if o.hflip { w - 1 - x } else { x };
                    dst[out_y * dst_stride + out_x] = px;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turbojpeg::Subsamp;

    /// A w x h 4:2:0 picture whose every sample is distinct in luma (y * w + x mod 251) and
    /// whose chroma encodes its position too.
    fn picture(w: usize, h: usize) -> YuvPlanes {
        let mut p = YuvPlanes::default();
        p.reshape(w, h, Subsamp::Sub2x2);
        for (i, px) in p.y.data.iter_mut().enumerate() {
            *px = (i % 251) as u8;
        }
        for (i, px) in p.u.data.iter_mut().enumerate() {
            *px = (i * 7 % 253) as u8;
        }
        for (i, px) in p.v.data.iter_mut().enumerate() {
            *px = (i * 3 % 241) as u8;
        }
        p
    }

    fn at(plane: PlaneRef<'_>, (x, y): (usize, usize)) -> u8 {
        plane.data[y * plane.width_px + x]
    }

    fn all() -> Vec<Orientation> {
        let mut all = Vec::new();
        for rotation in [Rotation::R0, Rotation::R90, Rotation::R180, Rotation::R270] {
            for hflip in [false, true] {
                for vflip in [false, true] {
                    all.push(Orientation::new(rotation, hflip, vflip));
                }
            }
        }
        all
    }

    #[test]
    fn every_sample_lands_where_the_orientation_maps_it() {
        // Sizes that are not multiples of the tile, and wide and tall pictures.
        for (w, h) in [(40, 22), (18, 36), (2, 2)] {
            let src = picture(w, h);
            for o in all() {
                let mut orienter = Orienter::default();
                let out = orienter.apply(o, src.as_ref());
                assert_eq!((out.width_px, out.height_px), o.oriented_size(w, h));
                for y in 0..h {
                    for x in 0..w {
                        let (ox, oy) = o.map((x, y), (w, h));
                        assert_eq!(at(out.y, (ox, oy)), at(src.y.as_ref(), (x, y)), "{o:?}");
                    }
                }
                for y in 0..h / 2 {
                    for x in 0..w / 2 {
                        let (ox, oy) = o.map((x, y), (w / 2, h / 2));
                        assert_eq!(at(out.u, (ox, oy)), at(src.u.as_ref(), (x, y)), "{o:?}");
                        assert_eq!(at(out.v, (ox, oy)), at(src.v.as_ref(), (x, y)), "{o:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn flips_in_place_match_the_copy() {
        for (w, h) in [(40, 22), (18, 36), (6, 2)] {
            let src = picture(w, h);
            for (hflip, vflip) in [(true, false), (false, true), (true, true)] {
                let o = Orientation {
                    hflip,
                    vflip,
                    transpose: false,
                };
                let mut copy = Orienter::default();
                let want = copy.apply(o, src.as_ref()).y.data.to_vec();
                let mut plane = src.y.clone();
                flip_in_place(&mut plane, (w, h), hflip, vflip);
                assert_eq!(plane.data, want, "{w}x{h} h{hflip} v{vflip}");
                // With row padding (stride 48 for 40 wide): only the visible part moves.
                let mut padded = Plane::default();
                padded.reshape(w + 8, h);
                for (row, src_row) in padded
                    .data
                    .chunks_exact_mut(w + 8)
                    .zip(src.y.data.chunks(w))
                {
                    row[..w].copy_from_slice(src_row);
                    row[w..].fill(0xEE);
                }
                flip_in_place(&mut padded, (w, h), hflip, vflip);
                for (row, want_row) in padded.data.chunks_exact(w + 8).zip(want.chunks(w)) {
                    assert_eq!(&row[..w], want_row);
                    assert!(row[w..].iter().all(|&b| b == 0xEE));
                }
            }
        }
    }

    #[test]
    fn rotations_move_the_corners_clockwise() {
        let (w, h) = (4, 2);
        // Top-left goes to: top-right (90), bottom-right (180), bottom-left (270).
        let tl = (0, 0);
        let r90 = Orientation::new(Rotation::R90, false, false);
        assert_eq!(r90.map(tl, (w, h)), (h - 1, 0));
        let r180 = Orientation::new(Rotation::R180, false, false);
        assert_eq!(r180.map(tl, (w, h)), (w - 1, h - 1));
        let r270 = Orientation::new(Rotation::R270, false, false);
        assert_eq!(r270.map(tl, (w, h)), (0, w - 1));
        // Flipped first, then turned: hflip + 90 sends top-left to bottom-right.
        let h90 = Orientation::new(Rotation::R90, true, false);
        assert_eq!(h90.map(tl, (w, h)), (h - 1, w - 1));
        // 180 with both flips is no change at all.
        assert!(Orientation::new(Rotation::R180, true, true).is_identity());
    }

    #[test]
    fn every_orientation_has_its_own_lossless_transform() {
        let ops: Vec<TransformOp> = all().into_iter().map(Orientation::transform_op).collect();
        let mut distinct = ops.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "{ops:?}");
        assert_eq!(
            Orientation::new(Rotation::R90, false, false).transform_op(),
            TransformOp::Rot90
        );
        assert_eq!(
            Orientation::new(Rotation::R270, false, false).transform_op(),
            TransformOp::Rot270
        );
    }

    #[test]
    fn rotation_values_parse() {
        assert_eq!("270".parse(), Ok(Rotation::R270));
        let why = "45".parse::<Rotation>().unwrap_err();
        assert!(why.contains("0, 90, 180 or 270"), "{why}");
    }
}
