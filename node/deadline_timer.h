/*
 * deadline_timer.h - arming a libevent timer for a monotonic deadline in
 * ms, the way the cluster transports (node/aae_net.h, node/handoff_net.h,
 * node/replication.h) schedule their module's next tick: a timer already
 * pending for the same or an earlier time is left alone, so many re-arms
 * per tick cost one comparison each.
 *
 * Threading: the event_base's thread.
 */
#ifndef RINGKV_NODE_DEADLINE_TIMER_H
#define RINGKV_NODE_DEADLINE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

/*
 * Makes ev fire at next_ms (now_ms is the current monotonic time; a past
 * deadline fires at once) unless it is pending for *at_ms <= next_ms.
 * *at_ms is the deadline ev is armed for, kept by the caller. Returns false
 * only when libevent refuses to add the timer (the caller logs it).
 */
bool deadline_timer_arm(struct event *ev, uint64_t *at_ms, uint64_t now_ms, uint64_t next_ms);

#endif
