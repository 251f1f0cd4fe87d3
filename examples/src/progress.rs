//! The runtime glue of a long operation: the clock, a tokio-sleeping
//! [`ApplyContext`], and progress on stderr as actions finish.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convox_model::apply::{ApplyContext, ApplyEvent, SleepFn};
use convox_model::name::Name;
use convox_model::plan::Op;
use convox_model::resource::ResourceKind;

/// The variable of the command's [`Environment`](crate::Environment) that sets
/// the tool's clock (Unix seconds), for tests that move time: a rack deployed
/// "a year ago" then shows its certificates due. Read here only; the library
/// takes `now` from its caller.
pub const NOW_VAR: &str = "CONVOX_NOW";

/// Unix seconds now: the model reads no clock, so the tool supplies it: the
/// system clock, or [`NOW_VAR`] when the environment sets it to a number.
pub fn now(env: &crate::Environment) -> i64 {
    if let Some(t) = env.var(NOW_VAR).and_then(|v| v.trim().parse::<i64>().ok()) {
        return t;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An apply context for `rack` that sleeps on tokio.
pub fn context(rack: &Name, now: i64) -> ApplyContext {
    let sleep: SleepFn = Arc::new(|d: Duration| Box::pin(tokio::time::sleep(d)));
    ApplyContext::new(rack.clone(), now, sleep)
}

/// One progress line for an event, or `None` for events not worth a line.
fn progress_line(e: &ApplyEvent) -> Option<String> {
    match e {
        ApplyEvent::Started { .. } => None,
        ApplyEvent::Finished { action } => {
            let done = match action.op {
                // A certificate changes in place only when it is renewed.
                Op::Update if action.kind == ResourceKind::Certificate => "renewed",
                Op::Create => "created",
                Op::Update => "updated",
                Op::Replace => "replaced",
                Op::Delete => "deleted",
            };
            Some(format!("  {done} {} {}", action.kind, action.key))
        }
        ApplyEvent::Retrying {
            action,
            attempt,
            delay,
            error,
        } => Some(format!(
            "  retrying {action} in {} ms (attempt {attempt} failed: {error})",
            delay.as_millis()
        )),
        ApplyEvent::Failed { action, error } => Some(format!("  failed {action}: {error}")),
    }
}

/// Runs `work` with a context that reports progress, printing one line on stderr
/// per finished action as it happens.
///
/// The events arrive through a channel drained alongside the work: the callback
/// must be `'static`, the writer is not. `work` owns the context, so the channel
/// closes when the work is done and the drain ends with it.
pub async fn with_progress<F, Fut, T>(err: &mut dyn Write, ctx: ApplyContext, work: F) -> T
where
    F: FnOnce(ApplyContext) -> Fut,
    Fut: Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ApplyEvent>();
    let ctx = ctx.with_events(Arc::new(move |e: &ApplyEvent| {
        let _ = tx.send(e.clone());
    }));
    let drain = async {
        while let Some(e) = rx.recv().await {
            if let Some(line) = progress_line(&e) {
                let _ = writeln!(err, "{line}");
            }
        }
    };
    let (out, ()) = tokio::join!(work(ctx), drain);
    out
}
