//! The node's supervised task tree (STYLE 8): one root cancellation token, and every
//! long-running task of `turnout serve` (DNS, both APIs, the store sync, the registration, the
//! health engine, the webhook sender, expiry and GC, signals) spawned here by name.
//!
//! ```text
//!   running ──a task ends or panics──▶ error logged naming it ─▶ root cancelled ─┐
//!      │                                                                          ▼
//!      └──SIGTERM/SIGINT: root cancelled ─────────────────────────────────▶ draining
//!   draining: every task finishes its own drain (in-flight requests, queued webhooks, the
//!   registration revoked) within the grace period; the rest are aborted, named in the log
//! ```
//! The outcome is an error (exit 1) if any task failed, panicked or ended while the node was
//! running; a clean stop is `Ok` (exit 0).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

/// A task's failure, already logged at error level when it happened (the caller need not
/// log it again).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TaskFailed(String);

/// The task tree.
#[derive(Debug)]
pub struct Tasks {
    root: CancellationToken,
    set: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, &'static str>,
}

impl Tasks {
    /// A tree under `root`: cancelling it stops every task.
    pub fn new(root: CancellationToken) -> Self {
        Tasks { root, set: JoinSet::new(), names: HashMap::new() }
    }

    /// The root token (for tasks to stop on).
    pub fn token(&self) -> CancellationToken {
        self.root.clone()
    }

    /// Starts a task that runs until the root is cancelled; its ending before that (or an
    /// error, or a panic, at any time) stops the node with an error.
    pub fn spawn<F, E>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<anyhow::Error> + 'static,
    {
        let id = self.set.spawn(async move { task.await.map_err(Into::into) }).id();
        self.names.insert(id, name);
    }

    /// Runs until the root is cancelled or a task ends, then stops every task and waits for
    /// them to drain, at most `grace`. Returns the first failure, naming its task.
    pub async fn supervise(mut self, grace: Duration) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        tokio::select! {
            biased;
            () = self.root.cancelled() => {}
            Some(joined) = self.set.join_next_with_id() => {
                let stopping = self.root.is_cancelled();
                if let Some(e) = self.outcome(joined, stopping) {
                    error!("{e:#}; stopping the node");
                    failure = Some(anyhow::Error::new(TaskFailed(format!("{e:#}"))));
                }
                self.root.cancel();
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(None) => break,
                Ok(Some(joined)) => {
                    if let Some(e) = self.outcome(joined, true) {
                        error!("{e:#}");
                        failure.get_or_insert(anyhow::Error::new(TaskFailed(format!("{e:#}"))));
                    }
                }
                Err(_) => {
                    let mut left: Vec<&str> = self.names.values().copied().collect();
                    left.sort_unstable();
                    warn!(
                        "{} task(s) did not stop within {}s, abandoned: {}",
                        left.len(),
                        grace.as_secs_f64(),
                        left.join(", ")
                    );
                    self.set.abort_all();
                    break;
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// What a task's end means: None if fine (it ended while `stopping`, without error).
    fn outcome(
        &mut self,
        joined: Result<(Id, anyhow::Result<()>), JoinError>,
        stopping: bool,
    ) -> Option<anyhow::Error> {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let name = self.names.remove(&id).unwrap_or("a task");
        match joined {
            Ok((_, Ok(()))) if stopping => None,
            Ok((_, Ok(()))) => Some(anyhow::anyhow!("task {name:?} ended unexpectedly")),
            Ok((_, Err(e))) => Some(e.context(format!("task {name:?} failed"))),
            Err(e) if e.is_panic() => {
                Some(anyhow::anyhow!("task {name:?} panicked: {}", turnout_health::panic_text(e)))
            }
            Err(e) => Some(anyhow::anyhow!("task {name:?} was cancelled: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn forever(stop: CancellationToken) -> anyhow::Result<()> {
        stop.cancelled().await;
        Ok(())
    }

    fn boom() -> anyhow::Result<()> {
        panic!("probe state broke")
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_stops_the_node_with_its_name() {
        let root = CancellationToken::new();
        let mut tasks = Tasks::new(root.clone());
        tasks.spawn("dns", forever(root.clone()));
        tasks.spawn("health engine", async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            boom()
        });
        let err = tasks.supervise(Duration::from_secs(5)).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("\"health engine\" panicked: probe state broke"), "{text}");
        assert!(root.is_cancelled(), "the other tasks were told to stop");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ends_early_or_fails_stops_the_node() {
        let root = CancellationToken::new();
        let mut tasks = Tasks::new(root.clone());
        tasks.spawn("dns", forever(root.clone()));
        tasks.spawn("sync", async { Ok::<(), anyhow::Error>(()) });
        let err = tasks.supervise(Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{err:#}").contains("\"sync\" ended unexpectedly"), "{err:#}");

        let root = CancellationToken::new();
        let mut tasks = Tasks::new(root.clone());
        tasks.spawn("dns", forever(root.clone()));
        tasks.spawn("api", async { Err::<(), _>(anyhow::anyhow!("accept failed: EMFILE")) });
        let err = tasks.supervise(Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{err:#}").contains("\"api\" failed: accept failed: EMFILE"), "{err:#}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_drains_every_task_within_the_grace_period() {
        let root = CancellationToken::new();
        let mut tasks = Tasks::new(root.clone());
        let drained = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = drained.clone();
        let stop = root.clone();
        // A task that needs two seconds to drain (a queued webhook), and one that would never
        // stop: the first finishes, the second is abandoned at the deadline.
        tasks.spawn("webhook", async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), anyhow::Error>(())
        });
        tasks.spawn("stuck", std::future::pending::<anyhow::Result<()>>());
        let signal = root.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            signal.cancel();
        });
        let started = tokio::time::Instant::now();
        tasks.supervise(Duration::from_secs(5)).await.unwrap();
        assert!(drained.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(started.elapsed(), Duration::from_secs(6), "1 s running, 5 s grace");
    }
}
