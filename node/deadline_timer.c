/* deadline_timer.c - see deadline_timer.h. */
#include "node/deadline_timer.h"

#include <sys/time.h>

bool deadline_timer_arm(struct event *ev, uint64_t *at_ms, uint64_t now_ms, uint64_t next_ms)
{
    if (evtimer_pending(ev, NULL) && *at_ms <= next_ms)
        return true;
    uint64_t wait = next_ms > now_ms ? next_ms - now_ms : 0;
    struct timeval tv = { (time_t)(wait / 1000u), (suseconds_t)((wait % 1000u) * 1000u) };
    *at_ms = next_ms;
    return evtimer_add(ev, &tv) == 0;
}
