// SPDX-License-Identifier: GPL-2.0
/*
 * The connlimit counting engine.
 *
 * Each rule owns a table (struct cl_table) with one rhashtable of objects,
 * all found by a 64-bit id:
 *   keys:  one struct cl_key per masked address + zone + family, holding
 *          the key's count, its first CL_KEY_SLOTS entries in itself and
 *          the others on two queues; the id is a SipHash of those, keyed
 *          per table, with the low bit set;
 *   conns: one struct cl_conn per counted connection of a key whose slots
 *          were full when it came.
 * An entry's id is the address of its (referenced) nf_conn, with bit 1 set
 * if the packets that counted it travel in the REPLY direction (their
 * address is the other end's, so the key is another one, as upstream
 * counts them); conntrack objects are 8-byte aligned (skb->_nfct keeps
 * ctinfo in the low 3 bits), so bit 0 is clear and no entry id equals a key
 * id, and a slot has bit 2 for its own use.  A connection is counted once
 * per key and direction however many of its packets pass.
 * One table instead of two saves a second bucket array, which rhashtable
 * sizes to a power of two and the page allocator rounds up again.
 *
 * A packet of a key holding up to CL_KEY_SLOTS connections (most clients)
 * costs one SipHash, one hash lookup and one spinlock; beyond, a second
 * lookup, plus an allocation and an insert for a new connection (and so on
 * until the key's allocated entries are all gone, see struct cl_key).  Nothing
 * walks a key's connections: the entries checked on the way are bounded
 * per packet and per jiffy.
 *
 * How the engine learns that a connection is gone.  An out-of-tree module
 * gets no callback when a conntrack dies, so each entry holds a reference
 * to its nf_conn and looks at it when it is checked: a conntrack that is
 * dying, expired or a TCP connection in TIME_WAIT/CLOSE is gone; one never
 * confirmed that only we still hold (the packet was refused here or
 * dropped later) is gone too.  The entry then drops its reference.  While
 * we hold it, the object cannot be freed or reused, so its address is an
 * identity no other connection can share.  (A pointer kept without a
 * reference would not do: SLAB_TYPESAFE_BY_RCU keeps a freed nf_conn an
 * nf_conn only for readers that found it within the same RCU read-side
 * section; later its slab page may be given back and reused for anything.)
 *
 * Unconfirmed for good.  "Only we still hold it" cannot be told when we
 * hold it more than once: two rules with tables of their own both count a
 * SYN that the second refuses, or two keys of one named table see it
 * (NAT between two of its rules).  Each entry then sees the other's
 * reference and would keep the dropped conntrack, and the count, for as
 * long as the rules live.  So the background work ages pending entries:
 * at most once every CL_GC_INTERVAL it marks those whose conntrack is
 * unconfirmed, and one still unconfirmed at the next such pass (one to
 * two intervals later) is taken as dropped.  A packet is normally
 * confirmed microseconds after it was counted; one held longer than that
 * (a userspace queue taking over a second for its verdict) is the one
 * case where a connection that passed may end up not counted.
 *
 * The price: a dead conntrack stays allocated, and in conntrack's count,
 * until we check it -- within a background pass (a second) for keys of up
 * to CL_SWEEP_MIN connections, CL_SWEEP_PASSES passes for larger ones.
 * That matters when conntrack is full: its early drop then kills a
 * conntrack for each new one, and the killed ones we still hold keep the
 * count at the limit while fewer and fewer stay in its hash for early drop
 * to find, so it starts refusing new connections (legitimate ones too)
 * with "table full".  So a new connection that finds conntrack nearly full
 * (CL_PRESSURE_SHIFT) starts a pass at once, at most one every
 * CL_PRESSURE_GAP: under a flood the conntracks held dead are then those
 * killed during a pass and a gap, not during a second.  A namespace going
 * away waits for the work to let go of its conntracks.
 *
 * When entries are checked.  A dead entry can only make a count too high,
 * so a count that is not above the rule's limit needs no check at all: the
 * packet's answer ("not above") would be the same with an exact count.
 * Checks are made only where they can change an answer, and are bounded:
 *   - a packet that finds its key above the limit checks every pending
 *     entry (conntrack unconfirmed when last seen: connections in flight,
 *     or attempts refused since), then the confirmed entries in the key's
 *     slots and the least recently checked ones of its queue, at most
 *     CL_CHECKS_PER_JIFFY (+ CL_KEY_SLOTS) per key per jiffy.  A key with
 *     up to that many connections is recounted exactly on the first such
 *     packet of every jiffy; a larger key is walked round at
 *     CL_CHECKS_PER_JIFFY * HZ entries a second while it stays at its limit;
 *   - the background work, every CL_GC_INTERVAL, checks every pending entry
 *     and every slot of every key and at least 1/CL_SWEEP_PASSES of its
 *     queue (CL_SWEEP_MIN at least), least recently checked first, and
 *     frees keys left without entries.
 * So a connection that passed is counted until it is seen dead (a count is
 * never under, but for the queued packet above), and an entry whose conntrack died is seen within
 * CL_SWEEP_PASSES passes (8 s) at most, sooner when its key is at its
 * limit.  The memory of dead entries is therefore bounded by the
 * connections that died in the last few seconds, while conntrack itself
 * keeps closed TCP connections for minutes (TIME_WAIT).
 *
 * A new connection (conntrack not yet confirmed) is counted against every
 * entry, the ones still in flight on other CPUs included, so concurrent
 * openers never get past the limit together.  A confirmed connection's
 * packets are counted against the confirmed entries only: a connection
 * being refused at this moment elsewhere must not make the key look over
 * its limit to the connections it already holds.
 *
 * Locking: a key's spinlock guards its slots, its queues, its counts and
 * the entries that point at it (insert, remove).  Lookups run under RCU;
 * keys that were hashed are freed through call_rcu, entries through the
 * table's graveyard, which the background work hands to call_rcu in one
 * batch per pass (an entry has no room for an rcu_head).  Keys are freed
 * only by the background work (under the table's pass_lock, which listings
 * also take).
 * The match runs with BH disabled (legacy tables) and enabled (nft_compat,
 * OUTPUT), the work in process context: every spinlock is taken with
 * softirqs off (see cl_table_count()).
 * No lock or hash seed is shared between rules or namespaces.
 *
 * The upstream nf_conncount bugs, and how each is excluded here:
 *  1. Confirm race (tuple not yet in the conntrack hash): we never look the
 *     tuple up; a conntrack is checked through its own object, which our
 *     reference keeps.
 *  2. "Error" vs "count 0": the count includes the packet's connection, so
 *     it is >= 1; errors are negative and distinct.
 *  3. Zone comparison: an entry is its conntrack, zone and all; the key's
 *     zone is the conntrack's, compared as an id, never as a direction mask.
 *  4. Early-confirmed conntracks (localhost, TIME_WAIT reuse): a connection
 *     is added whatever its confirmation state; a new conntrack on the
 *     tuple of an old one is a new entry, and the old one is seen dead
 *     (conntrack kills it to make the new one).
 *  5. Walking a mutable rbtree without a lock: rhashtable with RCU lookups.
 *  6. Uninitialised fields: key ids are zeroed before they are filled;
 *     allocations set every field before publication.
 *  7. Teardown order: the work is stopped (flag + cancel, or disable) before
 *     a table is freed; module exit runs rcu_barrier() before
 *     kmem_cache_destroy().
 *  8. GC skip heuristics: checks are skipped only where no answer depends
 *     on them (a count not above the limit), and the per-jiffy budget is
 *     reset whenever jiffies moved on, so it cannot stick.
 *  9. Conntrack reference leaks: an entry's reference is taken when the
 *     entry is hashed or slotted, and put when it is unhashed
 *     (cl_conn_file()) or its slot emptied (cl_key_check_slots()) or its
 *     table destroyed: nowhere else.
 * 10. Shared lock arrays and hash seeds: none; everything is per table.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/llist.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "compat.h"
#include "engine.h"
#include "fault.h"
#include "stats.h"

/* Confirmed entries a key above its limit may check per jiffy. */
#define CL_CHECKS_PER_JIFFY	64
/* Period of the background work. */
#define CL_GC_INTERVAL		HZ
/* The background work checks every confirmed entry within this many passes */
#define CL_SWEEP_PASSES		8
/* ... and at least this many of a key's confirmed entries per pass. */
#define CL_SWEEP_MIN		64
/* Entries the background work checks per hold of a key's lock. */
#define CL_SWEEP_CHUNK		64
/* Conntrack is nearly full above 1 - 1/2^CL_PRESSURE_SHIFT of its max ... */
#define CL_PRESSURE_SHIFT	3
/* ... and then passes start at once, with at least this gap between them. */
#define CL_PRESSURE_GAP		max(HZ / 50, 1)

