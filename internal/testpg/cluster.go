package testpg

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// EnvBin names the variable holding the directory of the PostgreSQL
// binaries (initdb, pg_ctl); scripts/with-postgres.sh sets it.
const EnvBin = "TRUSTD_TEST_PG_BIN"

// Cluster is a private PostgreSQL cluster that a test may stop and start,
// to see what clients get during an outage, without disturbing the shared
// test cluster other tests run on.
type Cluster struct {
	// URL is the cluster's postgres database, as superuser.
	URL  string
	t    testing.TB
	bin  string
	data string
	log  string
	port int
	as   *syscall.Credential // the postgres user when running as root
}

// NewCluster initialises and starts a cluster on a free loopback port,
// stopped and removed when the test ends. It needs the PostgreSQL binaries
// in $TRUSTD_TEST_PG_BIN; without them it skips the test (fails under
// CI=true) as URL does.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: run the tests with `make test`, which finds PostgreSQL", EnvBin)
		}
		t.Skipf("%s is not set (scripts/with-postgres.sh sets it); skipping the PostgreSQL outage test", EnvBin)
	}
	c := newCluster(t, bin)
	c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	c.firstStart()
	return c
}

// newCluster prepares the directory, port and URL of a cluster and its
// removal when the test ends; the data directory is left to create.
func newCluster(t testing.TB, bin string) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "trustd-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "server.log")}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testpg: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.as = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.pickPort()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
			c.pgctl("-m", "immediate", "stop")
		}
	})
	return c
}

// NewStandby makes a hot standby streaming from c, as an operator makes
// one (pg_basebackup -R from the primary: initdb's defaults already allow
// replication from loopback, with wal_level replica and hot_standby on),
// starts it on another loopback port and returns it; its URL is read-only.
// It is stopped and removed when the test ends.
func (c *Cluster) NewStandby() *Cluster {
	c.t.Helper()
	sb := newCluster(c.t, c.bin)
	sb.run("pg_basebackup", "-R", "-X", "stream", "--no-sync", "-D", sb.data, "-d", c.URL)
	sb.firstStart()
	return sb
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", c.startArgs()...)
}

func (c *Cluster) startArgs() []string {
	return []string{"-D", c.data, "-w", "-l", c.log, "-t", "60", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.port, filepath.Dir(c.data)), "start"}
}

// Kill stops the cluster the way a crash does (immediate mode: no
// shutdown checkpoint, sessions cut) and waits until it is down.
func (c *Cluster) Kill() {
	c.t.Helper()
	c.pgctl("-m", "immediate", "stop")
}

// Stop shuts the cluster down the way an operator's restart does (fast
// mode: open sessions are terminated with admin_shutdown) and waits until
// it is down.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.pgctl("-m", "fast", "stop")
}

func (c *Cluster) pgctl(args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{"-D", c.data, "-w"}, args...)...)
}

func (c *Cluster) run(name string, args ...string) {
	c.t.Helper()
	if out, err := c.try(name, args...); err != nil {
		logs, _ := os.ReadFile(c.log)
		c.t.Fatalf("testpg: %s %v: %v\n%s\n%s", name, args, err, out, logs)
	}
}

func (c *Cluster) try(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.as}
	}
	return cmd.CombinedOutput()
}

// firstStart starts a new cluster, on another free port when the one
// picked was taken meanwhile (other tests start clusters too).
func (c *Cluster) firstStart() {
	c.t.Helper()
	for range 5 {
		if _, err := c.try("pg_ctl", c.startArgs()...); err == nil {
			return
		}
		logs, _ := os.ReadFile(c.log)
		if !strings.Contains(string(logs), "already in use") {
			break
		}
		c.pickPort()
		os.Remove(c.log)
	}
	c.Start()
}

// pickPort picks a free loopback port and sets URL to it.
func (c *Cluster) pickPort() {
	c.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}
