//! Marks whether the AWS emulator is there (`scripts/test.sh` sets `CONVOX_MOTO`),
//! so that without it the tests that need it are listed as ignored, with the
//! reason, in plain `cargo test` output instead of passing silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(moto)");
    println!("cargo::rerun-if-env-changed=CONVOX_MOTO");
    if std::env::var_os("CONVOX_MOTO").is_some() {
        println!("cargo::rustc-cfg=moto");
    }
}
