/* arena.c - see arena.h. */
#include "storage/arena.h"

#include <stdlib.h>

struct arena_block {
    struct arena_block *next;
    max_align_t data[]; /* keeps the first byte maximally aligned */
};

/* Requests above this get a block of their own (a quarter block: bounds waste). */
#define ARENA_LARGE_BYTES (ARENA_BLOCK_BYTES / 4)

_Static_assert((ARENA_ALIGN_BYTES & (ARENA_ALIGN_BYTES - 1)) == 0, "alignment must be a power of two");

void arena_init(struct arena *a)
{
    a->ptr = NULL;
    a->remaining = 0;
    a->blocks = NULL;
    atomic_init(&a->bytes, 0);
}

void arena_destroy(struct arena *a)
{
    struct arena_block *b = a->blocks;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena_init(a);
}

static char *arena_new_block(struct arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct arena_block))
        return NULL;
    struct arena_block *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->next = a->blocks;
    a->blocks = b;
    atomic_fetch_add_explicit(&a->bytes, sizeof *b + n, memory_order_relaxed);
    return (char *)b->data;
}

void *arena_alloc_fallback(struct arena *a, size_t n)
{
    if (n > ARENA_LARGE_BYTES)
        return arena_new_block(a, n); /* the current block keeps its free tail */
    char *p = arena_new_block(a, ARENA_BLOCK_BYTES);
    if (!p)
        return NULL;
    a->ptr = p + n;
    a->remaining = ARENA_BLOCK_BYTES - n;
    return p;
}
