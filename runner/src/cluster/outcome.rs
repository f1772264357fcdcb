//! How a job ends, judged from what the manager reports: its task's state and
//! desired state, and the health of its node. A task whose node is lost stays
//! `running` in the manager's books (the node cannot report), so a lost node
//! is read from the node's health and from a desired state of `shutdown` that
//! racebench did not ask for (a drain, or the manager giving up on the node).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{Task, TaskState as ApiState};
use bollard::query_parameters::ListTasksOptionsBuilder;

use super::error::ClusterError;
use super::job::Job;
use super::manager::Manager;
use super::node::{Availability, NodeHealth, NodeInfo};

/// A task's state, as the swarm names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// `new` to `assigned`: not yet on a node's engine (`pending`: no node fits).
    Pending,
    /// `accepted` to `starting`: the node is pulling the image or creating the container.
    Preparing,
    Running,
    Complete,
    Failed,
    /// The node refused it (an image that will not pull, a mount that fails).
    Rejected,
    /// Stopped by the swarm (`shutdown`, `remove`, `orphaned`).
    Shutdown,
}

/// What racebench reads of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub id: String,
    pub node_id: String,
    pub state: TaskState,
    /// `running`, `complete`, `shutdown`, ... as the manager has it.
    pub desired: String,
    pub exit_code: Option<i64>,
    pub message: String,
    pub err: String,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Exited 0.
    Completed,
    /// Exited non-zero (or the engine failed it, e.g. an OOM kill).
    Failed { exit_code: Option<i64>, err: String },
    /// Its node is down, drained or cut off: an infrastructure error, to retry elsewhere.
    Lost { node_id: String, reason: String },
    /// The node could not start it: an infrastructure error.
    Rejected { err: String },
    /// Not running within the start limit (no node fits, an image still pulling).
    NotStarted { state: String },
    /// Running for longer than the run limit.
    TimedOut,
}

impl JobOutcome {
    /// Whether racebench, not the job's own code, is to blame: retried elsewhere.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            JobOutcome::Lost { .. } | JobOutcome::Rejected { .. } | JobOutcome::NotStarted { .. }
        )
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// No task yet, or not yet running; the state as the manager has it.
    Waiting(String),
    Running,
    Done(JobOutcome),
}

/// How long to wait for a job.
#[derive(Debug, Clone, Copy)]
pub struct WaitLimits {
    /// From the call to the task running (image pull included).
    pub start: Duration,
    /// From running to finished.
    pub run: Duration,
    /// Between two looks at the manager.
    pub poll: Duration,
}

/// Judges a job from its newest task and the node it is on (or, not yet
/// placed, pinned to).
pub fn classify(task: Option<&TaskView>, node: Option<&NodeInfo>) -> Progress {
    let Some(task) = task else {
        return Progress::Waiting("no task yet".into());
    };
    match task.state {
        TaskState::Complete => return Progress::Done(JobOutcome::Completed),
        TaskState::Failed => {
            return Progress::Done(JobOutcome::Failed {
                exit_code: task.exit_code,
                err: task.err.clone(),
            })
        }
        TaskState::Rejected => {
            return Progress::Done(JobOutcome::Rejected {
                err: first_nonempty(&task.err, &task.message),
            })
        }
        TaskState::Shutdown => {
            return Progress::Done(JobOutcome::Lost {
                node_id: task.node_id.clone(),
                reason: format!("the swarm shut the task down ({})", task.message),
            })
        }
        TaskState::Pending | TaskState::Preparing | TaskState::Running => {}
    }
    // `node` is the task's node, or for a task not yet placed the node the job
    // is pinned to: either way the only node it can run on.
    if let Some(node) = node {
        if task.state == TaskState::Pending && node.availability != Availability::Active {
            return Progress::Done(JobOutcome::Lost {
                node_id: node.id.clone(),
                reason: format!(
                    "node {} takes no new tasks ({:?})",
                    node.hostname, node.availability
                )
                .to_lowercase(),
            });
        }
        if node.health != NodeHealth::Ready {
            return Progress::Done(JobOutcome::Lost {
                node_id: node.id.clone(),
                reason: format!(
                    "node {} is {:?}: {}",
                    node.hostname,
                    node.health,
                    first_nonempty(&node.message, "no heartbeat")
                )
                .to_lowercase(),
            });
        }
    }
    if task.desired == "shutdown" || task.desired == "remove" {
        return Progress::Done(JobOutcome::Lost {
            node_id: task.node_id.clone(),
            reason: "the swarm is shutting the task down (node drained or lost)".into(),
        });
    }
    match task.state {
        TaskState::Running => Progress::Running,
        TaskState::Pending => Progress::Waiting(first_nonempty(&task.err, &task.message)),
        _ => Progress::Waiting(task.message.clone()),
    }
}

