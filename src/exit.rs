//! Exit codes: the one table scripts can rely on (also in README.md).

/// Every task on every host succeeded.
pub const SUCCESS: u8 = 0;
/// sparklink itself failed (a bug, or the local machine could not run it).
pub const INTERNAL: u8 = 1;
/// At least one host failed a task.
pub const HOSTS_FAILED: u8 = 2;
/// At least one host could not be reached, and none failed.
pub const HOSTS_UNREACHABLE: u8 = 3;
/// Bad input: command line, inventory, playbook or variables. Nothing ran.
pub const BAD_INPUT: u8 = 4;
/// Interrupted by Ctrl-C or SIGTERM; connections were closed.
pub const INTERRUPTED: u8 = 130;
