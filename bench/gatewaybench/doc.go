// Package gatewaybench is `parley bench gateway`: it runs the chat server
// in-process and N concurrent gateway connections (10,000 by default) in a
// child process, then measures
//
//   - memory per idle connection: the server process's Go heap + stacks and
//     its RSS before and after the connections identify, divided by N;
//   - fan-out: MESSAGE_CREATE deliveries per second and server CPU per
//     delivery for a burst of messages sent through the chat service (each
//     one committed to the store and dispatched to every connection);
//   - delivery latency p50/p99 (send timestamp in the content, receive time
//     in the client) for a paced phase.
//
// Clients run in their own process so their memory and goroutines do not
// pollute the server's figures; they share the machine's cores, so the
// throughput is a lower bound for the server alone.
package gatewaybench
