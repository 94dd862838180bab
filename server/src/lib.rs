//! Knock's server as a library, so that tests and tools can start it in-process.

pub mod storage;