/* The low bit of an object's id tells keys (1) from entries (0) ... */
#define CL_ID_KEY		1ULL
/* ... and bit 1 an entry counted by REPLY-direction packets. */
#define CL_ID_REPLY		2ULL
#define CL_ID_FLAGS		(CL_ID_KEY | CL_ID_REPLY)

/* Entries a key holds in itself (a few connections per client are the rule) */
#define CL_KEY_SLOTS		4
/* A slot's entry whose conntrack was unconfirmed when last seen ... */
#define CL_SLOT_PENDING		4UL
/* ... and by an aging pass (bit 0 is CL_ID_KEY, never set in an entry id) */
#define CL_SLOT_AGED		1UL
#define CL_SLOT_FLAGS		(CL_SLOT_PENDING | CL_SLOT_AGED)
/* An nf_conn is aligned for skb->_nfct, which keeps ctinfo in its low bits */
static_assert((CL_ID_FLAGS | CL_SLOT_FLAGS) <= NFCT_INFOMASK);

/* The head of every object in a table's rhashtable. */
struct cl_node {
	struct rhash_head hash;
	u64 id;
};

struct cl_table {
	struct rhashtable objects;	/* keys and entries, by cl_node.id */
	siphash_key_t secret;		/* keys every id, per table */
	struct cl_counters __percpu *netc;	/* the namespace's counters */
	struct llist_head keys;		/* every hashed key, for the work */
	struct llist_head graveyard;	/* unhashed entries, to free after a GP */
	/*
	 * One pass over the keys at a time: the work's, a listing's or a
	 * clear's.  Keys are freed only by the work's pass, so a pass holding
	 * this mutex may sleep between two locks of the same key.
	 */
	struct mutex pass_lock;
	struct delayed_work gc_work;
	unsigned long pass_end;		/* jiffies when the last pass ended */
	unsigned long aged_at;		/* jiffies of the last aging pass */
	unsigned long kicked;		/* bit 0: a pass was started early */
	bool peaks;			/* keep each key's peak (listed tables) */
	bool stopping;			/* set before the work is stopped */
};

struct cl_conn;

/*
 * A key keeps its first entries in itself, in @slots: each the entry's id
 * (CL_SLOT_PENDING set while its conntrack was unconfirmed when last seen),
 * 0 when free.  Only a key whose slots are full allocates entries (struct
 * cl_conn, hashed in the table); it goes back to its slots alone once
 * those are gone.  Allocated confirmed entries form a circular singly
 * linked queue reached through its tail (tail->next is the head, the least
 * recently checked), so an entry checked alive moves to the tail by moving
 * the tail pointer.  Allocated pending entries form a stack: they are
 * always checked all together, as are the slots.
 */
