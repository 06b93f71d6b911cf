/*
 * test_client_route.c - the SDK's preference-list routing (client/route.h,
 * client/router.c) against fake nodes (client_fake.h).
 *
 * Three fakes A, B, C are the ring's members; a fourth, S, is the seed the
 * client is given and only serves the ring map (each fake serves one
 * connection at a time, so the client's seed connection and its routed
 * connections must go to different fakes). Every fake answers a get with
 * its own port as the value, so a test sees who coordinated.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/route.h"
#include "gossip/ring.h"
#include "client_fake.h"

#define Q 8u
#define NMEMBERS 3u
#define WIDTH 2u

static struct fake g_members[NMEMBERS], g_seed;
static char g_addr[NMEMBERS][32];
static char g_port_text[NMEMBERS][8];
static _Atomic int g_map_version = 1;
static _Atomic int g_map_fetches;

/* Version 1: partition p's primaries are members p % 3, then (p + 1) % 3.
 * Version 2: the same pairs in the other order. */
static uint32_t pref(int version, uint32_t p, uint32_t i)
{
    uint32_t first = p % NMEMBERS, second = (p + 1) % NMEMBERS;
    return (version == 1) == (i == 0) ? first : second;
}

static enum fake_action answer_ring_map(Ringkv__Envelope *reply)
{
    static Ringkv__AdminReply ar;
    static Ringkv__RingMap map;
    static Ringkv__RingMapMember mm[NMEMBERS];
    static Ringkv__RingMapMember *mp[NMEMBERS];
    static uint32_t prefs[Q * WIDTH];
    int version = g_map_version;
    ringkv__admin_reply__init(&ar);
    ringkv__ring_map__init(&map);
    for (uint32_t i = 0; i < NMEMBERS; i++) {
        ringkv__ring_map_member__init(&mm[i]);
        mm[i].id = g_addr[i];
        mm[i].addr = g_addr[i];
        mm[i].alive = true;
        mp[i] = &mm[i];
    }
    for (uint32_t p = 0; p < Q; p++)
        for (uint32_t i = 0; i < WIDTH; i++)
            prefs[p * WIDTH + i] = pref(version, p, i);
    map.version = (uint64_t)version;
    map.partitions = Q;
    map.n_val = WIDTH;
    map.width = WIDTH;
    map.members = mp;
    map.n_members = NMEMBERS;
    map.preference = prefs;
    map.n_preference = Q * WIDTH;
    ar.node_id = (char *)"seed";
    ar.ring_map = &map;
    reply->body_case = RINGKV__ENVELOPE__BODY_ADMIN_REPLY;
    reply->admin_reply = &ar;
    g_map_fetches++;
    return FAKE_REPLY;
}

/* The index of f among the members, or -1 for the seed. */
static int member_index(const struct fake *f)
{
    for (int i = 0; i < (int)NMEMBERS; i++)
        if (f == &g_members[i])
            return i;
    return -1;
}

static enum fake_action script_member(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                      Ringkv__Envelope *reply)
{
    static Ringkv__GetReply gr;
    static Ringkv__Sibling sib;
    static Ringkv__Sibling *sp = &sib;
    static Ringkv__PutReply pr;
    int me = member_index(f);
    if (req->body_case == RINGKV__ENVELOPE__BODY_ADMIN &&
        req->admin->op == RINGKV__ADMIN_OP__ADMIN_OP_RING_MAP)
        return answer_ring_map(reply);
    if (req->body_case == RINGKV__ENVELOPE__BODY_GET && me >= 0) {
        ringkv__get_reply__init(&gr);
        ringkv__sibling__init(&sib);
        sib.value.data = (uint8_t *)g_port_text[me];
        sib.value.len = strlen(g_port_text[me]);
        gr.found = true;
        gr.n_siblings = 1;
        gr.siblings = &sp;
        gr.context.data = (uint8_t *)"c";
        gr.context.len = 1;
        reply->body_case = RINGKV__ENVELOPE__BODY_GET_REPLY;
        reply->get_reply = &gr;
        return FAKE_REPLY;
    }
    if (req->body_case == RINGKV__ENVELOPE__BODY_PUT && me >= 0) {
        ringkv__put_reply__init(&pr);
        pr.context.data = (uint8_t *)"c";
        pr.context.len = 1;
        reply->body_case = RINGKV__ENVELOPE__BODY_PUT_REPLY;
        reply->put_reply = &pr;
        return FAKE_REPLY;
    }
    reply->status = KV_EINVAL;
    reply->error = (char *)"not served by this fake";
    return FAKE_REPLY;
}

