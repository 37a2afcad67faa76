package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ), 100
// on Linux.
const clockTicks = 100

// cpuUse is CPU time spent, by this process and by every PostgreSQL
// process of the machine (its backends share the cores with the server
// and the load generator).
type cpuUse struct {
	Self, Postgres time.Duration
}

func (a cpuUse) sub(b cpuUse) cpuUse { return cpuUse{a.Self - b.Self, a.Postgres - b.Postgres} }

// cpuNow reads the CPU time used so far. Where /proc cannot be read,
// Postgres is 0.
func cpuNow() cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.Self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		u.Postgres += postgresCPU(string(b))
	}
	return u
}

// postgresCPU is the user and system time of a /proc/<pid>/stat line if
// the process is a PostgreSQL one, else 0.
func postgresCPU(stat string) time.Duration {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open || stat[open+1:end] != "postgres" {
		return 0
	}
	f := strings.Fields(stat[end+1:]) // from the state, field 3
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}
