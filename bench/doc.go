// Package bench is Parley's load harness: generators, measurement of server
// CPU and latency, and in-run baselines.
package bench
