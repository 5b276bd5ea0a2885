//! The conformance suite, unchanged, through the `http://` backend against a real
//! `interlock serve` process over each store.

mod sqlite {
    interlock_tests::conformance_suite!(interlock_tests::Store::served(
        interlock_tests::Store::sqlite(),
        env!("CARGO_BIN_EXE_interlock")
    ));
}

mod etcd {
    interlock_tests::conformance_suite!(interlock_tests::Store::served(
        interlock_tests::Store::etcd(),
        env!("CARGO_BIN_EXE_interlock")
    ));
}
