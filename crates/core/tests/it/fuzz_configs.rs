//! Thousands of mutated config documents: the loader never panics, and every problem names its
//! file and either a field or a line.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use stackperf_core::config::Registry;

/// SplitMix64, so the mutations are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!str ",
    "'",
    "\"",
    "\n",
    "\n  ",
    "#",
    "---\n",
    "? ",
    "|\n",
    ">\n",
    "{{ ",
    " }}",
    "{{ model_alias }}",
    "~",
    "null",
    "true",
    "1e999",
    "-1",
    "0x1F",
    "\t",
    "\u{feff}",
    "é",
    "\0",
    "%YAML 1.2\n",
    "models:",
    "name:",
    "variants:",
    "benchmark_tags:",
    "files:",
    "  - ",
    "<<: *a\n",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(6) {
            0 if !s.is_empty() => {
                let end = (at + 1 + rng.below(12)).min(s.len());
                s.drain(at.min(s.len())..end);
            }
            1 => {
                let frag = FRAGMENTS[rng.below(FRAGMENTS.len())];
                s.splice(at..at, frag.chars());
            }
            2 if !s.is_empty() => {
                let i = rng.below(s.len());
                s[i] = char::from_u32((rng.next() % 0x80) as u32).unwrap_or('x');
            }
            3 => {
                // Duplicate a slice (repeated keys, deeper nesting).
                let start = rng.below(s.len() + 1);
                let end = (start + rng.below(40)).min(s.len());
                let piece: Vec<char> = s[start..end].to_vec();
                s.splice(at..at, piece);
            }
            4 => {
                // Swap two lines.
                let mut lines: Vec<String> = s
                    .iter()
                    .collect::<String>()
                    .lines()
                    .map(str::to_string)
                    .collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n").chars().collect();
            }
            _ => {
                // Re-indent a line.
                let text: String = s.iter().collect();
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    lines[i] = format!("{}{}", " ".repeat(rng.below(6)), lines[i].trim_start());
                }
                s = lines.join("\n").chars().collect();
            }
        }
    }
    s.into_iter().collect()
}

fn shipped_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut out = Vec::new();
    for sub in [
        "providers",
        "harnesses",
        "variants",
        "experiments",
        "task-cards",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            out.push((
                format!("{sub}/{}", f.file_name().unwrap().to_string_lossy()),
                std::fs::read_to_string(&f).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn thousands_of_mutated_configs_never_panic_and_every_problem_names_file_and_field() {
    let files = shipped_files();
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in &files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut rng = Rng(0x5eed);
    let iterations = 3000;
    let mut with_problems = 0;
    for i in 0..iterations {
        let (rel, original) = &files[rng.below(files.len())];
        let mutated = mutate(&mut rng, original);
        let path = dir.path().join(rel);
        std::fs::write(&path, &mutated).unwrap();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| Registry::load(dir.path())));
        let (_, problems) =
            result.unwrap_or_else(|_| panic!("iteration {i}: panic on {rel}:\n{mutated}"));
        for p in &problems {
            assert!(
                !p.file.as_os_str().is_empty(),
                "iteration {i}: problem without a file: {p}"
            );
            assert!(
                p.line.is_some() || !p.field.is_empty(),
                "iteration {i}: problem names neither field nor line: {p}\n{mutated}"
            );
            assert!(
                !p.fix.is_empty(),
                "iteration {i}: problem without a fix: {p}"
            );
        }
        if !problems.is_empty() {
            with_problems += 1;
        }
        std::fs::write(&path, original).unwrap();
    }
    // The mutations must actually break things, or this test proves nothing.
    assert!(
        with_problems > iterations / 3,
        "only {with_problems} of {iterations} mutations were rejected"
    );
}
