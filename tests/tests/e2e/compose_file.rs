//! The Compose runtime's files, checked statically (no Docker engine runs here): the compose
//! file validates with docker-compose and binds every port to 127.0.0.1; the Grafana provisioning
//! is well formed and every dashboard uses the provisioned datasource.

use std::process::Command;

use serde_json::Value;
use stackperf_e2e::{files_under, workspace};

#[test]
fn the_compose_file_validates_and_publishes_on_loopback_only() {
    let _machine = stackperf_e2e::share();
    let file = workspace().join("docker-compose.yml");
    let out = Command::new("docker-compose")
        .args([
            "-f",
            file.to_str().expect("utf8"),
            "--profile",
            "sim",
            "config",
        ])
        .env("STACKPERF_LITELLM_CONFIG_DIR", "/tmp")
        .env("STACKPERF_KEYS_DIR", "/tmp")
        .env("STACKPERF_CAPTURE_DIR", "/tmp")
        .env("LITELLM_MASTER_KEY", "placeholder")
        .env("POSTGRES_PASSWORD", "placeholder")
        .env("GRAFANA_ADMIN_PASSWORD", "placeholder")
        .output()
        .expect(
            "docker-compose is installed by scripts/bootstrap.sh (apt-get install docker-compose)",
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved = String::from_utf8_lossy(&out.stdout);
    for svc in ["litellm:", "postgres:", "prometheus:", "grafana:", "sim:"] {
        assert!(resolved.contains(svc), "service {svc} missing");
    }
    assert!(
        resolved.contains("ghcr.io/berriai/litellm:main-v1.108.7"),
        "LiteLLM image must match the pinned version"
    );
    // Short syntax (`- 127.0.0.1:4000:4000/tcp`, docker-compose v1) or long (`host_ip: 127.0.0.1`, v2).
    let published: Vec<&str> = resolved
        .lines()
        .map(str::trim)
        .filter(|l| {
            let short = l.strip_prefix("- ").is_some_and(|m| {
                m.matches(':').count() >= 2
                    && m.trim_end_matches("/tcp")
                        .rsplit(':')
                        .next()
                        .is_some_and(|p| p.parse::<u16>().is_ok())
            });
            short || l.starts_with("host_ip:")
        })
        .collect();
    // litellm and sim; postgres stays inside the Compose network; prometheus and grafana share
    // the host's network (to reach the natively run edge's loopback metrics) and listen on
    // 127.0.0.1 only.
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(
        published.iter().all(|l| l.contains("127.0.0.1")),
        "{published:?}"
    );
    assert_eq!(
        resolved.matches("network_mode: host").count(),
        2,
        "{resolved}"
    );
    assert!(
        resolved.contains("--web.listen-address=127.0.0.1:9090"),
        "{resolved}"
    );
    assert!(
        resolved.contains("GF_SERVER_HTTP_ADDR: 127.0.0.1"),
        "{resolved}"
    );

    // Without the secrets, compose refuses to start rather than running with empty passwords.
    let out = Command::new("docker-compose")
        .args(["-f", file.to_str().expect("utf8"), "config", "-q"])
        .env_remove("LITELLM_MASTER_KEY")
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn grafana_provisioning_and_dashboards_are_well_formed() {
    let _machine = stackperf_e2e::share();
    let root = workspace().join("configs/grafana");
    let ds = std::fs::read_to_string(root.join("provisioning/datasources/prometheus.yml"))
        .expect("datasource");
    // Grafana runs on the host's network and reads the port from its environment.
    assert!(
        ds.contains("uid: prometheus")
            && ds.contains("url: http://127.0.0.1:${STACKPERF_PROMETHEUS_PORT}"),
        "{ds}"
    );
    let dashboards = files_under(&root.join("dashboards"));
    assert_eq!(dashboards.len(), 4);
    let mut uids = Vec::new();
    for f in dashboards {
        let d: Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("JSON");
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
        uids.push(d["uid"].as_str().expect("uid").to_string());
        for p in d["panels"].as_array().expect("panels") {
            assert_eq!(
                p["datasource"]["uid"],
                "prometheus",
                "{}: panel {}",
                f.display(),
                p["title"]
            );
            assert!(!p["targets"].as_array().expect("targets").is_empty());
        }
    }
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 4, "dashboard uids must be unique");
}

#[test]
fn starting_compose_without_docker_says_what_to_do_and_leaves_nothing_behind() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().unwrap();
    let out = stackperf_e2e::stackperf(data.path())
        .arg("--config-dir")
        .arg(workspace().join("configs"))
        .args(["stack", "up", "--runtime", "compose"])
        .env("STACKPERF_DOCKER", data.path().join("no-docker-here"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Install Docker with the compose plugin, or use the native runtime"),
        "{err}"
    );
    // Not recorded as running: status falls back to the native runtime's view.
    assert!(!data.path().join("stack/compose/ACTIVE").exists());
    let status = stackperf_e2e::stackperf(data.path())
        .arg("--config-dir")
        .arg(workspace().join("configs"))
        .args(["--json", "stack", "status"])
        .env("STACKPERF_DOCKER", data.path().join("no-docker-here"))
        .output()
        .unwrap();
    assert!(status.status.success());
}
