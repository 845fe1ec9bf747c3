//! The command line, as clap sees it: raw strings and flags. [`crate::config`]
//! turns them into a validated run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Wire NVIDIA DGX Spark machines into a cluster over their QSFP link, from your laptop.
#[derive(Debug, Parser)]
#[command(name = "sparklink", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect the Sparks over QSFP: check, address, apply safely, exchange keys, prove it (playbooks/connect.yml, built in).
    Up(RunOptions),
    /// Check the link read-only and name each fault with its fix (playbooks/verify.yml, built in).
    Verify {
        /// Also measure each rail's bandwidth (ib_write_bw, else iperf3, on the nodes).
        #[arg(long)]
        bandwidth: bool,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Write the cluster environment for NCCL, MPI, Ray and PyTorch on each node, and show it (playbooks/env.yml, built in; `up` does it too).
    Env {
        /// Print only `export` lines (one block per node), for `eval` or a job script.
        #[arg(long, conflicts_with = "json")]
        shell: bool,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Undo `up`: the netplan file, the keys, the cluster environment and every line it added (playbooks/disconnect.yml, built in).
    Down(RunOptions),
    /// Run a playbook file against the inventory.
    Run {
        /// The playbook (a YAML list of plays).
        playbook: PathBuf,
        #[command(flatten)]
        options: RunOptions,
    },
}

/// Options every run takes.
#[derive(Debug, Args, Clone)]
pub struct RunOptions {
    /// Inventory: an Ansible YAML inventory file, or a folder of them.
    #[arg(short, long, env = "SPARKLINK_INVENTORY", default_value = "inventory")]
    pub inventory: PathBuf,

    /// Only these hosts or groups (comma-separated; `!name` excludes).
    #[arg(short, long)]
    pub limit: Option<String>,

    /// Set a variable above all others: KEY=VALUE, or a JSON object. Repeatable.
    #[arg(short = 'e', long = "extra-vars", value_name = "KEY=VALUE")]
    pub extra_vars: Vec<String>,

    /// Run only tasks with one of these tags (comma-separated).
    #[arg(short, long, value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Skip tasks with any of these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub skip_tags: Vec<String>,

    /// Report what would change; change nothing.
    #[arg(short = 'C', long)]
    pub check: bool,

    /// Show a diff of every file that changes (or would, with --check).
    #[arg(short = 'D', long)]
    pub diff: bool,

    /// Ask for the sudo password (otherwise read from SPARKLINK_BECOME_PASSWORD, or none).
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,

    /// Print one JSON document with every result and the recap, and nothing else, on stdout.
    #[arg(long)]
    pub json: bool,

    /// How many hosts to work on at once.
    #[arg(short, long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,

    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u64,

    /// Seconds one remote command may run.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub command_timeout: u64,

    /// Show commands' output.
    #[arg(short, long)]
    pub verbose: bool,
}