struct cl_key {
	struct cl_node node;
	struct cl_key_id id;
	spinlock_t lock;		/* guards the fields below, our entries */
	unsigned int count;		/* entries: slots, both queues */
	unsigned int pending;		/* entries on the pending stack */
	/*
	 * Budget of checks while above the limit: @checks made in the jiffy
	 * whose low 32 bits are @checked_jiffy.  Only equality is tested; a
	 * false "same jiffy" needs 2^32 jiffies between two such packets
	 * and costs one jiffy's checks.
	 */
	u32 checked_jiffy;
	u32 peak;			/* highest count admitted (if peaks) */
	u32 over;			/* packets that found it above a limit */
	u8 checks;
	bool dead;			/* unhashed, being freed: look up again */
	u8 used;			/* slots holding an entry */
	u8 slots_pending;		/* of those, with CL_SLOT_PENDING */
	struct llist_node gc_node;	/* on table->keys while hashed */
	union {
		struct {
			struct cl_conn *confirmed_tail;
			struct cl_conn *pending_head;
		};
		struct rcu_head rcu;	/* once dead, with no entry left */
	};
	unsigned long slots[CL_KEY_SLOTS];
};

/*
 * A counted connection: 24 bytes, so that with its share of the hash table
 * it takes less memory than upstream's 72-byte entry.  The identity is the
 * conntrack's address instead of a copy of its tuple, the queue link is
 * single, and the "pending" flag lives in the low bit of that (8-byte
 * aligned) link.  Once unhashed and off its queue, nobody but the lookups
 * still in flight reads the entry, and they read only @node: the link
 * then serves the graveyard until a grace period has passed.
 */
struct cl_conn {
	struct cl_node node;
	union {
		unsigned long next_pending;	/* struct cl_conn * | flags */
		struct llist_node grave;	/* once unhashed */
	};
};

#define CL_CONN_PENDING	1UL	/* on the key's pending stack */
#define CL_CONN_AGED	2UL	/* pending, seen unconfirmed by an aging pass */
#define CL_CONN_FLAGS	(CL_CONN_PENDING | CL_CONN_AGED)

static_assert(sizeof(struct cl_conn) <= 24);
static_assert(sizeof(struct cl_key) <= 120);
static_assert(CL_CHECKS_PER_JIFFY + CL_KEY_SLOTS <= U8_MAX);
static_assert(offsetof(struct cl_key, node) == 0);
static_assert(offsetof(struct cl_conn, node) == 0);

enum cl_conn_state {
	CL_CONN_DEAD,
	CL_CONN_UNCONFIRMED,
	CL_CONN_CONFIRMED,
};

/*
 * Key ids are keyed SipHash values already, and entry ids are conntrack
 * addresses, which nobody outside the kernel chooses: a multiplicative
 * hash spreads both (an address's varying bits are its middle ones).  The
 * seed changes the placement at each resize.
 */
static u32 cl_id_hashfn(const void *data, u32 len, u32 seed)
{
	return hash_64(*(const u64 *)data ^ seed, 32);
}

static const struct rhashtable_params cl_params = {
	.head_offset = offsetof(struct cl_node, hash),
	.key_offset = offsetof(struct cl_node, id),
	.key_len = sizeof(u64),
	.hashfn = cl_id_hashfn,
	.automatic_shrinking = true,
};

static struct kmem_cache *cl_key_cache __read_mostly;
static struct kmem_cache *cl_conn_cache __read_mostly;

static struct nf_conn *cl_id_ct(u64 id)
{
	return (struct nf_conn *)(unsigned long)(id & ~CL_ID_FLAGS);
}

static struct nf_conn *cl_conn_ct(const struct cl_conn *conn)
{
	return cl_id_ct(conn->node.id);
}

static u64 cl_slot_id(unsigned long slot)
{
	return slot & ~CL_SLOT_FLAGS;
}

static struct nf_conn *cl_slot_ct(unsigned long slot)
{
	return cl_id_ct(cl_slot_id(slot));
}

static struct cl_conn *cl_conn_next(const struct cl_conn *conn)
{
	return (struct cl_conn *)(conn->next_pending & ~CL_CONN_FLAGS);
}

/* READ_ONCE: see cl_conn_add() for the one reader without the lock. */
static bool cl_conn_pending(const struct cl_conn *conn)
{
	return READ_ONCE(conn->next_pending) & CL_CONN_PENDING;
}

static void cl_conn_link(struct cl_conn *conn, struct cl_conn *next,
			 bool pending)
{
	conn->next_pending = (unsigned long)next |
			     (pending ? CL_CONN_PENDING : 0);
}

/*
 * The id of @key: SipHash of it, keyed per table.  An IPv4 key packs into
 * one word, which hashes in half the rounds of the whole struct.
 */
static u64 cl_key_hash(const struct cl_table *table,
		       const struct cl_key_id *id)
{
	u64 v4;

	if (id->family == NFPROTO_IPV6)
		return siphash(id, sizeof(*id), &table->secret) | CL_ID_KEY;
	v4 = (u64)be32_to_cpu(id->addr[0]) << 32 | (u64)id->zone << 8 |
	     id->family;
	return siphash_1u64(v4, &table->secret) | CL_ID_KEY;
}

/* The id of @ct's entry, counted by packets of direction @reply. */
static u64 cl_conn_id(const struct nf_conn *ct, bool reply)
{
	return (unsigned long)ct | (reply ? CL_ID_REPLY : 0);
}

static bool cl_ct_closed(const struct nf_conn *ct)
{
	u8 state;

	if (nf_ct_is_dying(ct))
		return true;
	if (nf_ct_is_confirmed(ct) && nf_ct_is_expired(ct))
		return true;
	if (nf_ct_protonum(ct) != IPPROTO_TCP)
		return false;
	state = READ_ONCE(ct->proto.tcp.state);
	return state == TCP_CONNTRACK_TIME_WAIT || state == TCP_CONNTRACK_CLOSE;
}