fn first_nonempty(a: &str, b: &str) -> String {
    if a.is_empty() { b } else { a }.to_string()
}

fn view(task: Task) -> TaskView {
    let status = task.status.unwrap_or_default();
    let state = match status.state {
        Some(ApiState::RUNNING) => TaskState::Running,
        Some(ApiState::COMPLETE) => TaskState::Complete,
        Some(ApiState::FAILED) => TaskState::Failed,
        Some(ApiState::REJECTED) => TaskState::Rejected,
        Some(ApiState::SHUTDOWN | ApiState::REMOVE | ApiState::ORPHANED) => TaskState::Shutdown,
        Some(ApiState::ACCEPTED | ApiState::PREPARING | ApiState::READY | ApiState::STARTING) => {
            TaskState::Preparing
        }
        _ => TaskState::Pending,
    };
    TaskView {
        id: task.id.unwrap_or_default(),
        node_id: task.node_id.unwrap_or_default(),
        state,
        desired: task
            .desired_state
            .map(|s| s.to_string())
            .unwrap_or_default(),
        exit_code: status.container_status.and_then(|c| c.exit_code),
        message: status.message.unwrap_or_default(),
        err: status.err.unwrap_or_default(),
    }
}

impl Manager {
    /// The job's newest task, if the swarm has made one.
    pub async fn task(&self, job: &Job) -> Result<Option<TaskView>, ClusterError> {
        let filters = HashMap::from([("service", vec![job.id.as_str()])]);
        let tasks = self
            .docker()
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list tasks of {}", job.name), e))?;
        let newest = tasks
            .into_iter()
            .max_by_key(|t| t.version.as_ref().and_then(|v| v.index).unwrap_or(0));
        Ok(newest.map(view))
    }

    /// Where the job stands now.
    pub async fn progress(&self, job: &Job) -> Result<Progress, ClusterError> {
        let task = self.task(job).await?;
        let node_id = task
            .as_ref()
            .map(|t| t.node_id.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| job.node_id.clone());
        let node = self.node(&node_id).await?;
        Ok(classify(task.as_ref(), node.as_ref()))
    }

    /// Waits until the job is running. `Err(outcome)` if it ended (or could
    /// not start) first.
    pub async fn wait_running(
        &self,
        job: &Job,
        limits: WaitLimits,
    ) -> Result<Result<(), JobOutcome>, ClusterError> {
        let deadline = Instant::now() + limits.start;
        loop {
            match self.progress(job).await? {
                Progress::Running => return Ok(Ok(())),
                Progress::Done(outcome) => return Ok(Err(outcome)),
                Progress::Waiting(state) if Instant::now() >= deadline => {
                    return Ok(Err(JobOutcome::NotStarted { state }))
                }
                Progress::Waiting(_) => tokio::time::sleep(limits.poll).await,
            }
        }
    }

