//! FHIR reading: the lenient serde shapes, the tolerant Task reader and request normalisation.

pub mod lenient;
pub mod request;
pub mod resource_types;
pub mod task;