/*
 * Is the conntrack @ct of an entry still alive, and confirmed?  We hold a
 * reference, so it is still the conntrack we counted.  An unconfirmed one
 * that nobody but us holds was never confirmed and never will be.
 */
static enum cl_conn_state cl_ct_state(const struct cl_table *table,
				      const struct nf_conn *ct)
{
	cl_count_inc(table->netc, checks);
	if (!nf_ct_is_confirmed(ct))
		return refcount_read(&ct->ct_general.use) > 1 ?
		       CL_CONN_UNCONFIRMED : CL_CONN_DEAD;
	return cl_ct_closed(ct) ? CL_CONN_DEAD : CL_CONN_CONFIRMED;
}

/*
 * Free an entry no lookup can reach (never hashed, or table going); its
 * reference, if it took one, is the caller's to drop.
 */
static void cl_conn_free(struct cl_table *table, struct cl_conn *conn)
{
	kmem_cache_free(cl_conn_cache, conn);
	cl_count_dec(table->netc, conns);
}

/* Entries taken from a graveyard, freed together after a grace period. */
struct cl_grave_batch {
	struct rcu_head rcu;
	struct llist_node *dead;
};

static void cl_grave_free(struct llist_node *dead)
{
	struct cl_conn *conn, *next;

	llist_for_each_entry_safe(conn, next, dead, grave)
		kmem_cache_free(cl_conn_cache, conn);
}

static void cl_grave_batch_free_rcu(struct rcu_head *head)
{
	struct cl_grave_batch *batch = container_of(head, struct cl_grave_batch,
						    rcu);

	cl_grave_free(batch->dead);
	kfree(batch);
}

/*
 * Free the entries unhashed before this call, once no lookup can still be
 * reading them: through call_rcu, so the next pass need not wait for the
 * grace period, or after synchronize_rcu() if the batch cannot be had.
 * Process context.
 */
static void cl_graveyard_empty(struct cl_table *table)
{
	struct llist_node *dead = llist_del_all(&table->graveyard);
	struct cl_grave_batch *batch;

	if (!dead)
		return;
	batch = kmalloc(sizeof(*batch), GFP_KERNEL);
	if (!batch) {
		synchronize_rcu();
		cl_grave_free(dead);
		return;
	}
	batch->dead = dead;
	call_rcu(&batch->rcu, cl_grave_batch_free_rcu);
}

static void cl_key_free(struct cl_table *table, struct cl_key *key)
{
	kmem_cache_free(cl_key_cache, key);
	cl_count_dec(table->netc, keys);
}

/*
 * A key freed through RCU may outlive its table, so its counts are taken
 * off when it is unhashed and only the memory waits for the grace period.
 */
static void cl_key_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(cl_key_cache, container_of(head, struct cl_key, rcu));
}

/* Queue operations; the caller holds key->lock. */
static void cl_confirmed_push(struct cl_key *key, struct cl_conn *conn)
{
	struct cl_conn *tail = key->confirmed_tail;

	cl_conn_link(conn, tail ? cl_conn_next(tail) : conn, false);
	if (tail)
		cl_conn_link(tail, conn, false);
	key->confirmed_tail = conn;
}

static struct cl_conn *cl_confirmed_pop(struct cl_key *key)
{
	struct cl_conn *tail = key->confirmed_tail;
	struct cl_conn *head = cl_conn_next(tail);

	if (head == tail)
		key->confirmed_tail = NULL;
	else
		cl_conn_link(tail, cl_conn_next(head), false);
	return head;
}

static void cl_pending_push(struct cl_key *key, struct cl_conn *conn)
{
	cl_conn_link(conn, key->pending_head, true);
	key->pending_head = conn;
	key->pending++;
}

/*
 * File @conn, just taken off its queue, by its @state: confirmed queue,
 * pending stack, or gone.  The entry @keep (the id of the current packet's
 * entry, 0 if none) is never removed, so a count always includes its own
 * connection.  Caller holds key->lock.
 */
static void cl_conn_file(struct cl_table *table, struct cl_key *key,
			 struct cl_conn *conn, u64 keep,
			 enum cl_conn_state state)
{
	if (state == CL_CONN_CONFIRMED) {
		cl_confirmed_push(key, conn);
	} else if (state == CL_CONN_UNCONFIRMED || conn->node.id == keep) {
		cl_pending_push(key, conn);
	} else {
		rhashtable_remove_fast(&table->objects, &conn->node.hash,
				       cl_params);
		key->count--;
		cl_count_inc(table->netc, freed);
		cl_count_dec(table->netc, conns);
		nf_ct_put(cl_conn_ct(conn));
		llist_add(&conn->grave, &table->graveyard);
	}
}

/*
 * The state of a pending entry's conntrack, seen by an aging pass if
 * @aging: one still unconfirmed that the last aging pass saw unconfirmed
 * too (@aged) was dropped (see "Unconfirmed for good" above).
 */
static enum cl_conn_state cl_pending_state(const struct cl_table *table,
					   const struct nf_conn *ct,
					   bool aged, bool aging)
{
	enum cl_conn_state state = cl_ct_state(table, ct);

	if (state == CL_CONN_UNCONFIRMED && aged && aging)
		return CL_CONN_DEAD;
	return state;
}

/*
 * Check the slots' entries: the pending ones (in an aging pass if @aging),
 * or the confirmed ones; and return how many were checked.  As in
 * cl_conn_file(), @keep stays.  Caller holds key->lock and RCU.
 */
