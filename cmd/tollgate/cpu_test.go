package main

import (
	"testing"
	"time"
)

func TestPostgresCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stat string
		want time.Duration
	}{
		{"4242 (postgres) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 1 0 100 0 0", 3 * time.Second},
		{"4243 (postgres: walwriter) S 1 4243 4243 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 1 0 100 0 0", 0}, // not this name: ps titles are in cmdline, comm stays postgres
		{"99 (tollgate) R 1 99 99 0 -1 4194560 1 0 0 0 900 100 0 0 20 0 1 0 100 0 0", 0},
		{"100 (post gres) S", 0},
		{"garbage", 0},
	} {
		if got := postgresCPU(tc.stat); got != tc.want {
			t.Errorf("postgresCPU(%q) = %s, want %s", tc.stat, got, tc.want)
		}
	}
	if u := cpuNow(); u.Self <= 0 {
		t.Errorf("cpuNow: %+v, want this process's CPU time", u)
	}
}
