//! What the CLI's tests that read an SVG file share: python3's XML parser (a strict one: a
//! malformed file fails) runs a script on the file, whose lines of output they check.

use std::path::Path;
use std::process::Command;

/// The lines `script` prints about `file` (its `sys.argv[1]`), or a failure that says the file
/// is no valid SVG.
pub fn python_on_svg(script: &str, file: &Path) -> Vec<String> {
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{} is not a valid SVG: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
