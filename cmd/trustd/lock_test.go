package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDataDirLockInProcess: a second open of the same SQLite data
// directory is refused with an error naming the directory and this pid,
// and succeeds once the first store is closed.
func TestDataDirLockInProcess(t *testing.T) {
	dir := t.TempDir()
	first := &config{DataDir: dir}
	st, err := first.openStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := &config{DataDir: dir}
	_, err = second.openStore(context.Background())
	want := fmt.Sprintf("(pid %d)", os.Getpid())
	if !errors.Is(err, errDataDirInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--data-dir: ") {
		t.Fatalf("second open: %v; want --data-dir in use naming %s and %s", err, dir, want)
	}
	// sqlite:PATH in the same directory is the same database's directory.
	_, err = (&config{DB: "sqlite:" + dir + "/trustd.db"}).openStore(context.Background())
	if !errors.Is(err, errDataDirInUse) || !strings.HasPrefix(err.Error(), "--db: ") {
		t.Fatalf("sqlite: open: %v; want --db in use", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := second.openStore(context.Background())
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	st2.Close()
}

// TestDataDirLockTwoProcesses: a real second process holding the lock
// makes trustd's open fail naming the holder's pid; when the holder dies
// (no clean release) the lock is free again.
func TestDataDirLockTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldDataDirLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TRUSTD_TEST_HOLD_LOCK="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q %v", line, err)
	}
	_, err = (&config{DataDir: dir}).openStore(context.Background())
	want := fmt.Sprintf("(pid %d)", cmd.Process.Pid)
	if !errors.Is(err, errDataDirInUse) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open beside another process: %v; want in use naming %s and %s", err, dir, want)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	stdin.Close()
	st, err := (&config{DataDir: dir}).openStore(context.Background())
	if err != nil {
		t.Fatalf("open after the holder died: %v", err)
	}
	st.Close()
}

// TestHoldDataDirLock is the helper process of TestDataDirLockTwoProcesses:
// it opens the store in TRUSTD_TEST_HOLD_LOCK, says so and waits for stdin
// to close. Run alone, it does nothing.
func TestHoldDataDirLock(t *testing.T) {
	dir := os.Getenv("TRUSTD_TEST_HOLD_LOCK")
	if dir == "" {
		return
	}
	st, err := (&config{DataDir: dir}).openStore(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	defer st.Close()
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}
