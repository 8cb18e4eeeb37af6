//! CURVE key pairs for the tests, made by the programs themselves.

use std::path::Path;

/// The value of `name = "…"` in a key file's text (`public-key`, `secret-key`).
pub fn key_line(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name} = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Runs `campub keygen STEM` or `camview --keygen STEM`, checks it worked; returns the public
/// key it printed.
pub fn keygen(program: &str, stem: &Path) -> String {
    let out = match program {
        "campub" => crate::bin::campub()
            .arg("keygen")
            .arg(stem)
            .output()
            .unwrap(),
        _ => crate::bin::camview()
            .arg("--keygen")
            .arg(stem)
            .output()
            .unwrap(),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} keygen: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {stdout}"))
        .to_string()
}
