//! Release (and `dist`) builds of `edgeproxy` lay out the code requests run together: the
//! binary is linked by rust-lld (shipped with rustup's toolchains) with
//! `--symbol-ordering-file=hot-symbols.txt`, the functions that ran while edgeproxy answered
//! the benchmark's requests (made by bench/hot_order.py). The default layout spreads them
//! over nearly every 64–128 KiB of the 16 MB of text, and the kernel maps file pages in such
//! blocks, so ~9 MiB of text stayed resident; laid out together, ~4 MiB
//! (BENCHMARKS.md, "Memory at small working sets"). Only the order changes: a stale list
//! costs memory, never correctness. Without rust-lld, or in dev builds, the link is the
//! default one.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=EDGEPROXY_DEFAULT_LAYOUT");
    if std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var_os("EDGEPROXY_DEFAULT_LAYOUT").is_some()
    {
        return;
    }
    let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&manifest).join("hot-symbols.txt");
    let Some(gcc_ld) = lld_dir() else {
        println!("cargo:warning=rust-lld not found: the default code layout (more text resident)");
        return;
    };
    if !order.exists() {
        return;
    }
    for arg in [
        "-fuse-ld=lld".to_string(),
        format!("-B{}", gcc_ld.display()),
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ] {
        println!("cargo:rustc-link-arg-bin=edgeproxy={arg}");
    }
}

/// The toolchain's `gcc-ld` directory (an `ld.lld` that runs rust-lld), when it is there.
fn lld_dir() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let target = std::env::var("TARGET").ok()?;
    let dir = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld");
    dir.join("ld.lld").exists().then_some(dir)
}
