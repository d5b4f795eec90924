//! `stackperf serve` (the local query API) and `stackperf api token`.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::json as print_json;
use crate::{app, runtime, CliError, Global};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback unless --allow-remote)
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Port (0: any free port; the chosen one is printed)
    #[arg(long, default_value_t = 8719)]
    port: u16,
    /// Allow a non-loopback address (the token still applies; traffic is not encrypted)
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Subcommand, Debug)]
pub enum ApiCmd {
    /// Print the API's bearer token (created on first use, kept in the OS keychain)
    Token {
        /// Replace it with a new one (restart a running `serve` to use it)
        #[arg(long)]
        rotate: bool,
    },
}

pub fn serve(g: &Global, a: ServeArgs) -> Result<(), CliError> {
    let addr = SocketAddr::new(a.bind, a.port);
    stackperf_api::check_bind(&addr, a.allow_remote)?;
    let app = Arc::new(app(g)?);
    runtime()?.block_on(async {
        let token = app.api_token().await?;
        // Open the database first: a broken one is reported before anything listens.
        app.open_database().await?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::Usage(format!(
                "cannot listen on {addr}: {e}. Pick another --port (0 = any free port)."
            ))
        })?;
        let local = listener.local_addr()?;
        if g.json {
            print_json(&json!({"listening": format!("http://{local}"), "openapi": format!("http://{local}/api/v1/openapi.json")}))?;
        } else {
            println!("StackPerf API on http://{local}/api/v1 (token: `stackperf api token`; Ctrl-C stops)");
        }
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        stackperf_api::serve(listener, app, &token, stop).await?;
        Ok(())
    })
}

pub fn api(g: &Global, cmd: ApiCmd) -> Result<(), CliError> {
    let ApiCmd::Token { rotate } = cmd;
    let app = app(g)?;
    let token = runtime()?.block_on(async {
        if rotate {
            app.rotate_api_token().await
        } else {
            app.api_token().await
        }
    })?;
    // The one place the token is shown: the user asked for it, to put in a client.
    if g.json {
        print_json(&json!({"token": token.expose(), "rotated": rotate}))?;
    } else {
        println!("{}", token.expose());
    }
    Ok(())
}
