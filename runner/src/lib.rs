//! The racebench runner: builds datapoint images through the Docker Engine
//! API, starts one contained container per trial, applies a candidate patch,
//! runs the hidden tests against live services and writes trial records.

pub mod archive;
pub mod base_image;
pub mod cache_dir;
pub mod crosscheck;
pub mod datapoint_image;
pub mod engine;
pub mod guard;
pub mod image;
pub mod labels;
pub mod patch;
pub mod predictions;
pub mod provision;
pub mod report;
pub mod results;
pub mod run;
pub mod services;
pub mod trial;
