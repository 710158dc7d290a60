package postgres

// LogLockKey is logLockKey, for tests that hold the log lock themselves.
const LogLockKey = logLockKey
