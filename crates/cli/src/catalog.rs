//! Config, catalog and database commands.

use serde_json::json;
use stackperf_core::config::Registry;
use stackperf_core::{paths, Error};

use crate::output::{json as print_json, short_fp, table};
use crate::{app, load_config, CatalogCmd, CliError, Global};

pub fn validate(g: &Global) -> Result<(), CliError> {
    let (reg, problems) = Registry::load(&g.config_dir);
    let counts = json!({
        "providers": reg.providers.len(), "harnesses": reg.harnesses.len(), "variants": reg.variants.len(),
        "experiments": reg.experiments.len(), "task_cards": reg.task_cards.len(),
        "suites": reg.suites.len(),
    });
    if g.json {
        print_json(
            &json!({"valid": problems.is_empty(), "config_dir": g.config_dir, "counts": counts, "problems": problems}),
        )?;
    } else if problems.is_empty() {
        println!(
            "ok: {} is valid ({} providers, {} harness profiles, {} variants, {} experiments, {} task cards, {} suites)",
            g.config_dir.display(),
            reg.providers.len(),
            reg.harnesses.len(),
            reg.variants.len(),
            reg.experiments.len(),
            reg.task_cards.len(),
            reg.suites.len()
        );
    }
    if problems.is_empty() {
        Ok(())
    } else if g.json {
        // The JSON document above already lists the problems.
        Err(CliError::Reported(format!(
            "{} configuration problem(s) in {}",
            problems.len(),
            g.config_dir.display()
        )))
    } else {
        Err(Error::Config(problems).into())
    }
}

pub async fn sync(g: &Global) -> Result<(), CliError> {
    let app = app(g)?;
    let (db, report) = app.sync_config().await?;
    if g.json {
        print_json(&json!({"db": db, "report": report}))?;
    } else {
        println!(
            "synced {} into {}: {} providers, {} harness profiles, {} variants ({} new fingerprints), {} experiments, {} task cards",
            g.config_dir.display(),
            db.display(),
            report.providers,
            report.harness_profiles,
            report.variants,
            report.new_fingerprints.len(),
            report.experiments,
            report.task_cards
        );
        for v in &report.new_fingerprints {
            println!("  new fingerprint: {v}");
        }
    }
    Ok(())
}

fn not_found<T>(
    kind: &'static str,
    name: &str,
    items: &[stackperf_core::config::Loaded<T>],
    get: impl Fn(&T) -> &str,
) -> CliError {
    let known: Vec<&str> = items.iter().map(|l| get(&l.value)).collect();
    Error::NotFound {
        kind,
        name: name.to_string(),
        known: known.join(", "),
    }
    .into()
}

pub fn experiment(g: &Global, cmd: CatalogCmd) -> Result<(), CliError> {
    let reg = load_config(g)?;
    match cmd {
        CatalogCmd::List => {
            let items: Vec<_> = reg.experiments.iter().map(|l| &l.value).collect();
            if g.json {
                return Ok(print_json(&items)?);
            }
            let rows = items
                .iter()
                .map(|e| vec![e.name.clone(), e.variants.join(", "), e.description.clone()])
                .collect::<Vec<_>>();
            Ok(table(&["NAME", "VARIANTS", "DESCRIPTION"], &rows)?)
        }
        CatalogCmd::Show { name } => {
            let e = reg
                .experiment(&name)
                .ok_or_else(|| not_found("experiment", &name, &reg.experiments, |e| &e.name))?;
            let variants: Vec<_> = e.variants.iter().filter_map(|v| reg.resolve(v)).collect();
            if g.json {
                return Ok(print_json(&json!({"experiment": e, "variants": variants}))?);
            }
            println!("experiment: {}\n{}\n", e.name, e.description);
            variant_table(&variants)
        }
    }
}

