package testpg

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	c.Start()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
			c.pgctl("-m", "immediate", "stop")
		}
	})
	return c
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.pgctl("-l", c.log, "-t", "60", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.port, filepath.Dir(c.data)), "start")
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
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.as}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		logs, _ := os.ReadFile(c.log)
		c.t.Fatalf("testpg: %s %v: %v\n%s\n%s", name, args, err, out, logs)
	}
}