static unsigned int cl_key_check_slots(struct cl_table *table,
				       struct cl_key *key, u64 keep,
				       bool pending, bool aging)
{
	enum cl_conn_state state;
	unsigned int i, done = 0;
	unsigned long slot;

	for (i = 0; i < CL_KEY_SLOTS; i++) {
		slot = key->slots[i];
		if (!slot || !!(slot & CL_SLOT_PENDING) != pending)
			continue;
		done++;
		state = cl_pending_state(table, cl_slot_ct(slot),
					 slot & CL_SLOT_AGED, aging);
		if (state == CL_CONN_CONFIRMED) {
			slot &= ~CL_SLOT_FLAGS;
		} else if (state == CL_CONN_UNCONFIRMED) {
			slot |= CL_SLOT_PENDING | (aging ? CL_SLOT_AGED : 0);
		} else if (cl_slot_id(slot) == keep) {
			slot = (slot & ~CL_SLOT_AGED) | CL_SLOT_PENDING;
		} else {
			slot = 0;
			key->used--;
			key->count--;
			cl_count_inc(table->netc, freed);
			cl_count_dec(table->netc, conns);
			nf_ct_put(cl_slot_ct(key->slots[i]));
		}
		key->slots_pending += !!(slot & CL_SLOT_PENDING) - pending;
		key->slots[i] = slot;
	}
	return done;
}

/*
 * Check every pending entry once, in an aging pass if @aging.  Caller
 * holds key->lock and RCU.
 */
static void cl_key_check_pending(struct cl_table *table, struct cl_key *key,
				 u64 keep, bool aging)
{
	struct cl_conn *conn = key->pending_head, *next;
	enum cl_conn_state state;
	bool aged;

	if (key->slots_pending)
		cl_key_check_slots(table, key, keep, true, aging);
	key->pending_head = NULL;
	key->pending = 0;
	for (; conn; conn = next) {
		next = cl_conn_next(conn);
		aged = conn->next_pending & CL_CONN_AGED;
		state = cl_pending_state(table, cl_conn_ct(conn), aged, aging);
		cl_conn_file(table, key, conn, keep, state);
		/* filed on the pending stack again, unmarked */
		if (state == CL_CONN_UNCONFIRMED && (aged || aging))
			conn->next_pending |= CL_CONN_AGED;
	}
}

/*
 * Check up to @budget confirmed entries of the queue, least recently
 * checked first, and return how many were checked.  @budget must not
 * exceed the number of entries on the queue, so none is checked twice.
 * Caller holds key->lock and RCU.
 */
static unsigned int cl_key_check_oldest(struct cl_table *table,
					struct cl_key *key, u64 keep,
					unsigned int budget)
{
	enum cl_conn_state state;
	unsigned int done = 0;
	struct cl_conn *head;

	for (; done < budget && key->confirmed_tail; done++) {
		head = cl_conn_next(key->confirmed_tail);
		state = cl_ct_state(table, cl_conn_ct(head));
		if (state == CL_CONN_CONFIRMED)
			key->confirmed_tail = head;	/* head becomes tail */
		else
			cl_conn_file(table, key, cl_confirmed_pop(key), keep,
				     state);
	}
	return done;
}

/* Entries whose conntrack was confirmed when last seen. */
static unsigned int cl_key_confirmed(const struct cl_key *key)
{
	return key->count - key->pending - key->slots_pending;
}

/* Those on the confirmed queue (not in slots). */
static unsigned int cl_key_queued(const struct cl_key *key)
{
	return key->count - key->used - key->pending;
}

/*
 * The key's count is above a rule's limit: check what may bring it down,
 * within the key's budget for this jiffy.  Caller holds key->lock and RCU.
 */
static void cl_key_recheck(struct cl_table *table, struct cl_key *key,
			   u64 keep)
{
	u32 now = (u32)jiffies;
	unsigned int budget;

	cl_key_check_pending(table, key, keep, false);
	if (key->checked_jiffy != now) {
		key->checked_jiffy = now;
		key->checks = 0;
	}
	if (key->checks >= CL_CHECKS_PER_JIFFY)
		return;
	/* the slots first: a few, all in the key (may go over by as many) */
	key->checks += cl_key_check_slots(table, key, keep, false, false);
	budget = min_t(unsigned int,
		       CL_CHECKS_PER_JIFFY - min_t(unsigned int, key->checks,
						   CL_CHECKS_PER_JIFFY),
		       cl_key_queued(key));
	key->checks += cl_key_check_oldest(table, key, keep, budget);
}

/*
 * A new conntrack was just made for @ct's packet: if conntrack is nearly
 * full, have the work check for dead conntracks we hold now rather than
 * within a second (see "The price" above).  One early pass at a time, and
 * CL_PRESSURE_GAP after the last pass ended at the soonest.
 */
static void cl_table_pressure(struct cl_table *table, const struct nf_conn *ct)
{
	unsigned int max = READ_ONCE(nf_conntrack_max);

	if (!max || nf_conntrack_count(nf_ct_net(ct)) <
		    max - (max >> CL_PRESSURE_SHIFT))
		return;
	if (time_before(jiffies, READ_ONCE(table->pass_end) + CL_PRESSURE_GAP))
		return;
	if (test_and_set_bit(0, &table->kicked))
		return;
	mod_delayed_work(system_power_efficient_wq, &table->gc_work, 0);
}

/*
 * Count @ct under @key as the entry @id, unless that entry exists.  Caller
 * holds key->lock.
 *
 * An entry found is one of this key's (the same conntrack and direction
 * give the same address, so the same key) and stays while the lock is
 * held -- except where rules sharing a named table see a direction's
 * packets with two addresses (NAT between their hooks): the entry found
 * may then be another key's, only compared and read (RCU keeps its
 * memory), and the connection is counted under that key alone.  (A key
 * keeping its entries in its slots does not look in the hash table: such
 * a connection is then counted under both keys, as if each address held
 * it, which is what it looks like from either rule.)
 */
