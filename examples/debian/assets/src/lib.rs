//! Empty: this crate exists for its build script, which writes the Debian package's man page and
//! shell completions (see build.rs).
