//! kcpq-std must not pull an async runtime into its users' builds: checks the normal
//! dependency tree (offline, from the lock file). `mio` is allowed: kcpq-std's I/O threads
//! sleep in its poller (readiness of a socket and a waker, no executor, no tasks, no futures);
//! the runtimes built on it (tokio) are not.

use std::process::Command;

#[test]
fn no_async_runtime_in_the_dependency_tree() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "kcpq-std",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"kcpq-core"), "unexpected tree:\n{tree}");
    for banned in [
        "smol",
        "tokio",
        "async-io",
        "async-std",
        "futures",
        "futures-lite",
    ] {
        assert!(
            !crates.contains(&banned),
            "{banned} is in kcpq-std's dependency tree:\n{tree}"
        );
    }
    for name in &crates {
        assert!(
            !name.starts_with("async-"),
            "{name} is in kcpq-std's dependency tree"
        );
        assert!(
            !name.starts_with("futures"),
            "{name} is in kcpq-std's dependency tree"
        );
    }
}
