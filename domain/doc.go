// Package domain holds siteinspect's records and rules as plain Go types:
// cases and their lifecycle, evidence, uploads, annotations, findings,
// decisions, audit events, jobs, live sessions, users and sessions, the
// permit catalogue, the authorization policy (policy.go: who may do which
// action on a case in which state) and the error kinds and stable codes
// every layer returns. It knows nothing of SQL, object stores or HTTP: the
// storage adapters (storage, storage/sqlite, storage/postgres) keep these
// records, and the server maps the error kinds to responses.
package domain
