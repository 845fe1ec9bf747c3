//! `facts`: who and what the host is (hostname, user and home, OS release, kernel,
//! architecture), set as `ansible_*` facts.

use super::{strings, Context, ModuleError, Outcome};

const GATHER: &str =
    "hostname; id -un; id -u; printf '%s\\n' \"$HOME\"; uname -r; uname -m; cat /etc/os-release 2>/dev/null || true";

pub async fn run(ctx: &Context<'_>) -> Result<Outcome, ModuleError> {
    let out = ctx
        .remote
        .run(strings(&["sh", "-c", GATHER]), None, false)
        .await?;
    if !out.success() {
        return Err(ModuleError::Failed(format!(
            "gathering facts failed: {}",
            out.stderr_text().trim()
        )));
    }
    let text = out.stdout_text();
    Ok(Outcome {
        facts: parse(&text),
        ..Outcome::default()
    })
}

fn parse(text: &str) -> crate::vars::Vars {
    let mut lines = text.lines();
    let mut facts = crate::vars::Vars::new();
    for key in [
        "ansible_hostname",
        "ansible_user_id",
        "ansible_user_uid",
        "ansible_user_dir",
        "ansible_kernel",
        "ansible_architecture",
    ] {
        facts.insert(key.into(), lines.next().unwrap_or_default().trim().into());
    }
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        let fact = match key {
            "ID" => "ansible_distribution_id",
            "NAME" => "ansible_distribution",
            "VERSION_ID" => "ansible_distribution_version",
            "PRETTY_NAME" => "ansible_os_pretty_name",
            _ => continue,
        };
        facts.insert(fact.into(), value.into());
    }
    facts
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_dgx_os_release() {
        let text = "spark-1\nnvidia\n1000\n/home/nvidia\n6.11.0-1016-nvidia\naarch64\nPRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n";
        let facts = super::parse(text);
        insta::assert_json_snapshot!(facts, @r#"
        {
          "ansible_hostname": "spark-1",
          "ansible_user_id": "nvidia",
          "ansible_user_uid": "1000",
          "ansible_user_dir": "/home/nvidia",
          "ansible_kernel": "6.11.0-1016-nvidia",
          "ansible_architecture": "aarch64",
          "ansible_os_pretty_name": "Ubuntu 24.04.3 LTS",
          "ansible_distribution": "Ubuntu",
          "ansible_distribution_version": "24.04",
          "ansible_distribution_id": "ubuntu"
        }
        "#);
    }
}
