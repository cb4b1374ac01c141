//! The conformance suite: one check per clause of the [`Store`](aqueduct_core::store::Store)
//! contract, run against every backend by
//! [`store_conformance_tests!`](crate::store_conformance_tests).
//!
//! Each check is a plain `pub async fn(&SqlStore)` in a submodule per area, so it is compiled
//! (and type-checked) once; the macro only stamps out one `#[tokio::test]` per check in the
//! caller's crate. Every check gets a fresh, empty store.

mod audit;
mod custom_emoji;
mod fixtures;
mod hub;
mod inbox;
mod login;
mod message;
mod portal;
mod reaction;
mod rooms;
mod secrets;

pub use audit::*;
pub use custom_emoji::*;
pub use hub::*;
pub use inbox::*;
pub use login::*;
pub use message::*;
pub use portal::*;
pub use reaction::*;
pub use rooms::*;
pub use secrets::*;

use crate::SqlStore;
use std::borrow::Borrow;

/// Expands to one `#[tokio::test]` per contract clause.
///
/// `store_conformance_tests!(make_store)` where `async fn make_store() -> S` returns a fresh,
/// empty store; `S` is a [`SqlStore`](crate::SqlStore) or anything that
/// `Borrow<SqlStore>`s, such as a guard that also owns the temporary directory or schema.
/// `store_conformance_tests!(make_store, teardown)` also calls `async fn teardown(S)` after a
/// check passes (a failing check panics before it; clean up stale leftovers elsewhere). The
/// calling crate needs `tokio` with the `macros` and `rt` features.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:path $(,)?) => {
        $crate::store_conformance_tests!($make, $crate::conformance::close);
    };
    ($make:path, $teardown:path $(,)?) => {
        $crate::__store_conformance_cases! {
            $make, $teardown;
            inbox_repeated_txn_id_stores_nothing,
            inbox_concurrent_repeats_store_once,
            inbox_empty_transaction_is_recorded,
            inbox_events_come_back_in_order,
            inbox_after_and_limit,
            inbox_ack_removes_event,
            inbox_seq_not_reused_after_drain,
            inbox_attempts_are_counted,
            inbox_dead_letter_moves_the_event,
            inbox_prune_old_txn_ids,
            portal_by_key_and_room,
            portal_upsert_replaces,
            portal_receiver_none_and_some_are_distinct,
            portal_list_only_with_room,
            portal_delete_removes_messages_and_reactions,
            ghost_upsert_and_get,
            login_crud,
            login_set_state_touches_only_state,
            login_logins_of_user_across_connectors,
            login_delete_clears_relay,
            message_insert_is_idempotent,
            message_insert_many_as_one_by_one,
            message_parts_in_insertion_order,
            message_by_event,
            message_delete,
            message_last,
            reaction_insert_get_idempotent,
            reaction_by_event_and_delete,
            management_room_set_and_replace,
            membership_set_unset,
            membership_forget_room,
            custom_emoji_by_source_and_mxc,
            hub_room_holds_several_portals,
            hub_event_maps_once_per_portal,
            secrets_sealed_at_rest_and_read_back,
            secrets_wrong_or_missing_key_fails_clearly,
            secrets_moved_to_another_row_do_not_open,
            secrets_plaintext_rows_are_sealed_when_a_key_is_given,
            secrets_rotation_reseals_every_login,
            audit_crossings_keep_mapping_and_entry,
            audit_replay_appends_nothing,
            audit_concurrent_crossings_form_one_chain,
            audit_off_changes_the_map_only,
            audit_filters_seals_and_pruning,
            audit_content_is_kept_sealed,
        }
    };
}

/// Implementation detail of [`store_conformance_tests!`](crate::store_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($make:path, $teardown:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make().await;
                $crate::conformance::$case(::std::borrow::Borrow::borrow(&store)).await;
                $teardown(store).await;
            }
        )*
    };
}

/// The default teardown: closes the store's connections.
pub async fn close<S: Borrow<SqlStore>>(store: S) {
    store.borrow().close().await;
}
