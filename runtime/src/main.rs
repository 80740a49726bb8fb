//! The `chitin` command.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    chitin::capabilities::descriptors::raise_process_limit();
    let args = cli::Cli::parse();
    let filter = match args.verbose {
        // The MCP SDK logs transport failures that Chitin reports itself.
        0 => "warn,rmcp=off",
        1 => "info,chitin::audit=info,rmcp=warn",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHITIN_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Errors quote files, packages and skills: never raw to the terminal.
            eprintln!(
                "error: {}",
                chitin::text::clean(&chitin::text::error_chain(e.as_ref()))
            );
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}

/// `chitin skill tools x | head -1`: when the reader of stdout goes away,
/// `println!` panics with "Broken pipe". End quietly with the status a
/// SIGPIPE would give (141), as other command-line tools do.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload_as_str().unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