    /// After [`Manager::stop_job`]: waits until the node reports the task
    /// ended (`shutdown`, or `complete`/`failed` if it ended by itself first),
    /// which it does only once the container has stopped. `Ok(None)` when it
    /// did; `Ok(Some(outcome))` when its node was lost or `limit` passed first
    /// (then nothing says the container is gone).
    pub async fn wait_stopped(
        &self,
        job: &Job,
        limit: Duration,
        poll: Duration,
    ) -> Result<Option<JobOutcome>, ClusterError> {
        let deadline = Instant::now() + limit;
        loop {
            let task = self.task(job).await?;
            let Some(task) = task else {
                // Never placed: no container was made.
                return Ok(None);
            };
            match task.state {
                TaskState::Shutdown
                | TaskState::Complete
                | TaskState::Failed
                | TaskState::Rejected => return Ok(None),
                TaskState::Pending => return Ok(None),
                TaskState::Preparing | TaskState::Running => {}
            }
            let node = self.node(&task.node_id).await?;
            if !node.as_ref().is_some_and(|n| n.health == NodeHealth::Ready) {
                return Ok(Some(JobOutcome::Lost {
                    node_id: task.node_id.clone(),
                    reason: "its node stopped answering while its task was being stopped".into(),
                }));
            }
            if Instant::now() >= deadline {
                return Ok(Some(JobOutcome::TimedOut));
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Waits until the job ends, its node is lost, or a limit passes.
    pub async fn wait(&self, job: &Job, limits: WaitLimits) -> Result<JobOutcome, ClusterError> {
        if let Err(outcome) = self.wait_running(job, limits).await? {
            return Ok(outcome);
        }
        let deadline = Instant::now() + limits.run;
        loop {
            match self.progress(job).await? {
                Progress::Done(outcome) => return Ok(outcome),
                _ if Instant::now() >= deadline => return Ok(JobOutcome::TimedOut),
                _ => tokio::time::sleep(limits.poll).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, desired: &str) -> TaskView {
        TaskView {
            id: "t".into(),
            node_id: "n3".into(),
            state,
            desired: desired.into(),
            exit_code: None,
            message: String::new(),
            err: String::new(),
        }
    }

    fn node(health: NodeHealth) -> NodeInfo {
        NodeInfo {
            id: "n3".into(),
            hostname: "rbswarm-n3".into(),
            health,
            message: if health == NodeHealth::Down {
                "heartbeat failure".into()
            } else {
                String::new()
            },
            availability: Availability::Active,
            addr: "10.213.0.13".into(),
            cpus: 2.0,
            memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn a_finished_task_is_judged_by_its_state_even_on_a_node_that_died_since() {
        let mut t = task(TaskState::Failed, "shutdown");
        t.exit_code = Some(3);
        assert_eq!(
            classify(Some(&t), Some(&node(NodeHealth::Down))),
            Progress::Done(JobOutcome::Failed {
                exit_code: Some(3),
                err: String::new()
            })
        );
        assert_eq!(
            classify(
                Some(&task(TaskState::Complete, "shutdown")),
                Some(&node(NodeHealth::Ready))
            ),
            Progress::Done(JobOutcome::Completed)
        );
    }

    #[test]
    fn a_running_task_on_a_down_node_is_lost() {
        // What the manager reports about 12 s after a node's dockerd is killed:
        // the task still `running` (nobody can say otherwise), desired `shutdown`.
        let p = classify(
            Some(&task(TaskState::Running, "shutdown")),
            Some(&node(NodeHealth::Down)),
        );
        let Progress::Done(outcome @ JobOutcome::Lost { .. }) = p else {
            panic!("{p:?}")
        };
        assert!(outcome.is_infrastructure());
        assert!(format!("{outcome:?}").contains("heartbeat failure"));
        // Before the desired state changes, the node's health alone says it.
        let p = classify(
            Some(&task(TaskState::Running, "running")),
            Some(&node(NodeHealth::Down)),
        );
        assert!(
            matches!(p, Progress::Done(JobOutcome::Lost { .. })),
            "{p:?}"
        );
    }

    #[test]
    fn a_drain_is_a_lost_node_as_soon_as_the_desired_state_turns() {
        // A drain: desired `shutdown` within 0.1 s, the task still running for its grace period.
        let p = classify(
            Some(&task(TaskState::Running, "shutdown")),
            Some(&node(NodeHealth::Ready)),
        );
        assert!(
            matches!(p, Progress::Done(JobOutcome::Lost { .. })),
            "{p:?}"
        );
        let p = classify(
            Some(&task(TaskState::Shutdown, "shutdown")),
            Some(&node(NodeHealth::Ready)),
        );
        assert!(
            matches!(p, Progress::Done(JobOutcome::Lost { .. })),
            "{p:?}"
        );
    }

    #[test]
    fn a_task_pinned_to_a_node_that_is_down_or_drained_is_lost_before_it_starts() {
        let mut pending = task(TaskState::Pending, "running");
        pending.node_id.clear();
        let p = classify(Some(&pending), Some(&node(NodeHealth::Down)));
        assert!(
            matches!(p, Progress::Done(JobOutcome::Lost { .. })),
            "{p:?}"
        );
        let mut drained = node(NodeHealth::Ready);
        drained.availability = Availability::Drain;
        let p = classify(Some(&pending), Some(&drained));
        assert!(
            matches!(p, Progress::Done(JobOutcome::Lost { ref reason, .. }) if reason.contains("drain")),
            "{p:?}"
        );
    }

    #[test]
    fn waiting_and_running_are_not_outcomes() {
        assert_eq!(
            classify(None, None),
            Progress::Waiting("no task yet".into())
        );
        let mut pending = task(TaskState::Pending, "running");
        pending.node_id.clear();
        pending.err = "no suitable node (scheduling constraints not satisfied on 3 nodes)".into();
        assert!(
            matches!(classify(Some(&pending), None), Progress::Waiting(s) if s.contains("no suitable node"))
        );
        assert_eq!(
            classify(
                Some(&task(TaskState::Running, "running")),
                Some(&node(NodeHealth::Ready))
            ),
            Progress::Running
        );
    }

    #[test]
    fn a_rejected_task_is_an_infrastructure_error() {
        let mut t = task(TaskState::Rejected, "shutdown");
        t.err = "No such image".into();
        let Progress::Done(o) = classify(Some(&t), None) else {
            panic!()
        };
        assert!(o.is_infrastructure());
        assert!(!JobOutcome::Failed {
            exit_code: Some(1),
            err: String::new()
        }
        .is_infrastructure());
        assert!(!JobOutcome::TimedOut.is_infrastructure());
    }
}
