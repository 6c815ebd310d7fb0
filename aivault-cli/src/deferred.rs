//! Arguments built only when they are needed.
//!
//! clap's derive builds the arguments of every subcommand before it parses anything: at each
//! start of `aivault` that was ~8 % of the process (allocating and then dropping a hundred
//! commands' arguments), to run one of them. Wrapped in `Deferred`, a subcommand's arguments
//! are built when the command line names that subcommand, or when help or a completion script
//! needs every command (clap builds deferred parts then); parsing and help are unchanged.
//! A completion script is the exception: clap copies the tree of subcommands into its `help`
//! subcommand before deferred parts are built, so `completions` asks for an eager tree
//! ([`build_eagerly`]).

use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgMatches, Args, Command, FromArgMatches, Id, Subcommand};

/// Set by [`build_eagerly`]: `Deferred` then builds at once, like plain clap.
static EAGER: AtomicBool = AtomicBool::new(false);

/// Makes every later `Deferred` build its part at once (for a completion script, which must
/// list `aivault help <command> <subcommand>` too).
pub fn build_eagerly() {
    EAGER.store(true, Ordering::Relaxed);
}

/// `augment` now, or when clap builds `cmd`.
fn augment_later(cmd: Command, augment: fn(Command) -> Command) -> Command {
    if EAGER.load(Ordering::Relaxed) {
        augment(cmd)
    } else {
        cmd.defer(augment)
    }
}

/// `T`'s arguments or subcommands, built on first use.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Self)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Self)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<Id> {
        T::group_id()
    }

    fn augment_args(cmd: Command) -> Command {
        augment_later(cmd, |cmd| keeping_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        augment_later(cmd, |cmd| keeping_about(cmd, T::augment_args_for_update))
    }
}

impl<T: Subcommand> Subcommand for Deferred<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        augment_later(cmd, |cmd| keeping_about(cmd, T::augment_subcommands))
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        augment_later(cmd, |cmd| {
            keeping_about(cmd, T::augment_subcommands_for_update)
        })
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// Runs `augment` on `cmd`, keeping the about text the enclosing variant gave `cmd`. Without
/// deferring, the derive sets the variant's doc comment after `T`'s own (`T`'s struct doc);
/// a deferred `augment` runs last, so the variant's text is put back.
fn keeping_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    match (about, long_about) {
        (None, _) => cmd,
        (Some(about), Some(long_about)) => cmd.about(about).long_about(long_about),
        (Some(about), None) => cmd.about(about).long_about(None::<&str>),
    }
}
