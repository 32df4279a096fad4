//! A fleet node keeps following its versions while writing its status hangs (Consul taking
//! writes but never answering them): the status is written by a task of its own, so the
//! version loop never waits on it (it did, up to the write's 5 s timeout, which made
//! `fleet_config::consul_down…` flaky).

use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::fleet_config::{answer, answers_within, bootstrap, ok, push, start_node, version_dir};

#[test]
fn a_hanging_status_write_never_holds_up_the_next_version() {
    let consul = ConsulDouble::start();
    let node = start_node(&bootstrap(&consul.url(), "node-a", &[]));
    ok(&push(&consul, version_dir("one").path(), &[]));
    assert!(answers_within(&node, "one", Duration::from_secs(5)));
    consul.hang_status_writes(true);
    // Each version applied changes the status, so each is followed by a status write that
    // hangs; the next version must still arrive well within that write's 5 s timeout.
    for text in ["two", "three", "four"] {
        ok(&push(&consul, version_dir(text).path(), &[]));
        assert!(
            answers_within(&node, text, Duration::from_secs(3)),
            "version {text:?} not followed within 3 s while status writes hang (answers {:?})",
            answer(&node)
        );
    }
}