static void start_cluster(void)
{
    g_map_version = 1;
    g_map_fetches = 0;
    for (uint32_t i = 0; i < NMEMBERS; i++) {
        fake_start(&g_members[i], script_member);
        snprintf(g_addr[i], sizeof g_addr[i], "127.0.0.1:%u", g_members[i].port);
        snprintf(g_port_text[i], sizeof g_port_text[i], "%u", g_members[i].port);
    }
    fake_start(&g_seed, script_member);
}

static void stop_cluster(bool *stopped)
{
    for (uint32_t i = 0; i < NMEMBERS; i++)
        if (!stopped || !stopped[i])
            fake_stop(&g_members[i]);
    fake_stop(&g_seed);
}

static struct rkv_client *routed_client(uint32_t refresh_ms)
{
    struct rkv_options o = fast_options(2);
    o.routing_off = false;
    o.ring_refresh_ms = refresh_ms;
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%u", g_seed.port);
    const char *hosts[] = { seed };
    struct rkv_client *c = NULL;
    ck_assert_int_eq(rkv_connect(hosts, 1, &o, &c), RKV_OK);
    return c;
}

/* A key whose partition's first primary (ring version 1) is member m. */
static void key_for_member(uint32_t m, char *key, size_t cap)
{
    for (unsigned i = 0;; i++) {
        snprintf(key, cap, "k%u", i);
        if (pref(1, ring_partition_of_key(key, strlen(key), Q), 0) == m)
            return;
    }
}

/* Gets key; returns the index of the member that answered. */
static int get_from(struct rkv_client *c, const char *key)
{
    struct rkv_get_result *r = NULL;
    int rc = rkv_get(c, key, strlen(key), NULL, &r);
    ck_assert_msg(rc == RKV_OK, "get %s: %s (%s)", key, rkv_strerror(rc), rkv_last_error(c));
    ck_assert(r->found);
    int who = -1;
    for (int i = 0; i < (int)NMEMBERS; i++)
        if (strcmp(r->siblings[0].value, g_port_text[i]) == 0)
            who = i;
    rkv_get_result_free(r);
    return who;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(partition_matches_the_rings_rule)
{
    const uint32_t qs[] = { 1, 2, 64, 1024, 16384 };
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        for (unsigned i = 0; i < 2000; i++) {
            char key[32];
            int len = snprintf(key, sizeof key, "user:%u", i * 7919u);
            ck_assert_uint_eq(client_route_partition(qs[qi], key, (size_t)len),
                              ring_partition_of_key(key, (size_t)len, qs[qi]));
        }
    }
}
END_TEST

START_TEST(inconsistent_ring_maps_are_refused)
{
    Ringkv__RingMapMember m0 = RINGKV__RING_MAP_MEMBER__INIT;
    Ringkv__RingMapMember *mp[] = { &m0 };
    uint32_t prefs[4] = { 0, 0, 0, 0 };
    m0.addr = (char *)"127.0.0.1:1";
    Ringkv__RingMap map = RINGKV__RING_MAP__INIT;
    struct client_route *r = NULL;
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_ENOTFOUND);  /* version 0: no ring */
    map.version = 3;
    map.partitions = 4;
    map.width = 1;
    map.members = mp;
    map.n_members = 1;
    map.preference = prefs;
    map.n_preference = 4;
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_OK);
    ck_assert_uint_eq(r->version, 3);
    client_route_free(r);
    map.partitions = 3;  /* not a power of two */
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_EPROTO);
    map.partitions = 4;
    map.n_preference = 3;  /* wrong size */
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_EPROTO);
    map.n_preference = 4;
    prefs[2] = 1;  /* no such member */
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_EPROTO);
    prefs[2] = 0;
    map.width = 2;  /* wider than the member list */
    map.n_preference = 4;
    ck_assert_int_eq(client_route_from_map(&map, &r), KV_EPROTO);
}
END_TEST

