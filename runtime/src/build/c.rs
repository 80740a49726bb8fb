//! C skills: bindings from the contract with `wit-bindgen-c`, compiled by
//! clang against wasi-libc as a WASI preview1 reactor, then made a component
//! with `wit-component` and the preview1 reactor adapter (`component.rs`).

use super::{BuildError, component, find_tool, run, wit};
use std::path::Path;
use std::process::Command;

const INSTALL: &str = "on Debian/Ubuntu: `sudo apt-get install --no-install-recommends clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc` (or set CHITIN_CLANG to a clang with a wasm32-wasi sysroot)";

/// Build `dir/*.c` into `out`.
pub fn build(dir: &Path, out: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    let clang = find_tool("CHITIN_CLANG", &["clang-19", "clang"]).ok_or_else(|| {
        BuildError::MissingTool {
            tool: "clang".into(),
            hint: INSTALL.into(),
        }
    })?;
    let scratch = tempfile::tempdir().map_err(BuildError::io(dir))?;
    let wit_dir = wit::locate(dir, scratch.path())?;
    let gen_dir = scratch.path().join("gen");
    progress("wit-bindgen-c: C bindings for chitin:skill");
    bindgen(&wit_dir, &gen_dir)?;
    let mut sources: Vec<_> = std::fs::read_dir(dir)
        .map_err(BuildError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let core = scratch.path().join("skill.core.wasm");
    progress("clang: compiling for wasm32-wasi (reactor)");
    let mut cmd = Command::new(&clang);
    cmd.args([
        "--target=wasm32-wasi",
        "-mexec-model=reactor",
        "-Os",
        "-s",
        "-Wall",
    ])
    .arg("-I")
    .arg(&gen_dir)
    .arg("-o")
    .arg(&core)
    .args(&sources)
    .arg(gen_dir.join("skill.c"))
    .arg(gen_dir.join("skill_component_type.o"));
    run("clang", &mut cmd).map_err(|e| match e {
        BuildError::Failed { output, .. } => match missing_piece(&output) {
            Some(piece) => BuildError::MissingTool {
                tool: piece.into(),
                hint: format!("{INSTALL}\nclang said:\n{output}"),
            },
            None => BuildError::Failed {
                step: "clang".into(),
                output,
            },
        },
        other => other,
    })?;
    progress("wit-component: making the component");
    let module = std::fs::read(&core).map_err(BuildError::io(&core))?;
    component::componentize(&module, out)
}

/// Which part of the wasm32 C toolchain clang's output says is missing.
fn missing_piece(output: &str) -> Option<&'static str> {
    const MARKERS: &[(&str, &str)] = &[
        ("\"wasm-ld\"", "wasm-ld (Debian package lld-19)"),
        (
            "libclang_rt.builtins-wasm32",
            "the wasm32 compiler runtime (Debian package libclang-rt-19-dev-wasm32)",
        ),
        ("unable to find library -lc", "wasi-libc"),
        ("'stdlib.h' file not found", "wasi-libc"),
        ("'string.h' file not found", "wasi-libc"),
        ("'stdio.h' file not found", "wasi-libc"),
    ];
    MARKERS
        .iter()
        .find(|(marker, _)| output.contains(marker))
        .map(|(_, piece)| *piece)
}

fn bindgen(wit_dir: &Path, out: &Path) -> Result<(), BuildError> {
    let (mut resolve, world) = component::skill_world(wit_dir)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| BuildError::Wit(e.to_string()))?;
    std::fs::create_dir_all(out).map_err(BuildError::io(out))?;
    for (name, contents) in files.iter() {
        let p = out.join(name);
        std::fs::write(&p, contents).map_err(BuildError::io(&p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::missing_piece;

    #[test]
    fn clangs_complaints_name_the_missing_package() {
        let table = [
            (
                "clang: error: unable to execute command: Executable \"wasm-ld\" doesn't exist!",
                Some("wasm-ld (Debian package lld-19)"),
            ),
            (
                "wasm-ld: error: cannot open /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a: No such file or directory",
                Some("the wasm32 compiler runtime (Debian package libclang-rt-19-dev-wasm32)"),
            ),
            (
                "skill.c:3:10: fatal error: 'stdlib.h' file not found",
                Some("wasi-libc"),
            ),
            ("skill.c:9:3: error: use of undeclared identifier 'x'", None),
            ("skill.c:3:10: fatal error: 'mylib.h' file not found", None),
        ];
        for (output, expected) in table {
            assert_eq!(missing_piece(output), expected, "{output}");
        }
    }
}
