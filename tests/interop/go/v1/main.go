// Command ddgov1 profiles the workload with dd-trace-go v1.74.8 (gopkg.in/DataDog/dd-trace-go.v1) and
// uploads to the agent named by DD_AGENT_HOST/DD_TRACE_AGENT_PORT (or
// DD_TRACE_AGENT_URL), as a Go service would.  The tests run it against a
// real `stacksight serve`; -seconds and -period keep the run short.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"gopkg.in/DataDog/dd-trace-go.v1/profiler"
	"stacksight.test/workload"
)

func main() {
	seconds := flag.Float64("seconds", 5, "how long the workload runs")
	period := flag.Float64("period", 1, "profiling period (one upload each)")
	flag.Parse()
	err := profiler.Start(
		profiler.WithService("ddgo-v1"),
		profiler.WithEnv("interop"),
		profiler.WithVersion("v1.74.8"),
		profiler.WithTags("team:stacksight"),
		profiler.WithPeriod(time.Duration(*period*float64(time.Second))),
		profiler.CPUDuration(time.Duration(*period*float64(time.Second))),
		profiler.WithProfileTypes(profiler.CPUProfile, profiler.HeapProfile, profiler.BlockProfile,
			profiler.MutexProfile, profiler.GoroutineProfile),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profiler.Start:", err)
		os.Exit(1)
	}
	fmt.Println(workload.Run(time.Duration(*seconds * float64(time.Second))))
	profiler.Stop()
}
