//! Counting key re-exchanges on nacre's side, whichever side started them.
//!
//! The runtime reports each finished key exchange as a `tracing` debug event of target `nacre::driver`
//! ("key exchange complete", field `first`). A process-wide subscriber counts those with `first = false`
//! by the name of the thread that emitted them: every nacre server of the matrix runs on threads of its
//! own name ([`nacre_tests::NacreServer::thread_name`]), and nacre's client runs on a current-thread
//! runtime on the row's own named thread ([`super::fixtures::block_on`]). So the rekey scenarios of
//! different rows run at the same time without mixing their counts.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

/// Completed re-exchanges by thread name.
static REKEYS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

const TARGET: &str = "nacre::driver";
const MESSAGE: &str = "key exchange complete";

struct Counter;

#[derive(Default)]
struct Fields {
    message: bool,
    first: Option<bool>,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "first" {
            self.first = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" && value == MESSAGE {
            self.message = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == MESSAGE {
            self.message = true;
        }
    }
}

impl tracing::Subscriber for Counter {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && meta.target() == TARGET
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.message && f.first == Some(false) {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            let mut map = REKEYS.lock().unwrap_or_else(|e| e.into_inner());
            *map.get_or_insert_with(HashMap::new)
                .entry(name)
                .or_default() += 1;
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the counter as the process's subscriber (once).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Counter);
}

/// Re-exchanges completed so far by nacre connections running on threads named `thread`.
pub fn count(thread: &str) -> usize {
    let map = REKEYS.lock().unwrap_or_else(|e| e.into_inner());
    map.as_ref()
        .and_then(|m| m.get(thread).copied())
        .unwrap_or(0)
}
