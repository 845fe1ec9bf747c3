//! `ssh_key`: the login user's own ed25519 key on the node. Created on the
//! node when missing (the private key never leaves it); an existing key is
//! used and never overwritten. Sets the fact `ssh_public_key`.

use serde::Deserialize;

use super::{strings, Context, ModuleError, Outcome};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Private key path on the node; default ~/.ssh/id_ed25519.
    path: Option<String>,
}

/// Prints `existing` or `created`, then the public key. $2 set: only look.
const ENSURE: &str = r#"set -e
key=${1:-$HOME/.ssh/id_ed25519}
umask 077
mkdir -p -- "$(dirname -- "$key")"
if [ -f "$key" ]; then
  echo existing
  if [ -f "$key.pub" ]; then cat -- "$key.pub"; else ssh-keygen -y -f "$key"; fi
elif [ -n "$2" ]; then
  echo missing
else
  ssh-keygen -q -t ed25519 -N '' -C "$(id -un)@$(hostname) sparklink" -f "$key" >/dev/null
  echo created
  cat -- "$key.pub"
fi"#;

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let mut argv = strings(&["sh", "-c", ENSURE, "sparklink-key"]);
    argv.push(args.path.unwrap_or_default());
    argv.push(if ctx.check {
        "1".to_owned()
    } else {
        String::new()
    });
    let out = ctx.remote.run(argv, None, false).await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "cannot set up the ssh key: {}",
            out.stderr_text().trim()
        )));
    }
    let text = out.stdout_text();
    let mut lines = text.lines();
    let state = lines.next().unwrap_or_default().trim().to_owned();
    let public = lines.next().unwrap_or_default().trim().to_owned();
    let mut outcome = Outcome::default();
    let public = match state.as_str() {
        "existing" => public,
        "created" => {
            outcome.changed = true;
            outcome.msg = "created an ed25519 key".to_owned();
            public
        }
        _ => {
            outcome.changed = true;
            outcome.msg = "would create an ed25519 key".to_owned();
            format!("(the key that {} would create)", ctx.remote.host())
        }
    };
    outcome
        .facts
        .insert("ssh_public_key".into(), public.clone().into());
    outcome.data.insert("public_key".into(), public.into());
    Ok(outcome)
}
