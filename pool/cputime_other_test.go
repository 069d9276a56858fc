//go:build !unix

package pool

import "time"

// cpuTime is 0 where the process's CPU time is not available.
func cpuTime() time.Duration { return 0 }