START_TEST(requests_go_to_the_keys_first_primary)
{
    start_cluster();
    struct rkv_client *c = routed_client(60000);
    for (uint32_t m = 0; m < NMEMBERS; m++) {
        char key[32];
        key_for_member(m, key, sizeof key);
        ck_assert_int_eq(get_from(c, key), (int)m);
        ck_assert_str_eq(rkv_last_host(c), g_addr[m]);
        int puts_before = g_members[m].puts;
        ck_assert_int_eq(rkv_put(c, key, strlen(key), "v", 1, NULL, NULL, NULL), RKV_OK);
        ck_assert_int_eq(g_members[m].puts, puts_before + 1);
    }
    ck_assert_uint_eq(rkv_ring_version(c), 1);
    ck_assert_int_eq(g_map_fetches, 1);
    ck_assert_int_eq(g_seed.puts, 0);  /* the seed only served the ring */
    rkv_close(c);
    stop_cluster(NULL);
}
END_TEST

START_TEST(routing_off_sends_everything_to_the_host_given)
{
    start_cluster();
    struct rkv_options o = fast_options(0);
    const char *hosts[] = { g_addr[0] };
    struct rkv_client *c = NULL;
    ck_assert_int_eq(rkv_connect(hosts, 1, &o, &c), RKV_OK);
    for (uint32_t m = 0; m < NMEMBERS; m++) {
        char key[32];
        key_for_member(m, key, sizeof key);
        ck_assert_int_eq(get_from(c, key), 0);
    }
    ck_assert_uint_eq(rkv_ring_version(c), 0);
    ck_assert_int_eq(g_map_fetches, 0);
    rkv_close(c);
    stop_cluster(NULL);
}
END_TEST

START_TEST(a_dead_primary_fails_over_to_the_next_one)
{
    start_cluster();
    bool stopped[NMEMBERS] = { false, true, false };
    struct rkv_client *c = routed_client(60000);
    char key[32];
    key_for_member(1, key, sizeof key);
    ck_assert_int_eq(get_from(c, key), 1);
    fake_stop(&g_members[1]);
    uint32_t second = pref(1, ring_partition_of_key(key, strlen(key), Q), 1);
    /* The open connection breaks: the read moves to the second primary. */
    ck_assert_int_eq(get_from(c, key), (int)second);
    /* Connecting is refused now: nothing is sent, so a write moves too. */
    int puts_before = g_members[second].puts;
    ck_assert_int_eq(rkv_put(c, key, strlen(key), "v", 1, NULL, NULL, NULL), RKV_OK);
    ck_assert_int_eq(g_members[second].puts, puts_before + 1);
    /* The failure asked for a fresh ring: fetched at the next call once
     * RKV_RING_RETRY_MS has passed since the last fetch. */
    sleep_ms(RKV_RING_RETRY_MS + 50);
    ck_assert_int_eq(get_from(c, key), (int)second);
    ck_assert_int_eq(g_map_fetches, 2);
    rkv_close(c);
    stop_cluster(stopped);
}
END_TEST

START_TEST(a_new_ring_version_is_picked_up_by_the_periodic_refresh)
{
    start_cluster();
    struct rkv_client *c = routed_client(50);
    char key[32];
    key_for_member(0, key, sizeof key);
    ck_assert_int_eq(get_from(c, key), 0);
    g_map_version = 2;
    sleep_ms(RKV_RING_RETRY_MS + 100);
    uint32_t p = ring_partition_of_key(key, strlen(key), Q);
    ck_assert_int_eq(get_from(c, key), (int)pref(2, p, 0));
    ck_assert_uint_eq(rkv_ring_version(c), 2);
    rkv_close(c);
    stop_cluster(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client_route");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, partition_matches_the_rings_rule);
    tcase_add_test(pure, inconsistent_ring_maps_are_refused);
    suite_add_tcase(s, pure);
    TCase *fake = tcase_create("fake_nodes");
    tcase_set_timeout(fake, 30);
    tcase_add_test(fake, requests_go_to_the_keys_first_primary);
    tcase_add_test(fake, routing_off_sends_everything_to_the_host_given);
    tcase_add_test(fake, a_dead_primary_fails_over_to_the_next_one);
    tcase_add_test(fake, a_new_ring_version_is_picked_up_by_the_periodic_refresh);
    suite_add_tcase(s, fake);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
