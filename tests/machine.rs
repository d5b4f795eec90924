//! What the end-to-end tests share as they run side by side in one test binary: loopback ports
//! and the machine's quiet.
//!
//! Ports: a test asks for several at once; each is bound (and held) until all are known, they are
//! taken below Linux's ephemeral range (32768–60999, where any outgoing connection may be given
//! one), and no port is handed out twice in this process, so two tests starting stacks at the same
//! moment never pick the same one.
//!
//! Quiet: tests that check timings against an outside clock (the simulator's ground truth, a raw
//! socket client) take the machine alone with [`quiet`]; every test that starts processes takes a
//! share ([`share`], also taken by [`crate::StackEnv`] and [`crate::Sim`]), so a timing test never
//! runs beside a LiteLLM starting up on a 2-core machine, while the others run side by side (they
//! mostly wait on processes: `scripts/test.sh` runs four at a time). A timing test waiting for the
//! machine would hold one of those four threads idle (libtest starts tests in name order), so
//! timing tests live in modules named `quiet` and `scripts/test.sh` runs them after the others.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::net::TcpListener;
use std::sync::{Condvar, Mutex, MutexGuard};

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
static MACHINE: Machine = Machine {
    state: Mutex::new(Holders {
        shares: 0,
        alone: false,
    }),
    changed: Condvar::new(),
};

/// Who holds the machine. Shares come first: a share is granted whenever no test holds the machine
/// alone, so a waiting timing test never idles the other test threads; it runs in a gap (at the
/// latest when the tests that share have run).
struct Machine {
    state: Mutex<Holders>,
    changed: Condvar,
}

struct Holders {
    shares: u32,
    alone: bool,
}

impl Machine {
    fn wait_until(&self, free: impl Fn(&Holders) -> bool, take: impl FnOnce(&mut Holders)) {
        let mut h = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !free(&h) {
            h = self.changed.wait(h).unwrap_or_else(|e| e.into_inner());
        }
        take(&mut h);
    }

    fn release(&self, give: impl FnOnce(&mut Holders)) {
        give(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }
}

thread_local! {
    /// Whether this test's thread holds the machine alone (its own shares are then free).
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// How many shares this thread holds, and the one read lock they stand on.
    static SHARES: Cell<u32> = const { Cell::new(0) };
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// The lowest and one past the highest port handed out (below the ephemeral range).
const PORTS: (u16, u16) = (20_000, 32_000);

fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// `N` distinct free loopback ports, never handed out before by this process.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut held: Vec<(u16, TcpListener)> = Vec::with_capacity(N);
    let span = u64::from(PORTS.1 - PORTS.0);
    while held.len() < N {
        let port = PORTS.0 + u16::try_from(random() % span).expect("span fits u16");
        if handed.contains(&port) || held.iter().any(|(p, _)| *p == port) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push((port, l));
        }
    }
    let ports: Vec<u16> = held.iter().map(|(p, _)| *p).collect();
    handed.extend(ports.iter().copied());
    ports.try_into().expect("N ports")
}

/// One free loopback port (see [`free_ports`]).
pub fn free_port() -> u16 {
    let [p] = free_ports::<1>();
    p
}

/// The machine alone for a timing test, until dropped.
pub struct Quiet(PhantomData<MutexGuard<'static, ()>>);

/// A share of the machine for a test that starts processes, until dropped; released on the thread
/// that took it (it cannot be sent to another).
pub struct Share(PhantomData<MutexGuard<'static, ()>>);

/// Take the machine alone (waits for every running test that holds a share). The test lives in a
/// module named `quiet`: `scripts/test.sh` runs `::quiet::` tests after the others, one at a time,
/// so none of them holds a test thread while it waits for the machine.
pub fn quiet() -> Quiet {
    assert!(
        SHARES.with(Cell::get) == 0,
        "take quiet() before starting anything: this thread holds a share"
    );
    if let Some(name) = std::thread::current().name().filter(|n| *n != "main") {
        assert!(
            name.contains("::quiet::"),
            "{name} takes the machine alone: put it in a `mod quiet` (scripts/test.sh runs those last)"
        );
    }
    MACHINE.wait_until(|h| !h.alone && h.shares == 0, |h| h.alone = true);
    QUIET.with(|q| q.set(true));
    Quiet(PhantomData)
}

impl Drop for Quiet {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(false));
        MACHINE.release(|h| h.alone = false);
    }
}

/// Take a share of the machine (waits while a timing test holds it alone; free inside one). A
/// thread counts once however many shares it takes.
pub fn share() -> Share {
    if !QUIET.with(Cell::get) && SHARES.with(Cell::get) == 0 {
        MACHINE.wait_until(|h| !h.alone, |h| h.shares += 1);
        COUNTED.with(|c| c.set(true));
    }
    SHARES.with(|n| n.set(n.get() + 1));
    Share(PhantomData)
}

impl Drop for Share {
    fn drop(&mut self) {
        let left = SHARES.with(|n| {
            n.set(n.get().saturating_sub(1));
            n.get()
        });
        if left == 0 && COUNTED.with(|c| c.replace(false)) {
            MACHINE.release(|h| h.shares -= 1);
        }
    }
}
