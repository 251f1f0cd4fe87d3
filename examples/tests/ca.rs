//! The rack's certificate authority through the command line: it is the rack's
//! identity (a deploy with a missing or different one changes nothing), and
//! `rack ca rotate` moves the rack to a new one on purpose.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use convox_examples::Environment;
use convox_model::inventory::ca_bundle;
use convox_model::name::Name;
use convox_model::tls::CertificateAuthority;

mod support;
use support::{Session, argv, convox_in, ok_in, words};

const NOW: i64 = 1_750_000_000;

/// A fresh directory holding the seed's convox.yml; the per-user configuration
/// directory is `config/` inside it.
struct Project(Session);

impl std::ops::Deref for Project {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

impl Project {
    fn new(name: &str) -> Self {
        Project(Session::project("ca", name))
    }

    fn env_with_config(&self, config: &str) -> Environment {
        let config = self.dir.join(config);
        Environment::in_dir(&self.dir).with_var("XDG_CONFIG_HOME", config.to_str().unwrap())
    }

    fn run(&self, env: &Environment, args: &[&str]) -> (i32, String, String) {
        convox_in(env, args)
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        ok_in(&self.env_with_config("config"), args)
    }

    fn default_ca(&self) -> PathBuf {
        self.dir.join("config/convox/racks/production/ca.pem")
    }

