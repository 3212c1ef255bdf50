//! Runnable examples for `yandex-market-chats`: see the `examples/` folder.
//! Run one from the workspace root with `cargo run --example list_chats`.
