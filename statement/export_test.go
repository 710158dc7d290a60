package statement

// QueuedAppends returns how many appends wait for the group commit, so a
// test can see a batch form before it lets the commit go on.
func (l *Log) QueuedAppends() int {
	l.batch.mu.Lock()
	defer l.batch.mu.Unlock()
	return len(l.batch.queue)
}

// Replans returns how many batches planned against the log's tip were
// retried under the log lock (the log had moved, or the batch before
// failed).
func (l *Log) Replans() int64 { return l.batch.replans.Load() }
