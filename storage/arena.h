/*
 * arena.h - a bump allocator for data that lives and dies together (the
 * memtable's skiplist nodes and entries).
 *
 * Memory comes from malloc in blocks of ARENA_BLOCK_BYTES; each allocation
 * takes the next bytes of the current block. A request larger than a
 * quarter block gets a block of its own, so at most a quarter of a block
 * is wasted when a block is abandoned. Nothing is freed before
 * arena_destroy, which frees everything at once.
 *
 * Threading: one thread allocates; arena_bytes may be read from any thread
 * (an atomic counter). Memory handed out stays valid until arena_destroy.
 * The struct is public only so that it can be embedded; its fields are
 * private to arena.c and the inline fast path below.
 */
#ifndef RINGKV_STORAGE_ARENA_H
#define RINGKV_STORAGE_ARENA_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ARENA_BLOCK_BYTES 4096
/* Alignment of arena_alloc_aligned: enough for pointers and 64-bit atomics. */
#define ARENA_ALIGN_BYTES 8
_Static_assert(alignof(void *) <= ARENA_ALIGN_BYTES && alignof(uint64_t) <= ARENA_ALIGN_BYTES,
               "arena alignment too small for pointers");

struct arena_block;

struct arena {
    char *ptr;                  /* next free byte of the current block */
    size_t remaining;           /* free bytes after ptr */
    struct arena_block *blocks; /* every block, newest first */
    atomic_size_t bytes;        /* malloc'd bytes, block headers included */
};

void arena_init(struct arena *a);
/* Frees every block; the arena may be initialised again. */
void arena_destroy(struct arena *a);

/* Slow path of the allocators below (new block). NULL if malloc fails. */
void *arena_alloc_fallback(struct arena *a, size_t n);

/* n bytes with no alignment promise (n > 0); NULL if out of memory. */
static inline void *arena_alloc(struct arena *a, size_t n)
{
    if (n <= a->remaining) {
        char *p = a->ptr;
        a->ptr += n;
        a->remaining -= n;
        return p;
    }
    return arena_alloc_fallback(a, n);
}

/* n bytes aligned to ARENA_ALIGN_BYTES (n > 0); NULL if out of memory. */
static inline void *arena_alloc_aligned(struct arena *a, size_t n)
{
    size_t pad = (size_t)(-(uintptr_t)a->ptr & (ARENA_ALIGN_BYTES - 1));
    if (n + pad <= a->remaining) {
        char *p = a->ptr + pad;
        a->ptr += n + pad;
        a->remaining -= n + pad;
        return p;
    }
    return arena_alloc_fallback(a, n); /* new blocks start aligned (malloc) */
}

/* Bytes obtained from malloc so far (what the arena costs, not what was asked). */
static inline size_t arena_bytes(const struct arena *a)
{
    return atomic_load_explicit(&a->bytes, memory_order_relaxed);
}

#endif
