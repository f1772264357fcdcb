//! The contract shared by the racebench runner and grader: what a datapoint
//! declares (`datapoint.toml`), how tests are weighted (`weights/*.toml`),
//! and the versioned records a run writes (run manifest, trial results,
//! timeline events). Nothing here touches Docker or async code.

pub mod agent;
pub mod candidate;
pub mod datapoint;
pub mod event;
pub mod layout;
pub mod result;
pub mod weights;

mod diagnostic;

pub use agent::{AgentEnd, AgentRecord, AgentUsage, AGENT_RECORD_FORMAT};
pub use candidate::{Candidate, CandidateKind};
pub use datapoint::{
    Datapoint, DatapointError, DatapointSpec, DecoySpec, Limits, ReportFormat, ServiceKind,
    StepSpec, TopicSpec, REPORT_DIR,
};
pub use diagnostic::Warning;
pub use event::{Event, EventKind, EventRole};
pub use layout::RunLayout;
pub use result::{
    ApplyMethod, Outcome, PatchReport, RunManifest, RunStatus, TestRecord, Timings, TrialRecord,
    Verdict, RESULTS_FORMAT,
};
pub use weights::{Category, Weights, WeightsError, WeightsSet};
