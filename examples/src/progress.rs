//! The runtime glue of a long operation: the clock, a tokio-sleeping
//! [`ApplyContext`], and progress on stderr as actions finish: one plain line
//! per action (CI logs), or on a terminal a progress bar for work of many
//! actions ([`with_progress_bar`]).

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
        // An event this version does not know: no line.
        _ => None,
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

// ---- progress bar (issue 11): a bar on a terminal, plain lines otherwise ----

/// From how many actions a deploy on a terminal shows a bar rather than lines.
pub const BAR_FROM_ACTIONS: usize = 5;

/// How progress is shown: a bar for `total` actions when stderr is a
/// `terminal` and the work is long enough, else one line per finished action.
pub fn bar_for(total: usize, terminal: bool) -> Option<indicatif::ProgressBar> {
    if !terminal || total < BAR_FROM_ACTIONS {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(u64::try_from(total).unwrap_or(u64::MAX)),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("  [{bar:30}] {pos}/{len} {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// Like [`with_progress`], with `bar` (from [`bar_for`]) advanced as actions
/// finish instead of a line each; retries and failures still get their line,
/// printed above the bar. Without a bar, exactly [`with_progress`].
pub async fn with_progress_bar<F, Fut, T>(
    err: &mut dyn Write,
    ctx: ApplyContext,
    bar: Option<indicatif::ProgressBar>,
    work: F,
) -> T
where
    F: FnOnce(ApplyContext) -> Fut,
    Fut: Future<Output = T>,
{
    let Some(bar) = bar else {
        return with_progress(err, ctx, work).await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ApplyEvent>();
    let ctx = ctx.with_events(Arc::new(move |e: &ApplyEvent| {
        let _ = tx.send(e.clone());
    }));
    let drain = async {
        while let Some(e) = rx.recv().await {
            advance(&bar, &e);
        }
        bar.finish();
    };
    let (out, ()) = tokio::join!(work(ctx), drain);
    out
}

/// One event on the bar: a finished action moves it (and names the action),
/// anything worth a line is printed above it.
fn advance(bar: &indicatif::ProgressBar, e: &ApplyEvent) {
    match e {
        ApplyEvent::Finished { action } => {
            if bar.length().is_some_and(|len| bar.position() >= len) {
                // More actions than planned (the rack's own): the bar grows.
                bar.inc_length(1);
            }
            bar.inc(1);
            bar.set_message(format!("{} {}", action.kind, action.key));
        }
        other => {
            if let Some(line) = progress_line(other) {
                bar.println(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_only_on_a_terminal_and_for_long_work() {
        assert!(bar_for(100, false).is_none());
        assert!(bar_for(BAR_FROM_ACTIONS - 1, true).is_none());
        let bar = bar_for(BAR_FROM_ACTIONS, true).map(|b| b.length());
        assert_eq!(bar, Some(Some(5)));
    }

    #[test]
    fn finished_actions_move_the_bar_and_grow_it_past_the_plan() {
        use convox_model::apply::ActionRef;
        use convox_model::exposure::Router;
        use convox_model::resource::{ResourceKey, ResourceKind};
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(2),
            indicatif::ProgressDrawTarget::hidden(),
        );
        let finished = ApplyEvent::Finished {
            action: ActionRef {
                key: ResourceKey::router_listener(Router::Internal, 443),
                kind: ResourceKind::Listener,
                op: Op::Create,
            },
        };
        for _ in 0..3 {
            advance(&bar, &finished);
        }
        assert_eq!((bar.position(), bar.length()), (3, Some(3)));
        assert!(bar.message().contains("443"), "{}", bar.message());
    }

    #[tokio::test]
    async fn without_a_bar_each_action_is_a_line() {
        let name = Name::new("r").unwrap_or_else(|e| panic!("{e}"));
        let mut err = Vec::new();
        let n = with_progress_bar(&mut err, context(&name, 0), None, |_ctx| async { 7 }).await;
        assert_eq!(n, 7);
        assert!(err.is_empty());
    }
}
