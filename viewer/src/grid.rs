//! The grid's geometry: how many columns and rows several streams take, and each tile's
//! rectangle in the output (or the one maximised tile's).

use sdl2::rect::Rect;

/// Columns and rows for `tiles` tiles: near-square, wider than tall (2 -> 2x1, 3-4 -> 2x2,
/// 5-6 -> 3x2, 7-9 -> 3x3).
pub fn shape(tiles: usize) -> (usize, usize) {
    let tiles = tiles.max(1);
    let mut columns = 1;
    while columns * columns < tiles {
        columns += 1;
    }
    (columns, tiles.div_ceil(columns))
}

/// Each tile's rectangle in an output of `out_w` x `out_h` pixels, in reading order; with
/// `maximised`, only that tile, filling the output. Neighbouring tiles share no pixel and
/// leave none out.
pub fn areas(
    tiles: usize,
    maximised: Option<usize>,
    (out_w, out_h): (u32, u32),
) -> Vec<(usize, Rect)> {
    let (out_w, out_h) = (out_w.max(1), out_h.max(1));
    if let Some(tile) = maximised.filter(|&t| t < tiles) {
        return vec![(tile, Rect::new(0, 0, out_w, out_h))];
    }
    let (columns, rows) = shape(tiles);
    // Boundaries at i * size / count: the remainder spreads over the tiles.
    let edge =
        |i: usize, count: usize, size: u32| (i as u64 * u64::from(size) / count as u64) as u32;
    (0..tiles)
        .map(|tile| {
            let (column, row) = (tile % columns, tile / columns);
            let (x0, x1) = (
                edge(column, columns, out_w),
                edge(column + 1, columns, out_w),
            );
            let (y0, y1) = (edge(row, rows, out_h), edge(row + 1, rows, out_h));
            let rect = Rect::new(x0 as i32, y0 as i32, (x1 - x0).max(1), (y1 - y0).max(1));
            (tile, rect)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_near_square() {
        let shapes: Vec<_> = (1..=10).map(shape).collect();
        assert_eq!(
            shapes,
            [
                (1, 1),
                (2, 1),
                (2, 2),
                (2, 2),
                (3, 2),
                (3, 2),
                (3, 3),
                (3, 3),
                (3, 3),
                (4, 3)
            ]
        );
    }

    #[test]
    fn areas_tile_the_output_exactly() {
        let four = areas(4, None, (961, 541));
        assert_eq!(four[0], (0, Rect::new(0, 0, 480, 270)));
        assert_eq!(four[3], (3, Rect::new(480, 270, 481, 271)));
        let covered: u32 = four.iter().map(|(_, r)| r.width() * r.height()).sum();
        assert_eq!(covered, 961 * 541);
        // Three tiles in a 2x2 grid: the fourth place stays empty.
        let three = areas(3, None, (800, 600));
        assert_eq!(three[2], (2, Rect::new(0, 300, 400, 300)));
    }

    #[test]
    fn a_maximised_tile_fills_the_output_and_a_bad_one_is_ignored() {
        assert_eq!(
            areas(4, Some(2), (800, 600)),
            [(2, Rect::new(0, 0, 800, 600))]
        );
        assert_eq!(areas(4, Some(7), (800, 600)).len(), 4);
    }
}
