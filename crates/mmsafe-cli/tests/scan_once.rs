//! One `mmsafe scan` opens its store once and builds each suite once (issue
//! 16: suites were built twice, and the store opened up to four times, in
//! one `execute`).
//!
//! How it is counted: `mmsafe_store::Store::open` (and the PostgreSQL
//! store's connect) emits a `tracing` event under
//! `mmsafe_store::OPEN_EVENT`, and `mmsafe_data::open` one under
//! `mmsafe_data::registry::OPEN_EVENT`. This test binary installs a process-wide
//! subscriber that counts them, so an open on any thread (the engine's
//! writer, a blocking task) is seen; the production code carries no test
//! hook, and the events are useful in `RUST_LOG=debug` logs too. Events are
//! matched on this test's own store path and suite files, so nothing else
//! in the process can disturb the count.

use mmsafe_cli::cmd::scan::{execute, Ended, ScanArgs};
use mmsafe_cli::flags::{StoreArg, TargetOpsArgs};
use mmsafe_engine::CancellationToken;
use mmsafe_testkit::{MockConfig, MockThread, Reply};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::Layer;

/// `(target, value of its `store` or `suite` field)` of every counted event.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

struct Counter(Seen);

struct FieldValue<'a>(&'a mut Option<String>);

impl Visit for FieldValue<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "store" | "suite") {
            *self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "store" | "suite") {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let target = event.metadata().target();
        if target != mmsafe_store::OPEN_EVENT && target != mmsafe_data::registry::OPEN_EVENT {
            return;
        }
        let mut value = None;
        event.record(&mut FieldValue(&mut value));
        if let (Some(v), Ok(mut seen)) = (value, self.0.lock()) {
            seen.push((target.to_string(), v));
        }
    }
}

/// The process-wide record, installed once before any event is emitted.
fn seen() -> Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(Counter(seen.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .expect("this test binary installs the only subscriber");
        seen
    })
    .clone()
}

/// How often each `target` named `what` since the record was last cleared.
fn count(seen: &Seen, target: &str, what: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(t, v)| t == target && v == what)
        .count()
}

fn write_suite(path: &Path, topic: &str) {
    let mut body = String::from("dataset,category_id,task_id,category_name,question,instruction\n");
    for i in 0..3 {
        body.push_str(&format!(
            "Once,9,{topic}{i},Financial Advice,What is a sensible way to budget for {topic} {i}?,Steps to budget for {topic} {i}.\n"
        ));
    }
    std::fs::write(path, body).unwrap();
}

#[test]
fn scan_opens_its_store_once_and_builds_each_suite_once() {
    let seen = seen();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    write_suite(&a, "rent");
    write_suite(&b, "food");
    let store = dir.join("once.db");
    let server = MockThread::start(MockConfig::default().reply(Reply::refuse_harmful())).unwrap();
    let suites = [
        format!("figstep:{}", a.display()),
        format!("figstep:{}", b.display()),
    ];
    let rt = mmsafe_cli::cmd::scan::runtime().unwrap();
    let scan = |args: &ScanArgs| {
        rt.block_on(execute(args, CancellationToken::new(), Arc::new(|_| {})))
            .unwrap()
    };
    let store_events = || {
        count(
            &seen,
            mmsafe_store::OPEN_EVENT,
            &store.display().to_string(),
        )
    };
    let suite_events = |spec: &str| count(&seen, mmsafe_data::registry::OPEN_EVENT, spec);

    // A new run: the store is opened to create the run, and the same
    // connection writes it and reads the summary back.
    let new = ScanArgs {
        target: Some(server.target_spec().to_string()),
        suites: suites.to_vec(),
        judges: vec!["refusal".into()],
        ops: TargetOpsArgs {
            no_cache: true,
            ..TargetOpsArgs::default()
        },
        store: StoreArg::at(&store),
        ..ScanArgs::default()
    };
    let run = match scan(&new) {
        Ended::Completed { run, summary, .. } => {
            assert_eq!(summary.counts.target_errors, 0);
            run
        }
        _ => panic!("the scan did not complete"),
    };
    assert_eq!(
        store_events(),
        1,
        "a new run opened its store more than once"
    );
    for spec in &suites {
        assert_eq!(
            suite_events(spec),
            1,
            "suite `{spec}` was built more than once"
        );
    }

    // A resume reads the run from the store before building anything, and
    // keeps that one store for the rest.
    seen.lock().unwrap().clear();
    let resume = ScanArgs {
        resume: Some(run.id.clone()),
        store: StoreArg::at(&store),
        ..ScanArgs::default()
    };
    match scan(&resume) {
        Ended::Completed { run: again, .. } => assert_eq!(again.id, run.id),
        _ => panic!("the resume did not complete"),
    }
    assert_eq!(
        store_events(),
        1,
        "a resume opened its store more than once"
    );
    for spec in &suites {
        assert_eq!(
            suite_events(spec),
            1,
            "suite `{spec}` was built more than once on resume"
        );
    }
    server.stop();
}
