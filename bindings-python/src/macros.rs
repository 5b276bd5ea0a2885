//! One definition per operation, two Python methods: `name` blocks with the GIL released,
//! `name_async` returns an asyncio awaitable. Both run the same core future.

/// Generates the `#[pymethods]` block of a class. Each `fn name / name_async (args) { prep }
/// => |core| body;` gets both variants: `prep` runs first under the GIL (argument conversion),
/// then `body` runs on the runtime with `core` bound to `self.handle()`. Other methods are passed
/// through unchanged in the leading braces.
macro_rules! operations {
    ($class:ident { $($extra:tt)* } $(
        $(#[$meta:meta])*
        fn $name:ident / $async_name:ident ($($arg:ident : $argty:ty),*) { $($prep:stmt;)* }
            => |$core:ident| $body:expr;
    )*) => {
        #[pymethods]
        impl $class {
            $($extra)*
            $(
                $(#[$meta])*
                fn $name(&self, py: Python<'_>, $($arg: $argty),*) -> PyResult<Py<PyAny>> {
                    let $core = self.handle()?;
                    $($prep;)*
                    $crate::runtime::wait(py, async move { $body })
                }

                $(#[$meta])*
                fn $async_name<'py>(
                    &self,
                    py: Python<'py>,
                    $($arg: $argty),*
                ) -> PyResult<Bound<'py, PyAny>> {
                    let $core = self.handle()?;
                    $($prep;)*
                    $crate::runtime::awaitable(py, async move { $body })
                }
            )*
        }
    };
}
