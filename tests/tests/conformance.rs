//! The conformance suite on every backend this build has.

mod mem {
    interlock_tests::conformance_suite!(interlock_tests::Store::mem());
}

mod sqlite {
    interlock_tests::conformance_suite!(interlock_tests::Store::sqlite());
}

mod etcd {
    interlock_tests::conformance_suite!(interlock_tests::Store::etcd());
}
