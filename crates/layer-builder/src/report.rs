//! The table printed after `cargo xtask package` and `cargo xtask layer`.

use crate::build::Built;

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Artifact name (`sample-hello`, `runtime`).
    pub artifact: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Zip size in bytes.
    pub zip_size: u64,
    /// Unzipped size in bytes.
    pub unzipped_size: u64,
    /// SHA-256 of the zip, hex.
    pub sha256: String,
    /// `written`, `unchanged` or `verified`.
    pub status: String,
}

impl From<&Built> for Row {
    fn from(built: &Built) -> Self {
        Row {
            artifact: built.manifest.artifact.clone(),
            architecture: built.manifest.architecture.to_string(),
            zip_size: built.manifest.zip_size,
            unzipped_size: built.manifest.unzipped_size,
            sha256: built.manifest.zip_sha256.clone(),
            status: built.status.as_str().to_owned(),
        }
    }
}

/// Renders rows as an aligned text table with a header; sizes are bytes
/// with thousands separators, right-aligned.
pub fn render_table(rows: &[Row]) -> String {
    let header = ["artifact", "arch", "zipped", "unzipped", "sha256", "status"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.artifact.clone(),
                row.architecture.clone(),
                thousands(row.zip_size),
                thousands(row.unzipped_size),
                row.sha256.clone(),
                row.status.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let right_aligned = [false, false, true, true, false, false];
    let render = |line: &[String]| {
        let mut out = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right_aligned[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < line.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push('\n');
        out
    };
    let mut out = render(&header.map(str::to_owned));
    for line in &cells {
        out.push_str(&render(line));
    }
    out
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rendering() {
        let rows = [
            Row {
                artifact: "sample-hello".into(),
                architecture: "x86_64".into(),
                zip_size: 412_345,
                unzipped_size: 1_034_552,
                sha256: "0b4f".repeat(16),
                status: "written".into(),
            },
            Row {
                artifact: "sample-hello".into(),
                architecture: "arm64".into(),
                zip_size: 398,
                unzipped_size: 0,
                sha256: "e3b0".repeat(16),
                status: "unchanged".into(),
            },
        ];
        insta::assert_snapshot!(render_table(&rows));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(52_428_800), "52,428,800");
    }
}
