/*
 * test_peer_watch.c - coordinator/peer_watch.h: when a peer counts as
 * overdue, what ends a wait, and when an overdue peer is tried again.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/peer_watch.h"

START_TEST(a_peer_never_asked_is_not_overdue)
{
    struct peer_watch w;
    peer_watch_init(&w);
    ck_assert(!peer_watch_overdue(&w, "a", 0));
    ck_assert(!peer_watch_overdue(&w, "a", 1000000));
    peer_watch_heard(&w, "a"); /* hearing from an unknown peer records nothing */
    ck_assert_uint_eq(w.n, 0);
    peer_watch_free(&w);
}
END_TEST

START_TEST(an_unanswered_request_makes_the_peer_overdue_after_the_overdue_time)
{
    struct peer_watch w;
    peer_watch_init(&w);
    peer_watch_asked(&w, "a", 1000);
    ck_assert(!peer_watch_overdue(&w, "a", 1000));
    ck_assert(!peer_watch_overdue(&w, "a", 1000 + PEER_WATCH_OVERDUE_MS - 1));
    ck_assert(peer_watch_overdue(&w, "a", 1000 + PEER_WATCH_OVERDUE_MS));
    ck_assert(!peer_watch_overdue(&w, "b", 1000 + PEER_WATCH_OVERDUE_MS));
    peer_watch_free(&w);
}
END_TEST

START_TEST(the_oldest_unanswered_request_counts)
{
    struct peer_watch w;
    peer_watch_init(&w);
    peer_watch_asked(&w, "a", 0);
    peer_watch_asked(&w, "a", 150); /* a later request does not restart the wait */
    ck_assert(peer_watch_overdue(&w, "a", PEER_WATCH_OVERDUE_MS));
    peer_watch_free(&w);
}
END_TEST

START_TEST(any_message_heard_ends_the_wait)
{
    struct peer_watch w;
    peer_watch_init(&w);
    peer_watch_asked(&w, "a", 0);
    ck_assert(peer_watch_overdue(&w, "a", 300));
    peer_watch_heard(&w, "a");
    ck_assert(!peer_watch_overdue(&w, "a", 300));
    peer_watch_asked(&w, "a", 400); /* a new wait starts at the next request */
    ck_assert(!peer_watch_overdue(&w, "a", 400 + PEER_WATCH_OVERDUE_MS - 1));
    ck_assert(peer_watch_overdue(&w, "a", 400 + PEER_WATCH_OVERDUE_MS));
    peer_watch_free(&w);
}
END_TEST

START_TEST(an_overdue_peer_is_tried_again_after_the_retry_time)
{
    struct peer_watch w;
    peer_watch_init(&w);
    peer_watch_asked(&w, "a", 0);
    ck_assert(peer_watch_overdue(&w, "a", PEER_WATCH_RETRY_MS - 1));
    ck_assert(!peer_watch_overdue(&w, "a", PEER_WATCH_RETRY_MS)); /* worth one more request */
    peer_watch_asked(&w, "a", PEER_WATCH_RETRY_MS);               /* which starts a new wait */
    ck_assert(!peer_watch_overdue(&w, "a", PEER_WATCH_RETRY_MS + PEER_WATCH_OVERDUE_MS - 1));
    ck_assert(peer_watch_overdue(&w, "a", PEER_WATCH_RETRY_MS + PEER_WATCH_OVERDUE_MS));
    peer_watch_free(&w);
}
END_TEST

START_TEST(peers_are_watched_one_by_one)
{
    struct peer_watch w;
    peer_watch_init(&w);
    peer_watch_asked(&w, "a", 0);
    peer_watch_asked(&w, "b", 0);
    peer_watch_heard(&w, "b");
    ck_assert(peer_watch_overdue(&w, "a", 500));
    ck_assert(!peer_watch_overdue(&w, "b", 500));
    peer_watch_free(&w);
}
END_TEST

START_TEST(ids_past_the_limits_are_not_watched)
{
    struct peer_watch w;
    peer_watch_init(&w);
    char long_id[KV_NODE_ID_BYTES_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    peer_watch_asked(&w, long_id, 0);
    ck_assert(!peer_watch_overdue(&w, long_id, 500));
    char id[16];
    for (uint32_t i = 0; i < PEER_WATCH_PEERS_MAX; i++) {
        snprintf(id, sizeof id, "n%u", i);
        peer_watch_asked(&w, id, 0);
    }
    ck_assert_uint_eq(w.n, PEER_WATCH_PEERS_MAX);
    ck_assert(peer_watch_overdue(&w, "n0", 500));
    peer_watch_asked(&w, "one-too-many", 0);
    ck_assert_uint_eq(w.n, PEER_WATCH_PEERS_MAX);
    ck_assert(!peer_watch_overdue(&w, "one-too-many", 500));
    peer_watch_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peer_watch");
    TCase *tc = tcase_create("peer_watch");
    tcase_add_test(tc, a_peer_never_asked_is_not_overdue);
    tcase_add_test(tc, an_unanswered_request_makes_the_peer_overdue_after_the_overdue_time);
    tcase_add_test(tc, the_oldest_unanswered_request_counts);
    tcase_add_test(tc, any_message_heard_ends_the_wait);
    tcase_add_test(tc, an_overdue_peer_is_tried_again_after_the_retry_time);
    tcase_add_test(tc, peers_are_watched_one_by_one);
    tcase_add_test(tc, ids_past_the_limits_are_not_watched);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
