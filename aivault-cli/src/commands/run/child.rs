//! The child of `aivault run`: started with the environment `run` composed, waited for, its
//! exit code passed through (128+N when signal N ended it, like a shell), and the signals
//! `run` receives passed on.
//!
//! SIGTERM and SIGHUP are always passed on. SIGINT and SIGQUIT are passed on unless `run` is
//! in the terminal's foreground process group: a key press (Ctrl-C, Ctrl-\) already reached
//! the child, which shares that group, and a second copy would read as a second press (many
//! tools quit on a double Ctrl-C).

use std::ffi::OsString;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};

use aivault_core::{Error, ErrorKind, Result};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// Runs `program` with exactly `env` and returns its exit code.
///
/// # Errors
/// `not_found` when the program does not exist; `io` when it cannot be started or waited
/// for (the child is killed then).
pub fn run(program: &[String], env: Vec<(OsString, OsString)>) -> Result<u8> {
    let (name, args) = program
        .split_first()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "aivault run: no command given"))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        .map_err(|e| internal(format!("cannot watch signals: {e}")))?;
    let handle = signals.handle();
    let child = Command::new(name)
        .args(args)
        .env_clear()
        .envs(env)
        .spawn()
        .map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            };
            Error::new(
                kind,
                format!("aivault run: cannot start '{}': {e}", printable(name)),
            )
        })?;
    let pid = Pid::from_child(&child);
    let mut child = Reaper(Some(child));
    // Set once the child has exited but before it is reaped: while it is a zombie its pid
    // cannot be reused, so a signal is never sent to a stranger.
    let exited = Arc::new(Mutex::new(false));
    let forwarder = {
        let exited = Arc::clone(&exited);
        std::thread::Builder::new()
            .name("aivault-run-signals".into())
            .spawn(move || {
                for number in signals.forever() {
                    let from_terminal =
                        matches!(number, SIGINT | SIGQUIT) && in_terminal_foreground();
                    let Some(signal) = signal(number) else {
                        continue;
                    };
                    let done = exited.lock().unwrap_or_else(|p| p.into_inner());
                    if *done {
                        break;
                    }
                    if !from_terminal {
                        let _ = rustix::process::kill_process(pid, signal);
                    }
                }
            })
            .map_err(|e| internal(format!("cannot start the signal thread: {e}")))?
    };
    let status = wait(&mut child, pid, &exited);
    handle.close();
    let _ = forwarder.join();
    status.map(exit_code)
}

/// Waits until the child has exited, marks it exited, then reaps it.
fn wait(child: &mut Reaper, pid: Pid, exited: &Mutex<bool>) -> Result<ExitStatus> {
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io(format!("cannot wait for the command: {e}"))),
        }
    }
    *exited.lock().unwrap_or_else(|p| p.into_inner()) = true;
    let status = child
        .0
        .take()
        .map(|mut c| c.wait())
        .transpose()
        .map_err(|e| io(format!("cannot wait for the command: {e}")))?;
    status.ok_or_else(|| internal("the command was already reaped".into()))
}

/// The exit code a shell would give: the child's, or 128+N when signal N ended it.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + signal).min(255) as u8,
        (None, None) => 1,
    }
}

/// Whether this process is in the foreground process group of its controlling terminal
/// (where Ctrl-C and Ctrl-\ reach every member, the child included).
fn in_terminal_foreground() -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false;
    };
    rustix::termios::tcgetpgrp(&tty).is_ok_and(|group| group == rustix::process::getpgrp())
}

fn signal(number: i32) -> Option<Signal> {
    match number {
        SIGINT => Some(Signal::INT),
        SIGTERM => Some(Signal::TERM),
        SIGHUP => Some(Signal::HUP),
        SIGQUIT => Some(Signal::QUIT),
        _ => None,
    }
}

/// Kills and reaps the child unless it was waited for: `run` never leaves it running when it
/// fails (or panics) itself.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command name as shown in a message: control characters escaped.
fn printable(text: &str) -> String {
    text.escape_debug().to_string()
}

fn io(message: String) -> Error {
    Error::new(ErrorKind::Io, format!("aivault run: {message}"))
}

fn internal(message: String) -> Error {
    Error::new(ErrorKind::Internal, format!("aivault run: {message}"))
}
