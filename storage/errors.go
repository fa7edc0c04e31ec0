// Package storage keeps siteinspect's records (package domain) in a SQL
// database: the embedded default, SQLite, or PostgreSQL. The SQL is written
// once, in the subset both dialects share; what differs between them (how
// a connection is opened, how writers are serialised, how a constraint
// error is recognised, the migrations) lives in the dialect adapters
// storage/sqlite and storage/postgres. Objects (a local directory or MinIO)
// are in storage/objects. It knows nothing of HTTP; callers map the error
// kinds of package domain to responses.
package storage
