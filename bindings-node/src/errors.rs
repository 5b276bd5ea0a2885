//! Core errors across the boundary. napi cannot throw Error subclasses, so the error travels
//! encoded in the message (`interlock_js::errors::encode`), and `lib/errors.ts` builds the real
//! class.

pub fn to_napi(e: interlock::Error) -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        interlock_js::errors::encode(&e),
    )
}

/// `.map_err(errors::to_napi)` for core results.
pub trait OrThrow<T> {
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for interlock::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