fn variant_table(items: &[stackperf_core::config::ResolvedVariant<'_>]) -> Result<(), CliError> {
    let rows = items
        .iter()
        .map(|r| {
            vec![
                r.variant.name.clone(),
                r.provider.name.clone(),
                r.variant.model_alias.clone(),
                r.harness.name.clone(),
                short_fp(&r.config_fingerprint),
            ]
        })
        .collect::<Vec<_>>();
    Ok(table(
        &["VARIANT", "PROVIDER", "MODEL", "HARNESS", "FINGERPRINT"],
        &rows,
    )?)
}

pub fn variant(g: &Global, cmd: CatalogCmd) -> Result<(), CliError> {
    let reg = load_config(g)?;
    match cmd {
        CatalogCmd::List => {
            let items: Vec<_> = reg
                .variants
                .iter()
                .filter_map(|l| reg.resolve(&l.value.name))
                .collect();
            if g.json {
                let v: Vec<_> = items
                    .iter()
                    .map(|r| json!({"name": r.variant.name, "provider": r.provider.name, "provider_route": r.variant.provider_route,
                        "model_alias": r.variant.model_alias, "upstream_model": r.upstream_model, "harness_profile": r.harness.name,
                        "benchmark_tags": r.variant.benchmark_tags, "config_fingerprint": r.config_fingerprint}))
                    .collect();
                return Ok(print_json(&v)?);
            }
            variant_table(&items)
        }
        CatalogCmd::Show { name } => {
            let r = reg
                .resolve(&name)
                .ok_or_else(|| not_found("variant", &name, &reg.variants, |v| &v.name))?;
            if g.json {
                return Ok(print_json(&r)?);
            }
            let v = r.variant;
            println!("variant:            {}", v.name);
            if !v.description.is_empty() {
                println!("description:        {}", v.description);
            }
            println!(
                "provider:           {} (route {}, {})",
                r.provider.name,
                v.provider_route,
                r.provider.protocol_surface.as_str()
            );
            println!(
                "model:              {} → {}",
                v.model_alias, r.upstream_model
            );
            println!(
                "harness profile:    {} ({})",
                r.harness.name,
                r.harness.protocol_surface.as_str()
            );
            let tags: Vec<String> = v
                .benchmark_tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("benchmark tags:     {}", tags.join(", "));
            for (k, val) in &v.harness_env_overrides {
                println!("env override:       {k}={val}");
            }
            println!("config fingerprint: {}", r.config_fingerprint);
            Ok(())
        }
    }
}

pub fn task_card(g: &Global, cmd: CatalogCmd) -> Result<(), CliError> {
    let reg = load_config(g)?;
    match cmd {
        CatalogCmd::List => {
            let items: Vec<_> = reg.task_cards.iter().map(|l| &l.value).collect();
            if g.json {
                return Ok(print_json(&items)?);
            }
            let rows = items
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        format!("{} min", t.session_timebox_minutes),
                        t.repo_path.clone(),
                        t.goal.clone(),
                    ]
                })
                .collect::<Vec<_>>();
            Ok(table(&["NAME", "TIMEBOX", "REPO", "GOAL"], &rows)?)
        }
        CatalogCmd::Show { name } => {
            let t = reg
                .task_card(&name)
                .ok_or_else(|| not_found("task card", &name, &reg.task_cards, |t| &t.name))?;
            if g.json {
                return Ok(print_json(t)?);
            }
            println!(
                "task card:       {}\nrepository:      {}\ntimebox:         {} minutes",
                t.name, t.repo_path, t.session_timebox_minutes
            );
            println!(
                "goal:            {}\nstop condition:  {}\n\nstarting prompt:\n{}",
                t.goal, t.stop_condition, t.starting_prompt
            );
            if !t.notes.is_empty() {
                println!("\nnotes:\n{}", t.notes);
            }
            Ok(())
        }
    }
}

pub fn db_path(g: &Global) -> Result<(), CliError> {
    let path = paths::db_path(g.db.clone())?;
    if stackperf_core::store::is_server_url(&path) {
        // A server: shown without its password; whether it answers is `db migrate`'s to say.
        let shown = stackperf_core::store::shown_url(&path.to_string_lossy());
        if g.json {
            print_json(&json!({"db": shown, "server": true}))?;
        } else {
            println!("{shown}");
        }
        return Ok(());
    }
    if g.json {
        print_json(&json!({"db": path, "exists": path.exists()}))?;
    } else {
        println!("{}", path.display());
    }
    Ok(())
}

pub async fn db_migrate(g: &Global) -> Result<(), CliError> {
    let app = app(g)?;
    let info = app.database_info().await?;
    if g.json {
        print_json(&info)?;
    } else {
        println!(
            "database {} is at migration {}",
            info.db.display(),
            info.migrations.last().map(|m| m.version).unwrap_or(0)
        );
        for m in &info.migrations {
            println!("  applied {} {}", m.version, m.description);
        }
        println!("tables: {}", info.tables.join(", "));
    }
    Ok(())
}

pub async fn db_machines(g: &Global) -> Result<(), CliError> {
    let list = app(g)?.machines().await?;
    if g.json {
        return Ok(print_json(&list)?);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                m.machine_id.clone(),
                m.hostname.clone(),
                m.sessions.to_string(),
                m.requests.to_string(),
                m.first_seen.rfc3339(),
                m.last_seen.rfc3339(),
            ]
        })
        .collect();
    Ok(crate::output::table(
        &[
            "MACHINE",
            "HOST",
            "SESSIONS",
            "REQUESTS",
            "FIRST SEEN",
            "LAST SEEN",
        ],
        &rows,
    )?)
}

pub async fn db_copy(g: &Global, to: &std::path::Path) -> Result<(), CliError> {
    let app = app(g)?;
    let shown = stackperf_core::store::shown_url(&to.to_string_lossy());
    eprintln!("copying {} into {shown}", app.paths.db_path.display());
    let tables = app
        .db_copy(to, |t| {
            if !g.json {
                eprintln!(
                    "  {:<18} {:>9} copied, {:>9} already there ({} in the source)",
                    t.table, t.copied, t.already, t.source
                );
            }
        })
        .await?;
    if g.json {
        return Ok(print_json(
            &serde_json::json!({ "to": shown, "tables": tables }),
        )?);
    }
    let (copied, already): (u64, u64) = tables
        .iter()
        .fold((0, 0), |(c, a), t| (c + t.copied, a + t.already));
    println!("copied {copied} rows into {shown} ({already} were there already); every row checked");
    Ok(())
}