    /// Every file under the directory, with its contents.
    fn files(&self) -> BTreeSet<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut BTreeSet<(PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.insert((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.dir, &mut out);
        out
    }

    fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join(".convox/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The issuer of every certificate the rack owns, by domain.
    fn issuers(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut v: Vec<(String, String)> = state["certificates"]
            .as_object()
            .unwrap()
            .values()
            .filter(|c| c["tags"]["convox:rack"] == "production")
            .map(|c| {
                (
                    c["spec"]["domain"].as_str().unwrap().to_string(),
                    c["spec"]["issuer"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

fn fingerprint_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let (cert, key) = ca_bundle(&text).unwrap();
    CertificateAuthority::from_pem(&cert, &key)
        .unwrap()
        .fingerprint()
        .to_string()
}

const RACK: [&str; 2] = ["-r", "production"];

fn deploy(extra: &[&str]) -> Vec<String> {
    let words = words("deploy -a backend -r production --show-calls");
    extra.iter().chain(&words).map(|s| s.to_string()).collect()
}

/// `rack ca rotate -r production --new-ca FILE`.
fn rotate_to(new_ca: &str) -> [&str; 7] {
    [
        "rack",
        "ca",
        "rotate",
        "-r",
        "production",
        "--new-ca",
        new_ca,
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A deployed rack: Internal=Yes, the seed's app, the CA in the default place.
fn deployed(name: &str) -> Project {
    let p = Project::new(name);
    let (_, err) = p.ok(&["rack", "params", "set", "Internal=Yes", RACK[0], RACK[1]]);
    assert!(
        err.contains("Generated the rack's certificate authority"),
        "{err}"
    );
    assert!(err.contains(&p.default_ca().display().to_string()), "{err}");
    p.ok(&strs(&deploy(&[])));
    p
}

#[test]
fn a_deploy_with_a_missing_or_different_ca_exits_1_changing_nothing() {
    let p = deployed("refused");
    let expected = fingerprint_of(&p.default_ca());
    let before = p.files();

    // Missing: another machine, whose configuration directory has no CA.
    let elsewhere = p.env_with_config("other-config");
    let (code, out, err) = p.run(&elsewhere, &strs(&deploy(&[])));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&expected),
        "names the CA the rack expects: {err}"
    );
    assert!(err.contains("--ca FILE"), "{err}");
    assert!(err.contains("convox rack ca rotate"), "{err}");
    assert!(
        err.contains("backend calls: ") && err.contains(", 0 mutating"),
        "{err}"
    );
    assert!(!err.contains("Generated"), "{err}");
    assert_eq!(p.files(), before, "no file written or changed");

    // Different: another authority given with --ca.
    let other = p.dir.join("other.pem");
    let ca = CertificateAuthority::generate(&Name::new("production").unwrap(), NOW).unwrap();
    std::fs::write(&other, format!("{}{}", ca.cert_pem(), ca.key_pem())).unwrap();
    let before = p.files();
    let ca_flag = ["--ca", other.to_str().unwrap()];
    let (code, _, err) = p.run(&p.env_with_config("config"), &strs(&deploy(&ca_flag)));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&expected) && err.contains(ca.fingerprint()),
        "{err}"
    );
    assert!(
        err.contains("It was recorded on "),
        "says where it was created: {err}"
    );
    assert!(err.contains(&p.default_ca().display().to_string()), "{err}");
    assert!(err.contains(", 0 mutating"), "{err}");
    // plan and rack params set refuse it too.
    for args in [
        vec!["plan", "-a", "backend", "-r", "production"],
        vec!["rack", "params", "set", "Internal=Yes", "-r", "production"],
    ] {
        let mut argv = ca_flag.to_vec();
        argv.extend(args);
        argv.push("--show-calls");
        let (code, _, err) = p.run(&p.env_with_config("config"), &argv);
        assert_eq!(code, 1, "{argv:?}: {err}");
        assert!(
            err.contains(&expected) && err.contains(", 0 mutating"),
            "{err}"
        );
    }
    assert_eq!(p.files(), before, "no file written or changed");

    // With its own CA the rack is as it was.
    let (out, _) = p.ok(&["plan", "-a", "backend", "-r", "production"]);
    assert!(out.starts_with("No changes."), "{out}");
}

#[test]
fn rotation_moves_every_certificate_to_the_new_ca_and_refuses_the_old() {
    let p = deployed("rotate");
    let old = fingerprint_of(&p.default_ca());
    let issuers = p.issuers();
    assert!(issuers.len() >= 2, "{issuers:?}");
    assert!(issuers.iter().all(|(_, i)| *i == old), "{issuers:?}");

    let new_ca = p.dir.join("keys/new-ca.pem");
    let new_flag = new_ca.to_str().unwrap();
    let (out, err) = p.ok(&rotate_to(new_flag));
    assert!(
        err.contains("Generated the rack's certificate authority"),
        "{err}"
    );
    assert!(err.contains("trust both"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_ca).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let new = fingerprint_of(&new_ca);
    assert!(out.contains(&format!("from {old} to {new}")), "{out}");
    let after = p.issuers();
    assert_eq!(
        after.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        issuers.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        "the same names, no certificate left behind"
    );
    assert!(after.iter().all(|(_, i)| *i == new), "{after:?}");

    // The plan is empty with the new CA; the old one is refused.
    let (out, _) = p.ok(&argv(&["--ca", new_flag], "plan -a backend -r production"));
    assert!(out.starts_with("No changes."), "{out}");
    let (code, _, err) = p.run(&p.env_with_config("config"), &strs(&deploy(&[])));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&new) && err.contains(", 0 mutating"), "{err}");

    // Run again, it changes nothing.
    let (out, _) = p.ok(&rotate_to(new_flag));
    assert!(out.contains("0 certificates re-issued"), "{out}");
}

#[test]
fn rotation_of_a_rack_never_created_is_refused_before_generating_anything() {
    let p = Project::new("no-rack");
    let new_ca = p.dir.join("new.pem");
    let (code, _, err) = p.run(
        &p.env_with_config("config"),
        &rotate_to(new_ca.to_str().unwrap()),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has not been set up yet"), "{err}");
    assert!(!new_ca.exists());
}

#[test]
fn without_a_home_the_ca_needs_ca() {
    let p = Project::new("no-home");
    let (code, _, err) = p.run(
        &Environment::in_dir(&p.dir),
        &["rack", "params", "set", "Internal=Yes", RACK[0], RACK[1]],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--ca FILE"), "{err}");
    assert!(!p.dir.join(".convox").exists(), "nothing written");
}
