//! The API over a store several machines write to (docs/team.md).

use stackperf_e2e::StackEnv;

use crate::api::{set, spool_line, Server};

/// Several machines, one store: a session begun on another machine (machines that share one
/// /etc/machine-id are told apart by STACKPERF_MACHINE_ID) lists with its machine, and
/// `machine=` picks each machine's sessions.
#[test]
fn sessions_carry_their_machine_and_machine_picks_them() {
    let s = StackEnv::new("api-machines");
    let here = s.create_session("sim-profiles", "sim-fast-oai", &[]).id;
    let also_here = s.create_session("sim-profiles", "sim-slow-oai", &[]).id;
    let alias = s.json(&["session", "show", &here])["proxy_key_alias"]
        .as_str()
        .expect("alias")
        .to_string();
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let lines: String = (0..2)
        .map(|i| spool_line(&format!("machines-{i}"), &alias))
        .collect();
    std::fs::write(&spool, lines).expect("spool");
    let other = [("STACKPERF_MACHINE_ID", "api-test-other-box")];
    let elsewhere = s
        .create_session_with_env("sim-profiles", "sim-fast-oai", &[], &other)
        .id;
    // Finalizing ingests the spool (here): the two requests are this machine's.
    s.json(&["session", "finalize", &here, "--status", "completed"]);
    let api = Server::start(&s);
    let (_, machines) = api.get("/api/v1/machines");
    let machines = machines.as_array().expect("machines").clone();
    assert_eq!(machines.len(), 2, "{machines:?}");
    let machine_of = |id: &str| {
        s.json(&["session", "show", id])["machine_id"]
            .as_str()
            .expect("machine id")
            .to_string()
    };
    let (mine, theirs) = (machine_of(&here), machine_of(&elsewhere));
    assert_ne!(mine, theirs);
    assert_eq!(machine_of(&also_here), mine);
    let by_id = |id: &str| {
        machines
            .iter()
            .find(|m| m["machine_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {machines:?}"))
            .clone()
    };
    let counts = |id: &str| {
        let m = by_id(id);
        (m["sessions"].as_u64(), m["requests"].as_u64())
    };
    assert_eq!(counts(&mine), (Some(2), Some(2)));
    assert_eq!(counts(&theirs), (Some(1), Some(0)));
    assert!(by_id(&theirs)["hostname"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert_eq!(
        api.ids(&format!("machine={mine}")),
        set(&[&here, &also_here])
    );
    assert_eq!(api.ids(&format!("machine={theirs}")), set(&[&elsewhere]));
    let (_, page) = api.get(&format!("/api/v1/sessions?machine={theirs}"));
    assert_eq!(page["items"][0]["hostname"], by_id(&theirs)["hostname"]);
}
