//! A minimal aligned text table: columns sized to their widest cell, section
//! titles interleaved with rows.

pub enum Line {
    Title(String),
    Cells(Vec<String>),
}

#[derive(Default)]
pub struct Table {
    lines: Vec<Line>,
    /// Columns to right-align (counts); the rest are left-aligned.
    right: Vec<bool>,
}

impl Table {
    pub fn new(header: Vec<String>, right: Vec<bool>) -> Table {
        Table {
            lines: vec![Line::Cells(header)],
            right,
        }
    }

    pub fn title(&mut self, t: impl Into<String>) {
        self.lines.push(Line::Title(t.into()));
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Cells(cells));
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for line in &self.lines {
            if let Line::Cells(cells) = line {
                for (i, c) in cells.iter().enumerate() {
                    let w = c.chars().count();
                    if i >= widths.len() {
                        widths.push(w);
                    } else {
                        widths[i] = widths[i].max(w);
                    }
                }
            }
        }
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Title(t) => out.push_str(t),
                Line::Cells(cells) => {
                    let mut s = String::new();
                    for (i, c) in cells.iter().enumerate() {
                        if i > 0 {
                            s.push_str("  ");
                        }
                        let w = widths[i];
                        if self.right.get(i).copied().unwrap_or(false) {
                            s.push_str(&format!("{c:>w$}"));
                        } else {
                            s.push_str(&format!("{c:<w$}"));
                        }
                    }
                    out.push_str(s.trim_end());
                }
            }
            out.push('\n');
        }
        out
    }
}
