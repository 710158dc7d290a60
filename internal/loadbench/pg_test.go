package main

import (
	"testing"
	"time"
)

func TestParsePGBench(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    pgbenchResult
		wantErr bool
	}{
		{
			name: "PostgreSQL 15",
			out: `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/point.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 463484
number of failed transactions: 0 (0.000%)
latency average = 0.345 ms
initial connection time = 21.876 ms
tps = 46348.425028 (without initial connection time)
`,
			want: pgbenchResult{TPS: 46348.425028, Transactions: 463484, LatencyAvg: 345 * time.Microsecond},
		},
		{
			name: "PostgreSQL 13 prints both tps lines",
			out: `number of transactions actually processed: 1000/1000
latency average = 1.500 ms
tps = 900.0 (including connections establishing)
tps = 1000.5 (excluding connections establishing)
`,
			want: pgbenchResult{TPS: 1000.5, Transactions: 1000, LatencyAvg: 1500 * time.Microsecond},
		},
		{
			name: "failures are counted",
			out: `number of transactions actually processed: 10
number of failed transactions: 3 (23.077%)
tps = 1.0 (without initial connection time)
`,
			want: pgbenchResult{TPS: 1, Transactions: 10, Failed: 3},
		},
		{
			name:    "no tps line",
			out:     "pgbench: error: connection to server failed\n",
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePGBench(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
