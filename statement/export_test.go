package statement

import "time"

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

// Arrive counts a submitter verifying an entry, as Submit does, until
// leave: a batch taken meanwhile waits for it (up to SetGatherWait).
func (l *Log) Arrive() (leave func()) { return l.batch.arrive().leave }

// SetGatherWait sets how long a batch waits for arriving submitters.
func (l *Log) SetGatherWait(d time.Duration) { l.batch.gatherWait = d }
