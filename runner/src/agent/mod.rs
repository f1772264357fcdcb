//! Agent runs: each sample of each agent gets a fresh sandbox of the
//! datapoint, works in it, and leaves a diff that becomes a candidate,
//! verified by the usual trials.

mod images;
mod sample;
mod samples;
mod spec;
mod swarm_sample;
mod tools;

pub use images::{prepare_images, DatapointImage, ImagesError};
pub use sample::{candidate_id, run_sample, SampleHost, SampleOutcome, SamplePlan};
pub use samples::{finished_sample, run_samples, RECORD_FILE};
pub use spec::{
    parse_agents_file, read_agents_file, AgentKind, AgentSpec, AgentsFileError,
    DEFAULT_AGENT_TIMEOUT,
};
pub use tools::{visible_tools, TOOLS_FOLDER};