static struct cl_conn *cl_conn_add(struct cl_table *table, struct cl_key *key,
				   u64 id, struct nf_conn *ct)
{
	struct rhash_head *old;
	struct cl_conn *conn;

	conn = cl_fault() ? NULL : kmem_cache_alloc(cl_conn_cache, GFP_ATOMIC);
	if (!conn)
		return ERR_PTR(-ENOMEM);
	cl_count_inc(table->netc, conns);
	conn->node.id = id;
	conn->next_pending = 0;
	old = rhashtable_lookup_get_insert_fast(&table->objects,
						&conn->node.hash, cl_params);
	if (old) {
		cl_conn_free(table, conn);
		if (IS_ERR(old))
			return ERR_CAST(old);
		return container_of(old, struct cl_conn, node.hash);
	}
	nf_conntrack_get(&ct->ct_general);
	if (nf_ct_is_confirmed(ct)) {
		cl_confirmed_push(key, conn);
	} else {
		cl_pending_push(key, conn);
		cl_table_pressure(table, ct);
	}
	key->count++;
	return conn;
}

/* The packet's own entry: in a slot of its key, or allocated (or none). */
struct cl_own {
	struct nf_conn *ct;	/* NULL: counted as one more, not remembered */
	u64 id;			/* 0 without @ct */
	unsigned long *slot;
	struct cl_conn *conn;	/* may be another key's, see cl_conn_add() */
};

/* The count @own's packet sees. Caller holds key->lock. */
static unsigned int cl_own_count(const struct cl_key *key,
				 const struct cl_own *own)
{
	bool pending;

	if (!own->ct)
		return key->count + 1;
	if (!nf_ct_is_confirmed(own->ct))
		return key->count;
	/* its own entry counts even if nothing promoted it yet */
	pending = own->slot ? *own->slot & CL_SLOT_PENDING :
			      cl_conn_pending(own->conn);
	return cl_key_confirmed(key) + pending;
}

/*
 * Note a packet's count: above the limit, or maybe a new peak.  A peak is
 * only raised on a rechecked count: dead entries must not make one, and
 * nothing else checks a key that stays below its limits.
 */
static unsigned int cl_key_note(struct cl_table *table, struct cl_key *key,
				const struct cl_own *own, unsigned int count,
				u32 limit)
{
	if (count > limit) {
		key->over++;
		return count;
	}
	if (!table->peaks || count <= key->peak)
		return count;
	cl_key_recheck(table, key, own->id);
	count = cl_own_count(key, own);
	key->peak = max(key->peak, count);
	return count;
}

/* Put @own's new entry in the free slot @i of @key.  Caller holds its lock. */
static void cl_slot_fill(struct cl_table *table, struct cl_key *key,
			 unsigned int i, struct cl_own *own)
{
	bool pending = !nf_ct_is_confirmed(own->ct);

	nf_conntrack_get(&own->ct->ct_general);
	key->slots[i] = own->id | (pending ? CL_SLOT_PENDING : 0);
	key->used++;
	key->slots_pending += pending;
	key->count++;
	cl_count_inc(table->netc, conns);
	own->slot = &key->slots[i];
	if (pending)
		cl_table_pressure(table, own->ct);
}

/*
 * Find @own's entry under @key, or add it: in a free slot while the key
 * has no allocated entry (so none of its entries is in the hash table,
 * which then need not be looked at), else allocated and hashed.  Caller
 * holds key->lock and RCU.
 */
static int cl_key_find_or_add(struct cl_table *table, struct cl_key *key,
			      struct cl_own *own)
{
	struct rhash_head *found = NULL;
	unsigned int i, free = CL_KEY_SLOTS;

	for (i = 0; i < CL_KEY_SLOTS; i++) {
		if (cl_slot_id(key->slots[i]) == own->id) {
			own->slot = &key->slots[i];
			return 0;
		}
		if (!key->slots[i])
			free = i;
	}
	if (free < CL_KEY_SLOTS && key->used == key->count) {
		cl_slot_fill(table, key, free, own);
		return 0;
	}
	/*
	 * A confirmed conntrack has most likely been counted (every packet
	 * of a connection may come here): look it up.  An unconfirmed one
	 * is most likely new: insert, and look up on the way (rhashtable
	 * walks the chain before inserting anyway).
	 */
	if (nf_ct_is_confirmed(own->ct))
		found = rhashtable_lookup(&table->objects, &own->id, cl_params);
	if (found) {
		own->conn = container_of(found, struct cl_conn, node.hash);
		return 0;
	}
	own->conn = cl_conn_add(table, key, own->id, own->ct);
	return PTR_ERR_OR_ZERO(own->conn);
}

/*
 * Count @ct, seen in direction @reply, under @key.  Caller holds key->lock
 * (softirqs off) and RCU.
 */
static int cl_key_count(struct cl_table *table, struct cl_key *key,
			struct nf_conn *ct, bool reply, u32 limit)
{
	struct cl_own own = { .ct = ct };
	int err;

	if (ct) {
		own.id = cl_conn_id(ct, reply);
		err = cl_key_find_or_add(table, key, &own);
		if (err)
			return err;
	}
	/* without a conntrack the packet is one more than the entries */
	if (key->count + !ct > limit)
		cl_key_recheck(table, key, own.id);
	return cl_key_note(table, key, &own, cl_own_count(key, &own), limit);
}

