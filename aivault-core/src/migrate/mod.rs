//! `aivault migrate`: moving over from the original aivault tool. [`OriginalVault`] reads a
//! vault in the original's layout (never writing to it) and [`Vault::migrate`] imports its
//! secrets, custom credentials, capabilities, policies and bindings in one transaction.
//! [`find_original_layout`] lets a wrapper point a user at `migrate` when it finds one.
//!
//! [`Vault::migrate`]: crate::Vault::migrate

mod import;
mod layout;
mod mapping;

pub use import::{MigratedItem, MigrationReport};
pub use layout::{
    OriginalKeyProvider, OriginalVault, SourceKey, check_target, default_original_dir,
    find_original_layout, is_original_layout,
};
