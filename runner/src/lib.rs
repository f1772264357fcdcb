//! The racebench runner: builds datapoint images through the Docker Engine
//! API, starts one contained pod per trial (the trial's container and its own
//! services), applies a candidate patch, runs the hidden tests against the
//! live services and writes trial records.

pub mod agent;
pub mod archive;
pub mod base_image;
pub mod cache_dir;
pub mod cluster;
pub mod datapoint_files;
pub mod datapoint_image;
pub mod engine;
pub mod executor;
pub mod guard;
pub mod image;
pub mod labels;
pub mod patch;
pub mod pod;
pub mod predictions;
pub mod results;
pub mod run;
pub mod sandbox;
pub mod services;
pub mod session;
pub mod test_report;
pub mod trial;
