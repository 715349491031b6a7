//! What a person sees in a terminal: the real binary runs inside tmux, and
//! the test reads the screen with `capture-pane`, as a user would look.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rangeget_test_origin::Origin;
use support::*;

fn tmux(args: &[&str]) -> String {
    let output = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is installed (apt-get install tmux; scripts/test installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A detached tmux session, killed when the test ends.
struct Session(String);

impl Session {
    fn start(name: &str, command: &str) -> Session {
        let session = Session(format!("rangeget-{name}-{}", std::process::id()));
        // The pane stays alive after the command, as a user's terminal does:
        // tmux redraws a dead pane (remain-on-exit), which shifts its lines.
        let keep_alive = format!("{command}; sleep 60");
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "120",
            "-y",
            "20",
            &keep_alive,
        ]);
        session
    }

    fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    /// Polls the screen until `predicate` holds (bounded).
    fn wait_for(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if predicate(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[test]
fn progress_bar_is_drawn_on_a_terminal_and_replaced_by_the_summary() {
    let origin = Origin::start();
    let dir = Scratch::new("tmux");
    let url = origin.url("/o/tty.bin?size=6M&fault=throttle&rate=1M");
    let command = format!(
        "'{}' '{url}' -o '{}' --chunk-size 512K; echo EXIT=$?",
        env!("CARGO_BIN_EXE_rangeget"),
        dir.arg("tty.bin")
    );
    let session = Session::start("bar", &command);

    let during = session.wait_for("the progress bar", |s| {
        s.contains("ETA") && s.contains("MiB")
    });
    eprintln!("during the download:\n{during}");
    assert!(
        during.contains("connections"),
        "connections in use are shown:\n{during}"
    );
    assert!(
        !during.contains("saved"),
        "no summary before the end:\n{during}"
    );

    let after = session.wait_for("the exit status", |s| s.contains("EXIT="));
    eprintln!("after the download:\n{after}");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(
        after.contains("saved ") && after.contains("tty.bin (6.0 MiB)"),
        "{after}"
    );
    assert!(
        !after.contains("ETA"),
        "the bar is cleared at the end:\n{after}"
    );
    assert_downloaded(&dir, "tty.bin", "tty.bin", 0, 6 * MIB);
}

#[test]
fn nothing_but_the_summary_when_stderr_is_not_a_terminal() {
    let origin = Origin::start();
    let dir = Scratch::new("notty");
    let url = origin.url("/o/notty.bin?size=2M&fault=throttle&rate=2M");
    let output = run(&[&url, "-o", &dir.arg("notty.bin")]);
    assert_success(&output);
    assert!(
        output.stderr.is_empty(),
        "no progress on a pipe: {}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout).lines().count(), 1, "one summary line");
}

#[test]
fn a_batch_shows_files_done_and_under_way_then_only_its_summary() {
    let origin = Origin::start();
    let dir = Scratch::new("tmux-batch");
    let urls: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "'{}'",
                origin.url(&format!("/o/t{i}.bin?size=2M&fault=throttle&rate=1M"))
            )
        })
        .collect();
    let command = format!(
        "'{}' {} -d '{}' -j 2; echo EXIT=$?",
        env!("CARGO_BIN_EXE_rangeget"),
        urls.join(" "),
        dir.arg("")
    );
    let session = Session::start("batch", &command);

    let during = session.wait_for("the batch's bar", |s| s.contains("/4 files"));
    eprintln!("during the batch:\n{during}");
    assert!(
        during.contains("t0.bin") || during.contains("t1.bin"),
        "the files under way are named:\n{during}"
    );
    if during.contains("0/4 files") {
        // No file done yet: no rate to tell the end by.
        assert!(during.contains("ETA    -"), "no made-up ETA:\n{during}");
    }

    let after = session.wait_for("the exit status", |s| s.contains("EXIT="));
    eprintln!("after the batch:\n{after}");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(after.contains("4 files: 4 saved"), "{after}");
    assert!(
        !after.contains("ETA"),
        "the bar is cleared at the end:\n{after}"
    );
    for i in 0..4 {
        let name = format!("t{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 2 * MIB);
    }
}
