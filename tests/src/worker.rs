//! Worker processes for the multi-process tests.
