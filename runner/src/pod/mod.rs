//! A pod: the main container of a trial (or sandbox) and one container per
//! service the datapoint declares, on an internal network of their own,
//! created together, made ready together and removed together.

mod error;
mod kafka;
mod lifecycle;
mod postgres;
mod redis;
mod secret;
mod service;

pub use error::PodError;
pub use lifecycle::{MainContainer, Pod, PodSpec, PodTimings, MAIN_CAPS};
pub use secret::secret;
pub use service::{topic_variable, Blueprint, ServiceImages, ServiceLimits};
