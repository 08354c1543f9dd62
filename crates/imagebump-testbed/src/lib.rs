//! Real parts for tests: git servers (bare repositories over `file://`, smart HTTP through
//! nginx + git-http-backend, SSH through OpenSSH's sshd) and the git CLI as another writer,
//! started on free 127.0.0.1 ports and stopped on drop. Shared by every crate's tests and
//! benchmarks, so that each exercises the same servers the same way.

pub mod gitserver;
