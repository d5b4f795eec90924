//! The stack's journal (`<data>/stack/events.jsonl`, 0600, append-only): every service that
//! `stack up` started, found down (and so restarted) or `stack down` stopped, with the time. A
//! session reads it to say which services were restarted while it ran (the edge's own outages come
//! from its spool, with the requests they cut: `store::edge_events`).

use crate::timestamp::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};

use stackperf_contract::Service;

pub use crate::store::model::{ServiceEvent, ServiceEventKind};

/// The journal of the stack whose files are in `stack_dir`.
pub fn path(stack_dir: &Path) -> PathBuf {
    stack_dir.join("events.jsonl")
}

/// Append `events` (best effort: a journal that cannot be written is logged, never a failed
/// `stack up`).
pub fn append(stack_dir: &Path, events: &[ServiceEvent]) {
    let mut text = String::new();
    for e in events {
        if let Ok(line) = serde_json::to_string(e) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let p = path(stack_dir);
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let written = std::fs::create_dir_all(stack_dir)
        .and_then(|()| o.open(&p))
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        tracing::warn!("stack journal {}: {e}", p.display());
    }
}

/// The events within `[from_ms, until_ms]` (`None`: until now), oldest first; unreadable lines
/// are skipped.
pub fn read(
    stack_dir: &Path,
    from_ms: Timestamp,
    until_ms: Option<Timestamp>,
) -> Vec<ServiceEvent> {
    let text = std::fs::read_to_string(path(stack_dir)).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<ServiceEvent>(l).ok())
        .filter(|e| e.at_ms >= from_ms && until_ms.is_none_or(|u| e.at_ms <= u))
        .collect()
}

/// An event of `service` now.
pub fn now(service: Service, event: ServiceEventKind) -> ServiceEvent {
    ServiceEvent {
        service,
        event,
        at_ms: Timestamp::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_appended_and_read_back_within_a_window() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let at = |service: Service, event, ms| ServiceEvent {
            service,
            event,
            at_ms: Timestamp::from_ms(ms),
        };
        append(
            dir.path(),
            &[at(Service::Litellm, ServiceEventKind::Started, 10.0)],
        );
        append(
            dir.path(),
            &[
                at(Service::Litellm, ServiceEventKind::FoundDown, 20.0),
                at(Service::Litellm, ServiceEventKind::Started, 21.0),
                at(Service::Sim, ServiceEventKind::Stopped, 40.0),
            ],
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .and_then(|mut f| f.write_all(b"not json\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let got = read(
            dir.path(),
            Timestamp::from_ms(15.0),
            Some(Timestamp::from_ms(30.0)),
        );
        assert_eq!(
            got,
            vec![
                at(Service::Litellm, ServiceEventKind::FoundDown, 20.0),
                at(Service::Litellm, ServiceEventKind::Started, 21.0),
            ]
        );
        assert_eq!(read(dir.path(), Timestamp::EPOCH, None).len(), 4);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
    }
}