static struct cl_key *cl_key_create(struct cl_table *table,
				    const struct cl_key_id *id, u64 hash)
{
	struct rhash_head *old;
	struct cl_key *key;

	key = cl_fault() ? NULL : kmem_cache_alloc(cl_key_cache, GFP_ATOMIC);
	if (!key)
		return ERR_PTR(-ENOMEM);
	cl_count_inc(table->netc, keys);
	key->node.id = hash;
	key->id = *id;
	spin_lock_init(&key->lock);
	key->count = 0;
	key->pending = 0;
	key->checked_jiffy = (u32)jiffies - 1;
	key->checks = 0;
	key->dead = false;
	key->used = 0;
	key->slots_pending = 0;
	key->peak = 0;
	key->over = 0;
	key->confirmed_tail = NULL;
	key->pending_head = NULL;
	memset(key->slots, 0, sizeof(key->slots));

	old = rhashtable_lookup_get_insert_fast(&table->objects,
						&key->node.hash, cl_params);
	if (old) {
		/* Lost a race with another CPU, or the table refused. */
		cl_key_free(table, key);
		if (IS_ERR(old))
			return ERR_CAST(old);
		return container_of(old, struct cl_key, node.hash);
	}
	llist_add(&key->gc_node, &table->keys);
	/*
	 * The work is idle while the table has no keys.  Added to the list
	 * first: a work already running either takes this key or, at its
	 * end, finds the list not empty and queues itself again.
	 */
	if (!delayed_work_pending(&table->gc_work))
		queue_delayed_work(system_power_efficient_wq, &table->gc_work,
				   CL_GC_INTERVAL);
	return key;
}

/* Same key?  Field by field, rather than an out-of-line memcmp() call. */
static bool cl_key_id_equal(const struct cl_key_id *a,
			    const struct cl_key_id *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3] &&
	       a->zone == b->zone && a->family == b->family;
}

/*
 * The packet path runs inside the netfilter hook's RCU read-side section
 * (nf_hook() holds it around every rule), so it takes no RCU lock of its
 * own.  Softirqs must be off while a key's lock is held (the work and the
 * listings take it from a process); iptables-legacy runs its rules with
 * them off already, nft_compat from a process (OUTPUT) may not, and only
 * then are they turned off here: turning them on again costs a call per
 * packet that the common case need not pay.
 */
int cl_table_count(struct cl_table *table, const struct cl_key_id *id,
		   struct nf_conn *ct, bool reply, u32 limit)
{
	u64 hash = cl_key_hash(table, id);
	bool bh_off = !in_softirq();
	struct rhash_head *found;
	struct cl_key *key;
	int ret;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "connlimit: packet outside RCU");
	if (bh_off)
		local_bh_disable();
	for (;;) {
		found = rhashtable_lookup(&table->objects, &hash, cl_params);
		if (found) {
			key = container_of(found, struct cl_key, node.hash);
		} else {
			if (!ct) {
				ret = 1;	/* nothing counted under this key */
				goto out;
			}
			key = cl_key_create(table, id, hash);
			if (IS_ERR(key)) {
				ret = PTR_ERR(key);
				goto out;
			}
		}
		spin_lock(&key->lock);
		if (!key->dead)
			break;
		/* Unhashed before its lock was dropped: the retry won't see it. */
		spin_unlock(&key->lock);
	}
	/* Two keys with one 64-bit keyed hash: refuse rather than mix them. */
	if (unlikely(!cl_key_id_equal(&key->id, id)))
		ret = -EEXIST;
	else
		ret = cl_key_count(table, key, ct, reply, limit);
	spin_unlock(&key->lock);
out:
	if (bh_off)
		local_bh_enable();
	return ret;
}

/*
 * Check every pending entry of @key (as an aging pass if @aging), every
 * slot, and @budget of the confirmed queue (all of it if @budget is
 * UINT_MAX), a chunk per hold of the lock.  Caller holds table->pass_lock,
 * so @key stays valid between chunks.
 */
static void cl_key_sweep(struct cl_table *table, struct cl_key *key,
			 unsigned int budget, bool aging)
{
	unsigned int chunk;

	rcu_read_lock();
	spin_lock_bh(&key->lock);
	cl_key_check_pending(table, key, 0, aging);
	cl_key_check_slots(table, key, 0, false, false);
	budget = min(budget, cl_key_queued(key));
	for (;;) {
		chunk = min3(budget, (unsigned int)CL_SWEEP_CHUNK,
			     cl_key_queued(key));
		budget -= cl_key_check_oldest(table, key, 0, chunk);
		if (!budget || !key->confirmed_tail)
			break;
		spin_unlock_bh(&key->lock);
		rcu_read_unlock();
		cond_resched();
		rcu_read_lock();
		spin_lock_bh(&key->lock);
	}
	spin_unlock_bh(&key->lock);
	rcu_read_unlock();
}

/* Free @key if it has no entries left; returns whether it lives on. */
static bool cl_key_reap(struct cl_table *table, struct cl_key *key)
{
	bool alive = true;

	spin_lock_bh(&key->lock);
	if (!key->count) {
		key->dead = true;
		rhashtable_remove_fast(&table->objects, &key->node.hash,
				       cl_params);
		cl_count_dec(table->netc, keys);
		call_rcu(&key->rcu, cl_key_free_rcu);
		alive = false;
	}
	spin_unlock_bh(&key->lock);
	return alive;
}

/*
 * Background pass: every key's pending entries and a share of its
 * confirmed ones (1/CL_SWEEP_PASSES, at least CL_SWEEP_MIN); keys left
 * without entries are freed.
 */
