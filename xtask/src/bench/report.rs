//! The benchmark report: medians with spread, side by side with the peer, as markdown.

use std::fmt::Write as _;

/// The values one measurement took over several runs.
#[derive(Debug, Default, Clone)]
pub struct Stats(Vec<f64>);

impl Stats {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut values = self.0.clone();
        values.sort_by(f64::total_cmp);
        values
    }

    /// The median; the mean of the two middle values for an even count. NaN when empty.
    pub fn median(&self) -> f64 {
        let values = self.sorted();
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    fn spread(&self) -> Option<(f64, f64)> {
        let values = self.sorted();
        (values.len() > 1).then(|| (values[0], values[values.len() - 1]))
    }
}

impl From<f64> for Stats {
    fn from(value: f64) -> Self {
        Stats(vec![value])
    }
}

/// One metric: lamina's values and the peer's.
pub struct Row {
    metric: String,
    unit: &'static str,
    lamina: Stats,
    peer: Stats,
    /// The physical limit of the same work, measured in the same run, when there is one.
    limit: Option<Stats>,
    higher_is_better: bool,
}

impl Row {
    /// A metric where more is better (throughput).
    pub fn higher(metric: &str, unit: &'static str, (lamina, peer): (Stats, Stats)) -> Row {
        Row {
            metric: metric.into(),
            unit,
            lamina,
            peer,
            limit: None,
            higher_is_better: true,
        }
    }

    /// The same metric with the physical limit measured beside it; the report adds lamina's
    /// share of it.
    pub fn with_limit(mut self, limit: Stats) -> Row {
        self.limit = Some(limit);
        self
    }

    /// A metric where less is better (latency, memory, size).
    pub fn lower(metric: &str, unit: &'static str, (lamina, peer): (Stats, Stats)) -> Row {
        Row {
            metric: metric.into(),
            unit,
            lamina,
            peer,
            limit: None,
            higher_is_better: false,
        }
    }
}

/// A group of metrics against one peer.
pub struct Section {
    pub title: String,
    pub lamina: String,
    pub peer: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// The whole report.
pub struct Report {
    runs: usize,
    invocations: usize,
    sections: Vec<Section>,
    machine: String,
    date: String,
}

impl Report {
    pub fn new(runs: usize, invocations: usize) -> Report {
        Report {
            runs,
            invocations,
            sections: Vec::new(),
            machine: machine(),
            date: today(),
        }
    }

    pub fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# lamina benchmark report\n");
        let _ = writeln!(
            out,
            "Measured {} on {}. Each figure is the median of {} runs, with the range (min–max) \
             below it; throughput runs make {} warm invocations. The ratio is lamina ÷ peer; \
             the arrow says which way is better. Regenerate with `cargo xtask bench`.",
            self.date, self.machine, self.runs, self.invocations
        );
        for section in &self.sections {
            render_section(&mut out, section);
        }
        out
    }
}

fn render_section(out: &mut String, section: &Section) {
    let _ = writeln!(out, "\n## {}\n", section.title);
    let _ = writeln!(out, "lamina: {} · peer: {}\n", section.lamina, section.peer);
    let limits = section.rows.iter().any(|row| row.limit.is_some());
    if limits {
        let _ = writeln!(
            out,
            "| metric | lamina | peer | lamina ÷ peer | physical limit | lamina ÷ limit |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(out, "| metric | lamina | peer | lamina ÷ peer |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
    }
    for row in &section.rows {
        let ratio = row.lamina.median() / row.peer.median();
        let arrow = if row.higher_is_better {
            "↑ better"
        } else {
            "↓ better"
        };
        let limit = match (&row.limit, limits) {
            (Some(limit), _) => format!(
                " {} | {} |",
                cell(limit, row.unit),
                number(row.lamina.median() / limit.median(), 2)
            ),
            (None, true) => " | |".to_string(),
            (None, false) => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({arrow}) |{limit}",
            row.metric,
            cell(&row.lamina, row.unit),
            cell(&row.peer, row.unit),
            number(ratio, 2)
        );
    }
    if !section.notes.is_empty() {
        out.push('\n');
        for note in &section.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
}

fn cell(stats: &Stats, unit: &str) -> String {
    let decimals = if stats.median().abs() < 10.0 { 2 } else { 0 };
    let median = number(stats.median(), decimals);
    match stats.spread() {
        Some((min, max)) => {
            format!(
                "{median} {unit}<br><sub>{}–{}</sub>",
                number(min, decimals),
                number(max, decimals)
            )
        }
        None => format!("{median} {unit}"),
    }
}

/// `1234567.8` → `1,234,568`; NaN and infinities as `n/a`.
fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores, Linux {}", std::env::consts::ARCH)
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "on an unknown date".into(), |d| d.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let mut s = Stats::default();
        for v in [5.0, 1.0, 3.0] {
            s.push(v);
        }
        assert_eq!(s.median(), 3.0);
        s.push(4.0);
        assert_eq!(s.median(), 3.5);
        assert!(Stats::default().median().is_nan());
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(1234567.8, 0), "1,234,568");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(1.234, 2), "1.23");
        assert_eq!(number(-4321.0, 0), "-4,321");
        assert_eq!(number(f64::NAN, 0), "n/a");
    }

    #[test]
    fn section_renders_as_a_table() {
        let mut lamina = Stats::default();
        let mut peer = Stats::default();
        for (a, b) in [
            (10_000.0, 8_000.0),
            (12_000.0, 9_000.0),
            (11_000.0, 8_500.0),
        ] {
            lamina.push(a);
            peer.push(b);
        }
        let section = Section {
            title: "Rust runtime".into(),
            lamina: "ours".into(),
            peer: "theirs".into(),
            rows: vec![
                Row::higher("invocations per second", "inv/s", (lamina, peer)),
                Row::lower(
                    "zip size",
                    "bytes",
                    (Stats::from(250_000.0), Stats::from(1_000_000.0)),
                ),
            ],
            notes: vec!["a note".into()],
        };
        let mut out = String::new();
        render_section(&mut out, &section);
        insta::assert_snapshot!(out);
    }

    #[test]
    fn a_row_with_a_physical_limit_adds_its_columns() {
        let section = Section {
            title: "Emulator".into(),
            lamina: "ours".into(),
            peer: "theirs".into(),
            rows: vec![
                Row::higher(
                    "invocations per second",
                    "inv/s",
                    (Stats::from(3_000.0), Stats::from(600.0)),
                )
                .with_limit(Stats::from(6_000.0)),
                Row::lower(
                    "zip size",
                    "bytes",
                    (Stats::from(250_000.0), Stats::from(1_000_000.0)),
                ),
            ],
            notes: Vec::new(),
        };
        let mut out = String::new();
        render_section(&mut out, &section);
        insta::assert_snapshot!(out);
    }
}
