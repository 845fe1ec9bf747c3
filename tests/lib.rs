//! Integration tests: one binary. Lab tests build the lab of simulated
//! Sparks (tests/lab) and fail, never skip, when it cannot be built.

mod bad_input;
mod bandwidth;
mod connect;
mod engine;
mod env;
mod hardening;
mod lab;
mod lab_selftest;
mod support;
mod verify;
