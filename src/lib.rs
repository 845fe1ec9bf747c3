//! sparklink: wire NVIDIA DGX Spark machines into a cluster over QSFP.
pub mod vars;
