//! racebench's command-line tests: one test binary, driving the real binary
//! against the real Docker engine with the tiny fixture datapoint
//! (`tests/fixtures/datapoints/counter-race`, about a second per trial).

mod agents;
mod cancel;
mod errors;
mod hostile;
mod list;
mod report;
mod run;
mod swarm;
mod swarm_agents;
mod util;
