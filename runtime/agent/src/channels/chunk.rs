//! Splitting an answer into chunks a platform accepts.
