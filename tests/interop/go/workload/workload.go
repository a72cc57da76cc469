// Package workload is the program both dd-trace-go clients profile: one
// CPU-bound function that must come out on top of the CPU flame graph, a
// contended mutex and a blocking channel so the mutex and block profiles have
// samples, and live allocations for the heap profile.  It lives once here;
// the v1 and v2 programs differ only in how they start the profiler.
package workload

import (
	"sync"
	"time"
)

// keep holds allocations so the heap profile has live objects.
var keep [][]byte

// StacksightHotLoop burns CPU for d; its name is what the tests look for on
// top of the CPU flame graph.
//
//go:noinline
func StacksightHotLoop(d time.Duration) uint64 {
	var x uint64 = 1
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 20000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

// contend makes two goroutines fight over one mutex and wait on a channel.
func contend(stop <-chan struct{}) {
	var mu sync.Mutex
	ch := make(chan int)
	go func() {
		for {
			select {
			case <-stop:
				return
			case ch <- 1:
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for g := 0; g < 2; g++ {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-ch:
				}
				mu.Lock()
				time.Sleep(200 * time.Microsecond)
				mu.Unlock()
			}
		}()
	}
}

// Run works for d: mostly StacksightHotLoop, with contention and allocations
// in the background.
func Run(d time.Duration) uint64 {
	stop := make(chan struct{})
	defer close(stop)
	contend(stop)
	var sum uint64
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		sum += StacksightHotLoop(50 * time.Millisecond)
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 64 {
			keep = keep[1:]
		}
	}
	return sum
}
