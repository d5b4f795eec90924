//! Fuzz (seeded, reproducible): the CLI's free-text inputs and the capture spool get random
//! bytes, control characters, huge values and broken JSON. Every run must exit 0 or 1 — never a
//! panic (101) or an internal error (2) — and ingest must skip what it cannot read.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use stackperf_e2e::StackEnv;

/// SplitMix64: the same inputs on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Random bytes of a random kind: printable, control characters, invalid UTF-8, huge.
    fn text(&mut self) -> Vec<u8> {
        let len = match self.next() % 6 {
            0 => 0,
            1 => 70_000,
            _ => (self.next() % 300) as usize,
        };
        let kind = self.next() % 4;
        (0..len)
            .map(|_| {
                let b = self.next() as u8;
                match kind {
                    0 => b' ' + b % 95,
                    1 => b % 32,
                    // No NUL: argv cannot hold one.
                    _ => b.max(1),
                }
            })
            .filter(|b| *b != 0)
            .collect()
    }
}

fn assert_clean_exit(o: &std::process::Output, what: &str) {
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{what}: exit {code:?}\n{}",
        String::from_utf8_lossy(&o.stderr)
            .chars()
            .take(2000)
            .collect::<String>()
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{what}: panicked"
    );
}

#[test]
fn free_text_and_spool_lines_never_panic_the_cli() {
    let s = StackEnv::new("fuzz");
    let mut rng = Rng(20261128);
    let sess = s.create_session("sim-profiles", "sim-fast-oai", &[]);

    for i in 0..24 {
        let text = rng.text();
        let arg = std::ffi::OsStr::from_bytes(&text);
        let runs: [(&str, Vec<&std::ffi::OsStr>); 4] = [
            (
                "session create --label",
                [
                    "session",
                    "create",
                    "--experiment",
                    "sim-profiles",
                    "--variant",
                    "sim-fast-oai",
                    "--task-card",
                    "sample-traffic",
                    "--label",
                ]
                .iter()
                .map(std::ffi::OsStr::new)
                .chain([arg])
                .collect(),
            ),
            (
                "session show",
                ["session", "show"]
                    .iter()
                    .map(std::ffi::OsStr::new)
                    .chain([arg])
                    .collect(),
            ),
            (
                "report compare --experiment",
                ["report", "compare", "--experiment"]
                    .iter()
                    .map(std::ffi::OsStr::new)
                    .chain([arg])
                    .collect(),
            ),
            (
                "export requests --session",
                ["export", "requests", "--format", "json", "--session"]
                    .iter()
                    .map(std::ffi::OsStr::new)
                    .chain([arg])
                    .collect(),
            ),
        ];
        for (what, args) in runs {
            let o = s.cmd(&[]).args(&args).output().expect("run");
            assert_clean_exit(&o, &format!("{what} (input {i}, {} bytes)", text.len()));
        }
    }
    // Lists with whatever was accepted stay printable.
    assert_clean_exit(&s.run(&["session", "list"]), "session list");

    // The spool: random lines (some huge, some not UTF-8, some almost JSON), then a real one.
    let alias = s.json(&["session", "show", &sess.id])["proxy_key_alias"]
        .as_str()
        .expect("alias")
        .to_string();
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let mut f = std::fs::File::create(&spool).expect("spool");
    let mut junk = 0;
    for _ in 0..200 {
        let mut line = rng.text();
        line.retain(|b| *b != b'\n');
        if rng.next().is_multiple_of(3) {
            line = [b"{\"v\":1,\"key_alias\":\"".as_slice(), &line, b"\"}"].concat();
        }
        f.write_all(&line).expect("write");
        f.write_all(b"\n").expect("write");
        junk += 1;
    }
    writeln!(
        f,
        r#"{{"v":1,"litellm_call_id":"real","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":1700000000.0,"end":1700000000.5,"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":4,"key_alias":"{alias}"}}"#
    )
    .expect("write");
    drop(f);
    let v = s.json(&["collect"]);
    assert_eq!(v["report"]["lines"], junk + 1, "{v}");
    assert_eq!(
        v["report"]["inserted"].as_u64(),
        Some(1),
        "the real line is stored: {v}"
    );
    assert_eq!(s.json(&["session", "show", &sess.id])["request_count"], 1);
}
