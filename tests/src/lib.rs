//! interlock's cross-backend test suites. The conformance suite is one set of behaviour tests,
//! generic over the store; every backend instantiates it unchanged with [`conformance_suite!`].

pub mod conformance;
pub mod etcd;
mod fixture;
pub mod linearizability;
pub mod quiet;
pub mod server;
pub mod workload;

pub use fixture::Store;

/// Instantiates every conformance test for the store that `$store` (an expression evaluating to
/// a [`Store`]) creates afresh for each test.
#[macro_export]
macro_rules! conformance_suite {
    ($store:expr) => {
        $crate::conformance_suite!(@each $store;
            kv::get_absent_is_none,
            kv::put_zero_creates_only_if_absent,
            kv::put_index_replaces_only_at_that_index,
            kv::set_is_unconditional_and_index_is_store_wide,
            kv::delete_with_and_without_index,
            kv::get_many_returns_existing_in_order,
            kv::list_pages_in_key_order_and_hides_reserved,
            kv::values_round_trip_any_json,
            txn::txn_commits_all_ops_at_one_index,
            txn::txn_commits_once,
            txn::txn_take_error_leaves_the_invalid_step_out,
            txn::txn_is_all_or_nothing_and_reports_every_violation,
            txn::txn_op_limit_is_128,
            txn::txn_rejects_duplicate_keys_and_contradictory_checks,
            txn::retry_loses_no_update_under_contention,
            input::bad_keys_are_rejected_and_nothing_is_written,
            input::oversize_values_are_rejected,
            input::bad_leases_and_ttls_are_rejected,
            input::reserved_keys_are_readable_not_writable,
            lease::revoke_deletes_attached_entries,
            lease::expiry_deletes_entries_at_a_new_index,
            lease::keeper_keeps_a_lease_alive_past_its_ttl,
            lease::keepalive_of_unknown_lease_fails,
            lease::lost_lease_is_detected_and_reported,
            lock::lock_grants_in_fifo_order_with_increasing_tokens,
            lock::try_acquire_and_timeout_remove_the_waiter,
            lock::locks_are_not_reentrant,
            lock::lock_names_do_not_overlap,
            lock::lock_queue_lists_holder_and_waiters,
            lock::waiter_gets_lock_when_holder_lease_is_revoked,
            lock::lost_lock_fires_callback_and_fails_release_and_fenced_writes,
            lock::fenced_write_succeeds_while_held,
            lock::cancelled_acquire_removes_the_waiter,
            lock::later_acquires_reuse_the_waiter_key,
            session::session_saves_tracked_changes,
            session::session_detects_concurrent_edit,
            session::session_store_of_existing_key_conflicts,
            session::session_opt_out_is_last_write_wins,
            session::session_commits_compare_exchange_in_same_txn,
            session::session_writes_stores_and_deletes_of_unloaded_keys,
            watch::watch_delivers_in_order_and_resumes,
            watch::watch_filters_by_prefix_and_reports_deletes,
            watch::watch_reports_expiry_deletes,
            lifecycle::close_frees_held_locks_and_refuses_further_use,
            lifecycle::close_ends_a_waiting_acquire,
            lifecycle::lock_dropped_outside_a_runtime_is_released,
            lifecycle::revoked_shared_lease_is_replaced_at_once,
            lifecycle::force_release_is_seen_by_the_holder,
            lifecycle::release_after_force_release_is_lock_lost,
            lifecycle::out_of_range_durations_are_refused,
            lifecycle::client_ids_are_unique,
            lifecycle::per_name_and_per_ttl_state_is_reclaimed,
        );
    };
    (@each $store:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $store;
                $crate::conformance::$module::$name(&store).await;
            }
        )*
    };
}
