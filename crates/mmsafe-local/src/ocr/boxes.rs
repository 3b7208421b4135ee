//! DB post-processing: probability map → axis-aligned text boxes, merged per line.

/// A box in image pixels (floating point until the crop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
}

impl TextBox {
    pub fn w(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> f32 {
        self.y1 - self.y0
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    /// Pixel threshold on the probability map.
    pub thresh: f32,
    /// Minimum mean probability inside a box.
    pub box_thresh: f32,
    /// Unclip ratio: each side grows by `area * ratio / perimeter`.
    pub unclip: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip: 1.2,
        }
    }
}

/// Boxes from a `h × w` probability map, in map coordinates.
pub fn db_boxes(prob: &[f32], w: usize, h: usize, p: &DbParams) -> Vec<TextBox> {
    // Binarize, then dilate 2x2 so strokes of one word connect.
    let mut bin = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if prob[y * w + x] > p.thresh {
                bin[y * w + x] = true;
                if x + 1 < w {
                    bin[y * w + x + 1] = true;
                }
                if y + 1 < h {
                    bin[(y + 1) * w + x] = true;
                    if x + 1 < w {
                        bin[(y + 1) * w + x + 1] = true;
                    }
                }
            }
        }
    }
    // 8-connected components with an explicit stack.
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !bin[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let nx = x as i64 + dx;
                    let ny = y as i64 + dy;
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if bin[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let (bw, bh) = (x1 + 1 - x0, y1 + 1 - y0);
        if bw.min(bh) < 3 {
            continue;
        }
        let mut sum = 0f32;
        for y in y0..=y1 {
            sum += prob[y * w + x0..=y * w + x1].iter().sum::<f32>();
        }
        let score = sum / (bw * bh) as f32;
        if score < p.box_thresh {
            continue;
        }
        let (fw, fh) = (bw as f32, bh as f32);
        let d = fw * fh * p.unclip / (2.0 * (fw + fh));
        out.push(TextBox {
            x0: (x0 as f32 - d).max(0.0),
            y0: (y0 as f32 - d).max(0.0),
            x1: (x1 as f32 + 1.0 + d).min(w as f32),
            y1: (y1 as f32 + 1.0 + d).min(h as f32),
            score,
        });
    }
    out
}

/// Merge boxes that sit on one line (large vertical overlap, small gap), then
/// sort in reading order. Big monospace text otherwise splits into words whose
/// overlapping crops misread.
pub fn merge_lines(mut boxes: Vec<TextBox>) -> Vec<TextBox> {
    boxes.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    let mut merged: Vec<TextBox> = Vec::new();
    'next: for b in boxes {
        for m in merged.iter_mut() {
            let overlap = m.y1.min(b.y1) - m.y0.max(b.y0);
            let min_h = m.h().min(b.h());
            let gap = b.x0 - m.x1;
            if overlap > 0.6 * min_h && gap < 0.6 * m.h().max(b.h()) {
                m.x0 = m.x0.min(b.x0);
                m.y0 = m.y0.min(b.y0);
                m.x1 = m.x1.max(b.x1);
                m.y1 = m.y1.max(b.y1);
                m.score = m.score.max(b.score);
                continue 'next;
            }
        }
        merged.push(b);
    }
    reading_order(&mut merged);
    merged
}

/// Top to bottom; boxes whose vertical centres are within half a height count
/// as one row and go left to right.
pub fn reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| a.y0.total_cmp(&b.y0));
    let n = boxes.len();
    for i in 0..n {
        for j in (1..n - i).rev() {
            let (a, b) = (boxes[j - 1], boxes[j]);
            let same_row =
                ((a.y0 + a.y1) / 2.0 - (b.y0 + b.y1) / 2.0).abs() < 0.5 * a.h().min(b.h());
            if same_row && b.x0 < a.x0 {
                boxes.swap(j - 1, j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_on_one_line_merge() {
        let (w, h) = (40, 12);
        let mut prob = vec![0f32; w * h];
        for y in 3..9 {
            for x in 2..12 {
                prob[y * w + x] = 0.9;
            }
            for x in 14..30 {
                prob[y * w + x] = 0.9;
            }
        }
        let boxes = db_boxes(&prob, w, h, &DbParams::default());
        assert_eq!(boxes.len(), 2);
        let lines = merge_lines(boxes);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].x0 < 2.0 && lines[0].x1 > 30.0);
    }
}
