//! The Debian package: made by the Makefile's `deb-package` (cargo-deb, as `make deb` does)
//! from the binary of this build, then read with dpkg-deb: files, control fields,
//! conffiles, maintainer scripts, and the packaged unit verified in the package's tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{files, make, pkg, read, run_ok, verify_unit};
use crate::common::edge::binary;

/// Every file the package installs.
const CONTENTS: &[&str] = &[
    "etc/edgeproxy/edgeproxy.toml",
    "etc/edgeproxy/templates/product.hbs",
    "etc/logrotate.d/edgeproxy",
    "usr/bin/edgeproxy",
    "usr/lib/systemd/system/edgeproxy.service",
    "usr/share/doc/edgeproxy/README.md",
    "usr/share/doc/edgeproxy/copyright",
    "usr/share/doc/edgeproxy/install.md",
    "usr/share/edgeproxy/examples/admin.toml",
    "usr/share/edgeproxy/examples/api-gateway.toml",
    "usr/share/edgeproxy/examples/distribution.toml",
    "usr/share/edgeproxy/examples/edge.toml",
    "usr/share/edgeproxy/examples/gateway-plugins.toml",
    "usr/share/edgeproxy/examples/gray-release.toml",
    "usr/share/edgeproxy/examples/hot.toml",
    "usr/share/edgeproxy/examples/keys/jwks.json",
    "usr/share/edgeproxy/examples/lists/deny.txt",
    "usr/share/edgeproxy/examples/rate-limit.toml",
    "usr/share/edgeproxy/examples/redis-cluster.toml",
    "usr/share/edgeproxy/examples/response-cache.toml",
    "usr/share/edgeproxy/templates/product.hbs",
];

/// Kept across upgrades and `dpkg -r`, removed by `dpkg -P`.
const CONFFILES: &[&str] = &[
    "/etc/edgeproxy/edgeproxy.toml",
    "/etc/edgeproxy/templates/product.hbs",
    "/etc/logrotate.d/edgeproxy",
];

/// Makes the package into `out` with `make deb-package` from this build's binary: a
/// target dir of its own (beside this build's, so a hard link does) holds it as the
/// `release` build cargo-deb packages. Returns the `.deb`.
pub(super) fn build_deb(out: &Path) -> PathBuf {
    let target_dir = binary()
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/");
    let fake = tempfile::Builder::new()
        .prefix("deb-test-")
        .tempdir_in(target_dir)
        .expect("tempdir in the target dir");
    let release = fake.path().join("release");
    std::fs::create_dir(&release).expect("mkdir");
    let bin = release.join("edgeproxy");
    if std::fs::hard_link(binary(), &bin).is_err() {
        std::fs::copy(binary(), &bin).expect("copy the binary");
    }
    make(&[
        "deb-package",
        &format!("CARGO_TARGET_DIR={}", fake.path().display()),
        "DEB_PROFILE=release",
        "DEB_FLAGS=--fast --quiet",
        &format!("DEB_DIR={}", out.display()),
    ]);
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("the output dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one package expected in {}", out.display());
    debs[0].clone()
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = run_ok(Command::new("dpkg-deb").args(args).arg(deb));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The postinst without its own EDGEPROXY_START block (the one way it starts the service).
fn without_opt_in_start(postinst: &str) -> String {
    let start = postinst
        .find("EDGEPROXY_START:-")
        .expect("the opt-in start block");
    let block_end = postinst[start..].find("\nfi").expect("its end") + start;
    format!("{}{}", &postinst[..start], &postinst[block_end..])
}

#[test]
fn debian_package_holds_the_files_conffiles_and_maintainer_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deb = build_deb(&dir.path().join("out"));

    // Files, with their modes, owned by root.
    let listing = dpkg_deb(&["-c"], &deb);
    let mut contents: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last()?.strip_prefix("./"))
        .collect();
    contents.sort();
    assert_eq!(contents, CONTENTS, "{listing}");
    for l in listing.lines().filter(|l| l.starts_with('-')) {
        assert!(l.contains(" 0/0 "), "not owned by root: {l}");
        let exec = l.ends_with("./usr/bin/edgeproxy");
        assert_eq!(l.starts_with("-rwxr-xr-x"), exec, "{l}");
    }

    // Control fields: the name, shared-library dependencies found by cargo-deb.
    let field = |f: &str| {
        dpkg_deb(&["-f"], &deb)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{f}: ")).map(str::to_string))
    };
    assert_eq!(field("Package").as_deref(), Some("edgeproxy"));
    let depends = field("Depends").unwrap_or_default();
    assert!(
        depends.contains("libc6") && depends.contains("libssl3"),
        "{depends}"
    );

    // Conffiles and maintainer scripts.
    let ctl = dir.path().join("control");
    run_ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctl));
    let conffiles = read(&ctl.join("conffiles"));
    let mut listed: Vec<&str> = conffiles.lines().collect();
    listed.sort();
    assert_eq!(listed, CONFFILES);
    for script in ["postinst", "prerm", "postrm"] {
        run_ok(Command::new("sh").arg("-n").arg(ctl.join(script)));
    }
    let postinst = read(&ctl.join("postinst"));
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(postinst.contains("useradd --system"), "{postinst}");
    assert!(postinst.contains("install -d -m 0750 -o edgeproxy -g edgeproxy /var/log/edgeproxy"));
    // Not enabled on install (re-enabled on upgrade only if it was), never started on
    // install unless EDGEPROXY_START=1; restarted on upgrade only if it runs.
    assert!(postinst.contains("deb-systemd-helper debian-installed edgeproxy.service"));
    assert!(postinst.contains("deb-systemd-invoke try-restart edgeproxy.service"));
    let rest = without_opt_in_start(&postinst);
    assert!(
        !rest.contains("invoke start") && !rest.contains("_dh_action=start"),
        "{rest}"
    );
    let prerm = read(&ctl.join("prerm"));
    assert!(
        prerm.contains("\"$1\" = remove"),
        "stops on remove only: {prerm}"
    );
    let postrm = read(&ctl.join("postrm"));
    assert!(postrm.contains("rm -rf /var/log/edgeproxy"), "{postrm}");

    // The packaged files are the shipped ones, and the unit verifies where it lands.
    let root = dir.path().join("root");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    assert_eq!(files(&root).len(), CONTENTS.len());
    for (shipped, at) in [
        ("edgeproxy.toml", "etc/edgeproxy/edgeproxy.toml"),
        (
            "edgeproxy.service",
            "usr/lib/systemd/system/edgeproxy.service",
        ),
        ("edgeproxy.logrotate", "etc/logrotate.d/edgeproxy"),
    ] {
        assert_eq!(read(&root.join(at)), read(&pkg(shipped)), "{at}");
    }
    let said = verify_unit(&root, "/usr/lib/systemd/system/edgeproxy.service");
    assert_eq!(said, "", "systemd-analyze verify is not clean");
}
