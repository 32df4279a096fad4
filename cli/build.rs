//! Release (and `dist`) builds of `edgeproxy` lay out the code requests run together: the
//! binary is linked by rust-lld (shipped with rustup's toolchains) with a
//! `--symbol-ordering-file` made from `hot-symbols.txt`, the functions that ran while
//! edgeproxy answered the benchmark's requests (made by bench/hot_order.py). The default
//! layout spreads them over nearly every 64–128 KiB of the 16 MB of text, and the kernel
//! maps file pages in such blocks, so ~9 MiB of text stayed resident; laid out together,
//! ~4 MiB, and 20 % more local answers per second (BENCHMARKS.md, "Memory at small working
//! sets", "A stale code-layout list").
//!
//! `hot-symbols.txt` names functions *demangled* (`nm -C`: no symbol hash, no thin LTO
//! `.llvm.N` suffix), because the mangled names change with every code change, build
//! profile and toolchain, and a list of mangled names went stale within a day (the one made
//! from a `release` build matched 284 of its 8,119 names in the `dist` build). The linker
//! wants mangled names, so the link step runs under a small wrapper (gcc's `-wrapper`, a
//! script in OUT_DIR): it links once, maps the list to this binary's own symbols with
//! binutils' `nm`, and links again in that order. (A `-B` directory with an `ld.lld` of our
//! own does not work: since Rust 1.90 rustc passes its own `-B` for rust-lld first.) Only
//! the order changes: without rust-lld or `nm`, in dev builds, or with
//! `EDGEPROXY_DEFAULT_LAYOUT` set, the link is the default one.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=EDGEPROXY_DEFAULT_LAYOUT");
    if std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var_os("EDGEPROXY_DEFAULT_LAYOUT").is_some()
    {
        return;
    }
    let (Some(manifest), Some(out)) = (
        std::env::var_os("CARGO_MANIFEST_DIR"),
        std::env::var_os("OUT_DIR"),
    ) else {
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
    let wrapper = Path::new(&out).join("layout-link");
    if let Err(e) = write_wrapper(&wrapper, &order) {
        println!("cargo:warning=layout link wrapper not written ({e}): the default code layout");
        return;
    }
    for arg in [
        "-fuse-ld=lld".to_string(),
        format!("-B{}", gcc_ld.display()),
        "-wrapper".to_string(),
        wrapper.display().to_string(),
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

/// Writes the `-wrapper` script `path`: gcc's other steps run as they are; the link runs,
/// then, when the list maps to any of the output's symbols, runs again with them as the
/// symbol order (see the module doc).
fn write_wrapper(path: &Path, list: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, WRAPPER.replace("@LIST@", &quote(list)))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// `p` as one single-quoted shell word.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// The wrapper (POSIX sh, awk, binutils' nm). Symbols of the output are keyed by their
/// demangled name, with a legacy `::h<hash>` and a `.llvm.N` suffix removed; every symbol
/// of a listed name is laid out, in the list's order.
const WRAPPER: &str = r#"#!/bin/sh
# Made by edgeproxy's cli/build.rs (gcc -wrapper): the link in the code order of
# cli/hot-symbols.txt. "$@" is a step gcc runs; only the link (collect2) is changed.
list=@LIST@
case "$1" in
  collect2 | */collect2) ;;
  *) exec "$@" ;;
esac
out= prev=
for a in "$@"; do
  [ "$prev" = "-o" ] && out=$a
  prev=$a
done
"$@" || exit $?
[ -n "$out" ] && [ -f "$list" ] && command -v nm >/dev/null 2>&1 || exit 0
tmp="$out.layout.$$"
# -p: symbol-table order, the same in both listings, so their lines pair up.
if nm -p --defined-only "$out" > "$tmp.raw" 2>/dev/null &&
   nm -p --defined-only -C "$out" > "$tmp.dem" 2>/dev/null; then
  paste -d '\t' "$tmp.raw" "$tmp.dem" | awk -F '\t' -v list="$list" '
    {
      n = split($1, a, " ")
      if (n < 3 || a[2] !~ /^[tTwW]$/) next
      d = $2
      sub(/^[^ ]+ [^ ]+ /, "", d)
      sub(/\.llvm\.[0-9]+$/, "", d)
      sub(/::h[0-9a-f]+$/, "", d)
      if (d in syms) syms[d] = syms[d] "\n" a[3]; else syms[d] = a[3]
    }
    END {
      while ((getline name < list) > 0)
        if ((name in syms) && !(name in done)) { print syms[name]; done[name] = 1 }
    }' > "$tmp.order"
fi
if [ -s "$tmp.order" ]; then
  "$@" --symbol-ordering-file="$tmp.order" --no-warn-symbol-ordering || "$@"
  status=$?
else
  status=0
fi
rm -f "$tmp.raw" "$tmp.dem" "$tmp.order"
exit $status
"#;
