// Package events serves vpo's change feed as Server-Sent Events
// (GET /api/events): a Broker tails the store's events table (written by
// triggers with every job step, whatever process made it) into a bounded
// ring in memory, adds the daemon's own events (health changes), and each
// stream reads from the ring at its own pace. A stream that falls behind
// the ring catches up from the store; one whose writes block is dropped;
// none can hold the broker or the daemon up.
package events
