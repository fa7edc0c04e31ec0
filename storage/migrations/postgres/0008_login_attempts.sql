-- Login limits (storage/loginlimit.go): one counter per key and window,
-- shared by every replica. scope is 'user_address' (username and address
-- set), 'address' (username '') or 'user' (address ''). failures counts the
-- failed attempts of the window plus those still being checked; a success
-- clears its user_address row and takes its own reservation back from the
-- other two. Times are unix milliseconds.
CREATE TABLE login_attempts (
    scope        TEXT NOT NULL,
    username     TEXT NOT NULL,
    address      TEXT NOT NULL,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    PRIMARY KEY (scope, username, address)
);
-- The sweep deletes rows whose window is over.
CREATE INDEX login_attempts_window ON login_attempts(window_start);
