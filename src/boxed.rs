//! Futures boxed where they are built.
//!
//! `Box::pin(fut)` builds `fut` on the stack and then copies all of it into the box: the
//! whole size of the future's type, not just the arguments an unstarted future holds,
//! because with unwinding on, the allocation sits between building and storing. On the
//! request path that copy is a few hundred bytes to kilobytes per boxed future, and it
//! writes lines the request then touches again ([BENCHMARKS.md], "The shipped build, side
//! by side": `memcpy`'s share of the cache misses). [`in_box!`] allocates first and builds
//! the future into the box, so only its arguments are written.
//!
//! A macro, not a function: a function would receive the future already built.

/// `Box<T>` of the expression `$value`, built in its box: the allocation first, then the
/// value, built into it (arguments run left to right). For large values built per request
/// (`Box::new` builds them on the stack and copies them).
macro_rules! boxed {
    ($value:expr) => {
        ::std::boxed::Box::write(::std::boxed::Box::new_uninit(), $value)
    };
}
pub(crate) use boxed;

/// `Pin<Box<F>>` of the future expression `$fut`, built in its box (see the module doc).
macro_rules! in_box {
    ($fut:expr) => {{
        // The `let` keeps a caller's expected type (`BoxFuture`'s `dyn`) out of the inference.
        let boxed = $crate::boxed::boxed!($fut);
        ::std::boxed::Box::into_pin(boxed)
    }};
}
pub(crate) use in_box;

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_future_boxed_in_place_runs_as_boxed() {
        let n = 41;
        let boxed: std::pin::Pin<Box<_>> = in_box!(async move { n + 1 });
        assert_eq!(boxed.await, 42);
    }

    #[test]
    fn a_value_boxed_in_place_is_the_value() {
        let b: Box<[u64; 100]> = boxed!([7; 100]);
        assert_eq!(b[99], 7);
    }
}
