//! `stackperf secrets …`: provider keys and the master key in the OS keychain.

use clap::Subcommand;
use stackperf_core::secrets::{Secret, Source, MASTER_KEY};

use crate::output::{json as print_json, table};
use crate::stack_cmd::read_secret_value;
use crate::{app, runtime, CliError, Global};

#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Store a secret in the OS keychain; the value is read from stdin or a hidden prompt
    Set { name: String },
    /// The secrets StackPerf uses and where each is set (never the values)
    List,
    /// Remove a secret from the keychain
    Delete { name: String },
}

pub fn run(g: &Global, cmd: SecretsCmd) -> Result<(), CliError> {
    let app = app(g)?;
    let rt = runtime()?;
    match cmd {
        SecretsCmd::Set { name } => {
            let value = read_secret_value(&name)?;
            rt.block_on(app.secret_set(&name, Secret::new(value)))?;
            if g.json {
                print_json(&serde_json::json!({"stored": name}))?;
            } else {
                println!("stored {name} in the OS keychain");
            }
            Ok(())
        }
        SecretsCmd::Delete { name } => {
            let deleted = rt.block_on(app.secret_delete(&name))?;
            if g.json {
                print_json(&serde_json::json!({"name": name, "deleted": deleted}))?;
            } else if deleted {
                println!("deleted {name} from the OS keychain");
            } else {
                println!("{name} was not in the OS keychain");
            }
            Ok(())
        }
        SecretsCmd::List => {
            let list = rt.block_on(app.secrets_list())?;
            if g.json {
                return Ok(print_json(&list)?);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    let where_ = match (s.in_keychain, s.in_environment) {
                        (true, true) => "keychain + environment (environment wins)",
                        (true, false) => "keychain",
                        (false, true) => "environment",
                        (false, false) => "not set",
                    };
                    let effective = match s.effective {
                        Some(Source::Environment) => "environment",
                        Some(Source::Keychain) => "keychain",
                        None if s.name == MASTER_KEY
                            || s.name.starts_with("POSTGRES")
                            || s.name.starts_with("GRAFANA") =>
                        {
                            "generated on first use"
                        }
                        None => "missing: stackperf secrets set …",
                    };
                    vec![
                        s.name.clone(),
                        where_.into(),
                        effective.into(),
                        s.used_by.join(", "),
                    ]
                })
                .collect();
            Ok(table(&["NAME", "SET IN", "USED", "USED BY"], &rows)?)
        }
    }
}