static void cl_table_gc_work(struct work_struct *work)
{
	struct cl_table *table = container_of(to_delayed_work(work),
					      struct cl_table, gc_work);
	struct llist_node *kept = NULL, *kept_last = NULL;
	struct cl_key *key, *next;
	unsigned int confirmed;
	bool aging;

	mutex_lock(&table->pass_lock);
	/* One aging pass a CL_GC_INTERVAL at most, early passes or not. */
	aging = time_after_eq(jiffies, table->aged_at + CL_GC_INTERVAL);
	if (aging)
		table->aged_at = jiffies;
	/* Keys created meanwhile go on the emptied list and wait a pass. */
	llist_for_each_entry_safe(key, next, llist_del_all(&table->keys),
				  gc_node) {
		confirmed = READ_ONCE(key->count);
		cl_key_sweep(table, key,
			     max_t(unsigned int, CL_SWEEP_MIN,
				   DIV_ROUND_UP(confirmed, CL_SWEEP_PASSES)),
			     aging);
		if (cl_key_reap(table, key)) {
			key->gc_node.next = kept;
			kept = &key->gc_node;
			if (!kept_last)
				kept_last = kept;
		}
		cond_resched();
	}
	if (kept)
		llist_add_batch(kept, kept_last, &table->keys);
	WRITE_ONCE(table->pass_end, jiffies);
	mutex_unlock(&table->pass_lock);
	/* After pass_end: a kick in between waits out the gap. */
	clear_bit(0, &table->kicked);
	/* The entries this pass (and packets, and listings) unhashed. */
	cl_graveyard_empty(table);

	if (!READ_ONCE(table->stopping) && !llist_empty(&table->keys))
		queue_delayed_work(system_power_efficient_wq, &table->gc_work,
				   CL_GC_INTERVAL);
}

/*
 * Report every key of the table to @fn with an exact count: each key's
 * entries are all checked first.  With @clear, each peak restarts from the
 * key's count and the over-limit counter from zero.  Stops at the first
 * error @fn returns.  Process context.
 */
int cl_table_report(struct cl_table *table, bool clear,
		    int (*fn)(const struct cl_key_report *report, void *arg),
		    void *arg)
{
	struct cl_key_report report;
	struct llist_node *first;
	struct cl_key *key;
	int err = 0;

	mutex_lock(&table->pass_lock);
	/*
	 * With the work excluded, the list holds every key; keys added
	 * meanwhile are pushed in front of @first and not visited.
	 */
	first = READ_ONCE(table->keys.first);
	llist_for_each_entry(key, first, gc_node) {
		cl_key_sweep(table, key, UINT_MAX, false);
		spin_lock_bh(&key->lock);
		if (clear) {
			key->peak = cl_key_confirmed(key);
			key->over = 0;
		}
		report.id = key->id;
		report.conns = cl_key_confirmed(key);
		report.peak = max(key->peak, report.conns);
		report.over = key->over;
		spin_unlock_bh(&key->lock);
		if (fn)
			err = fn(&report, arg);
		if (err)
			break;
		cond_resched();
	}
	mutex_unlock(&table->pass_lock);
	return err;
}

void cl_table_count_failure(struct cl_table *table)
{
	cl_count_inc(table->netc, alloc_failures);
}

struct cl_table *cl_table_create(struct net *net,
				 struct cl_counters __percpu *netc, bool peaks)
{
	struct cl_table *table;

	table = kzalloc(sizeof(*table), GFP_KERNEL);
	if (!table)
		return NULL;
	if (rhashtable_init(&table->objects, &cl_params)) {
		kfree(table);
		return NULL;
	}
	get_random_bytes(&table->secret, sizeof(table->secret));
	table->netc = netc;
	table->peaks = peaks;
	init_llist_head(&table->keys);
	init_llist_head(&table->graveyard);
	mutex_init(&table->pass_lock);
	INIT_DELAYED_WORK(&table->gc_work, cl_table_gc_work);
	table->pass_end = jiffies - CL_PRESSURE_GAP;
	table->aged_at = jiffies;
	cl_count_inc(netc, tables);
	return table;
}

/* Teardown frees everything directly: no packet can reach the table. */
static void cl_object_free_now(void *ptr, void *arg)
{
	struct cl_table *table = arg;
	struct cl_node *node = ptr;
	struct cl_conn *conn;
	struct cl_key *key;
	unsigned int i;

	if (node->id & CL_ID_KEY) {
		key = container_of(node, struct cl_key, node);
		for (i = 0; i < CL_KEY_SLOTS; i++) {
			if (!key->slots[i])
				continue;
			nf_ct_put(cl_slot_ct(key->slots[i]));
			cl_count_dec(table->netc, conns);
		}
		cl_key_free(table, key);
	} else {
		conn = container_of(node, struct cl_conn, node);
		nf_ct_put(cl_conn_ct(conn));
		cl_conn_free(table, conn);
	}
}

/*
 * Called once no packet can run a rule using the table any more (the
 * match's destroy, after x_tables or nf_tables made sure of it), so no
 * lookup is in flight either: the graveyard needs no grace period.  Keys
 * already unhashed are in flight to call_rcu and need nothing from it.
 */
void cl_table_destroy(struct cl_table *table)
{
	WRITE_ONCE(table->stopping, true);
	cl_stop_delayed_work(&table->gc_work);
	cl_grave_free(llist_del_all(&table->graveyard));
	rhashtable_free_and_destroy(&table->objects, cl_object_free_now, table);
	cl_count_dec(table->netc, tables);
	mutex_destroy(&table->pass_lock);
	kfree(table);
}

int cl_engine_init(void)
{
	cl_key_cache = KMEM_CACHE(cl_key, 0);
	if (!cl_key_cache)
		return -ENOMEM;
	cl_conn_cache = KMEM_CACHE(cl_conn, 0);
	if (!cl_conn_cache) {
		kmem_cache_destroy(cl_key_cache);
		return -ENOMEM;
	}
	return 0;
}

void cl_engine_exit(void)
{
	/* Wait for every call_rcu() free before the caches go away. */
	rcu_barrier();
	kmem_cache_destroy(cl_conn_cache);
	kmem_cache_destroy(cl_key_cache);
}
