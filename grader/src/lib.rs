//! Grading of racebench runs, pure and synchronous: read a results folder,
//! score every candidate under a set of weights with honest statistics
//! (Wilson intervals, pass@k), and render the result as JSON, JUnit XML, a
//! terminal table and a static HTML report. No Docker, no async runtime.

pub mod agent_board;
pub mod agent_sample;
pub mod calibration;
pub mod crosscheck;
pub mod excerpt;
pub mod grade;
pub mod junit;
pub mod load;
pub mod pass_at_k;
pub mod report;
pub mod summary;
pub mod text;
pub mod timeline;
pub mod usage;
pub mod validation;
pub mod wilson;

mod escape;

pub use agent_sample::{load_agent_sample, AgentSample, AgentSampleError, SampleLimits};
pub use grade::{grade, GradeError};
pub use load::{load_run, CandidateTrials, LoadError, LoadedRun};
pub use report::{ReportError, ReportFiles, ReportOptions};
pub use summary::{Summary, SUMMARY_FORMAT};
pub use timeline::{load_trial_events, Timeline, TimelineError};
pub use wilson::Interval;
