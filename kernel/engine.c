// SPDX-License-Identifier: GPL-2.0
/*
 * The connlimit counting engine.
 *
 * Each rule owns a table (struct cl_table) with two rhashtables:
 *   keys:  one struct cl_key per masked address + zone + family, holding the
 *          key's count and its entries on two lists;
 *   conns: one struct cl_conn per counted connection, found by a keyed
 *          hash of (key, ORIGINAL tuple, ORIGINAL-direction zone id), so
 *          a connection is counted once however many of its packets pass.
 * A packet costs two hash lookups, at most CL_GC_PER_PACKET entry checks plus
 * the key's pending entries (each checked entry is removed or moved on, so
 * this is constant when amortised) and one spinlock: nothing walks a key's
 * connections, however many it holds.
 *
 * How the engine learns that a connection is gone.  An out-of-tree module
 * gets no callback when a conntrack dies, so each entry keeps a pointer to
 * its nf_conn WITHOUT a reference (nothing is pinned: a dead conntrack
 * never occupies nf_conntrack_max on our behalf, and no namespace teardown
 * waits for us).  nf_conn is SLAB_TYPESAFE_BY_RCU: under RCU the memory
 * stays an nf_conn, though it may be freed and reused.  cl_conn_state()
 * takes a reference only if the refcount is not zero, then checks that the
 * object is still our connection (net, ORIGINAL tuple, zone) and alive
 * (not dying, not expired, TCP not in TIME_WAIT/CLOSE).  A conntrack that
 * was never confirmed (the packet was refused here or dropped later) is
 * freed with its packet, so its entry is seen dead at the next check.
 *
 * When entries are checked:
 *   - pending list (conntrack unconfirmed when last seen): all of them, on
 *     every packet of the key, so a refused connection stops counting at
 *     the key's next packet;
 *   - confirmed list: the CL_GC_PER_PACKET least recently checked on every
 *     packet of the key (live ones rotate to the tail), CL_GC_AT_LIMIT more
 *     when a new connection finds the key over its limit;
 *   - all of the key's entries when a packet of a confirmed connection
 *     finds the key over its limit, at most once per jiffy per key: a live
 *     connection is refused only on an exact count, give or take the
 *     connections that died within the current jiffy;
 *   - all entries of all keys by the background work every CL_GC_INTERVAL,
 *     which also frees keys left without entries.
 * So an entry whose conntrack died is counted (over-count) for at most one
 * background pass, about one second, and a new connection may be refused
 * for that long after its client closed another; a count is never under:
 * every connection that passed is on a list until it is seen dead.
 *
 * Locking: a key's spinlock guards its lists, its count and the conns
 * entries that point at it (insert, remove, free).  Lookups run under RCU;
 * keys are freed through call_rcu, entries come from a SLAB_TYPESAFE_BY_RCU
 * cache (see struct cl_conn).  The match runs with BH
 * disabled (legacy tables) and enabled (nft_compat, OUTPUT), the work in
 * process context: every lock is taken with _bh.  No lock or hash seed is
 * shared between rules or namespaces (rhashtable seeds each table, and
 * each table has its own SipHash secret).
 *
 * The upstream nf_conncount bugs, and how each is excluded here:
 *  1. Confirm race (tuple not yet in the conntrack hash): we never look the
 *     tuple up; an unconfirmed conntrack is checked through its own object.
 *  2. "Error" vs "count 0": the count includes the packet's connection, so
 *     it is >= 1; errors are negative and distinct.
 *  3. Zone comparison: the ORIGINAL-direction zone id is part of the entry's
 *     identity and is compared as an id, never as a direction mask.
 *  4. Early-confirmed conntracks (localhost, TIME_WAIT reuse): a connection
 *     is added whatever its confirmation state; a new conntrack on the same
 *     tuple replaces the old one in the existing entry.
 *  5. Walking a mutable rbtree without a lock: rhashtables with RCU lookups.
 *  6. Uninitialised fields: hash input is zeroed before it is filled;
 *     allocations set every field before publication.
 *  7. Teardown order: the work is stopped (flag + cancel, or disable) before
 *     a table is freed; module exit runs rcu_barrier() before
 *     kmem_cache_destroy().
 *  8. GC skip heuristics: the only one is the once-per-jiffy full recount,
 *     compared with time_after() at unsigned long width; nothing else is
 *     skipped.
 *  9. Conntrack reference leaks: references live only inside
 *     cl_conn_state() and the caller's lookup, each put on every path.
 * 10. Shared lock arrays and hash seeds: none; everything is per table.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
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
#include "stats.h"

/* Confirmed entries checked per packet of a key, oldest first. */
#define CL_GC_PER_PACKET	2
/* More of them checked before a new connection is found over the limit. */
#define CL_GC_AT_LIMIT		8
/* Period of the background pass over every entry of a table. */
#define CL_GC_INTERVAL		HZ
/* Keys visited by the background pass between two reschedule points. */
#define CL_GC_BATCH		64

struct cl_table {
	struct rhashtable keys;
	struct rhashtable conns;
	siphash_key_t conn_secret;	/* keys cl_conn_id(), per table */
	possible_net_t net;
	struct delayed_work gc_work;
	bool stopping;			/* set before the work is stopped */
};

struct cl_key {
	struct rhash_head node;
	struct cl_key_id id;
	spinlock_t lock;		/* guards the fields below and our entries */
	bool dead;			/* unhashed, being freed: look up again */
	unsigned int count;		/* entries on both lists */
	unsigned int pending;		/* entries on the pending list */
	unsigned long recounted;	/* jiffies of the last full recount */
	struct list_head confirmed_list;	/* oldest check first */
	struct list_head pending_list;	/* conntrack unconfirmed when last seen */
	struct rcu_head rcu;
};

/*
 * A counted connection.  40 bytes, so that with its share of the hash
 * table it takes less memory than upstream's 72-byte entry: the identity is
 * a 64-bit keyed hash instead of a copy of the tuple, the cache is
 * SLAB_TYPESAFE_BY_RCU instead of carrying an rcu_head, and the "pending"
 * flag lives in the low bit of the (8-byte aligned) conntrack pointer.
 *
 * Freed entries may be reused at once.  That is safe because an entry is
 * only ever inserted, removed, freed and used under its key's lock, and a
 * lookup (under that lock) that meets another key's entry being reused
 * compares its id and moves on; rhashtable restarts a walk that was led
 * into another chain.
 */
struct cl_conn {
	struct rhash_head node;
	u64 id;				/* cl_conn_id() */
	unsigned long ct_pending;	/* nf_conn *, no reference | PENDING */
	struct list_head list;		/* on one of the key's two lists */
};

#define CL_CONN_PENDING	1UL	/* on key->pending_list */

static_assert(sizeof(struct cl_conn) <= 40);

static struct nf_conn *cl_conn_ct(const struct cl_conn *conn)
{
	return (struct nf_conn *)(conn->ct_pending & ~CL_CONN_PENDING);
}

static bool cl_conn_pending(const struct cl_conn *conn)
{
	return conn->ct_pending & CL_CONN_PENDING;
}

static void cl_conn_set(struct cl_conn *conn, struct nf_conn *ct,
			bool pending)
{
	conn->ct_pending = (unsigned long)ct | (pending ? CL_CONN_PENDING : 0);
}

enum cl_conn_state {
	CL_CONN_DEAD,
	CL_CONN_UNCONFIRMED,
	CL_CONN_CONFIRMED,
};

static const struct rhashtable_params cl_key_params = {
	.head_offset = offsetof(struct cl_key, node),
	.key_offset = offsetof(struct cl_key, id),
	.key_len = sizeof(struct cl_key_id),
	.automatic_shrinking = true,
};

static const struct rhashtable_params cl_conn_params = {
	.head_offset = offsetof(struct cl_conn, node),
	.key_offset = offsetof(struct cl_conn, id),
	.key_len = sizeof(u64),
	.automatic_shrinking = true,
};

static struct kmem_cache *cl_key_cache __read_mostly;
static struct kmem_cache *cl_conn_cache __read_mostly;

/*
 * The identity of @ct counted under @key: a SipHash, keyed per table, of the
 * key, the ORIGINAL tuple and the ORIGINAL-direction zone id.  Two of a
 * key's connections are confused only if their 64-bit hashes collide (odds
 * about n^2 / 2^65 for n connections: below 10^-9 at n = 100,000), and the
 * per-table secret keeps anyone from choosing colliding tuples.
 */
static u64 cl_conn_id(const struct cl_table *table, const struct cl_key *key,
		      const struct nf_conn *ct)
{
	struct {
		const struct cl_key *key;
		struct nf_conntrack_tuple tuple;
		u64 zone;
	} in;

	memset(&in, 0, sizeof(in));
	in.key = key;
	in.tuple = ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	in.zone = nf_ct_zone_id(nf_ct_zone(ct), IP_CT_DIR_ORIGINAL);
	return siphash(&in, sizeof(in), &table->conn_secret);
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
 * Is the conntrack behind @conn still the connection we counted, and alive?
 * Caller holds rcu_read_lock(): @conn->ct may have been freed and reused, but
 * stays an nf_conn (SLAB_TYPESAFE_BY_RCU).  A zero refcount means freed; a
 * reference taken on a reused object is checked against our identity and
 * dropped.  Reuse for a new conntrack of the very same connection (same net,
 * tuple and zone) keeps counting, which is what that connection is.
 */
static enum cl_conn_state cl_conn_state(const struct cl_table *table,
					const struct cl_key *key,
					const struct cl_conn *conn)
{
	struct nf_conn *ct = cl_conn_ct(conn);
	enum cl_conn_state state = CL_CONN_DEAD;

	if (!refcount_inc_not_zero(&ct->ct_general.use))
		return CL_CONN_DEAD;
	/* Read the identity only after the refcount, as conntrack does. */
	smp_acquire__after_ctrl_dep();

	if (net_eq(nf_ct_net(ct), read_pnet(&table->net)) &&
	    cl_conn_id(table, key, ct) == conn->id && !cl_ct_closed(ct))
		state = nf_ct_is_confirmed(ct) ? CL_CONN_CONFIRMED :
						 CL_CONN_UNCONFIRMED;
	nf_ct_put(ct);
	return state;
}

static void cl_conn_free(struct cl_conn *conn)
{
	kmem_cache_free(cl_conn_cache, conn);
	atomic_long_dec(&cl_stats.conns);
}

static void cl_key_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(cl_key_cache, container_of(head, struct cl_key, rcu));
	atomic_long_dec(&cl_stats.keys);
}

/* Put @conn at the tail of the pending or confirmed list. Holds key->lock. */
static void cl_conn_file(struct cl_key *key, struct cl_conn *conn,
			 bool pending)
{
	key->pending += (int)pending - (int)cl_conn_pending(conn);
	cl_conn_set(conn, cl_conn_ct(conn), pending);
	list_move_tail(&conn->list, pending ? &key->pending_list :
					      &key->confirmed_list);
}

/* Caller holds key->lock. */
static void cl_conn_remove(struct cl_table *table, struct cl_key *key,
			   struct cl_conn *conn)
{
	rhashtable_remove_fast(&table->conns, &conn->node, cl_conn_params);
	list_del(&conn->list);
	key->pending -= cl_conn_pending(conn);
	key->count--;
	cl_conn_free(conn);
}

/*
 * Check one entry and file it: gone entries are removed, the others go to
 * the tail of the list matching their state.  @keep (the current packet's
 * entry) is never removed, so a count always includes its own connection.
 * Caller holds key->lock and rcu_read_lock().
 */
static void cl_conn_check(struct cl_table *table, struct cl_key *key,
			  struct cl_conn *conn, const struct cl_conn *keep)
{
	switch (cl_conn_state(table, key, conn)) {
	case CL_CONN_DEAD:
		if (conn != keep) {
			cl_conn_remove(table, key, conn);
			break;
		}
		fallthrough;
	case CL_CONN_UNCONFIRMED:
		cl_conn_file(key, conn, true);
		break;
	case CL_CONN_CONFIRMED:
		cl_conn_file(key, conn, false);
		break;
	}
}

/* Check every pending entry once. Caller holds key->lock and RCU. */
static void cl_key_check_pending(struct cl_table *table, struct cl_key *key,
				 const struct cl_conn *keep)
{
	struct cl_conn *conn, *next;
	LIST_HEAD(still_pending);

	/* Entries still pending go to a private list, so each is seen once. */
	list_splice_init(&key->pending_list, &still_pending);
	list_for_each_entry_safe(conn, next, &still_pending, list)
		cl_conn_check(table, key, conn, keep);
	/* cl_conn_check() moved every entry off still_pending. */
}

/* Check the @budget oldest confirmed entries. Caller holds lock and RCU. */
static void cl_key_check_oldest(struct cl_table *table, struct cl_key *key,
				const struct cl_conn *keep, unsigned int budget)
{
	struct cl_conn *conn;

	while (budget-- && !list_empty(&key->confirmed_list)) {
		conn = list_first_entry(&key->confirmed_list, struct cl_conn, list);
		cl_conn_check(table, key, conn, keep);
	}
}

/* Exact recount: check every entry. Caller holds key->lock and RCU. */
static void cl_key_check_all(struct cl_table *table, struct cl_key *key,
			     const struct cl_conn *keep)
{
	struct cl_conn *conn, *next;
	LIST_HEAD(seen);

	cl_key_check_pending(table, key, keep);
	/*
	 * Move the confirmed entries aside and check each once; survivors
	 * return to one of the key's lists in cl_conn_check().
	 */
	list_splice_init(&key->confirmed_list, &seen);
	list_for_each_entry_safe(conn, next, &seen, list)
		cl_conn_check(table, key, conn, keep);
}

static struct cl_conn *cl_conn_add(struct cl_table *table, struct cl_key *key,
				   u64 id, struct nf_conn *ct)
{
	bool pending = !nf_ct_is_confirmed(ct);
	struct cl_conn *conn;
	int err;

	conn = kmem_cache_alloc(cl_conn_cache, GFP_ATOMIC);
	if (!conn)
		return ERR_PTR(-ENOMEM);
	atomic_long_inc(&cl_stats.conns);
	conn->id = id;
	cl_conn_set(conn, ct, pending);
	/*
	 * All inserts of this key's entries happen under key->lock, after a
	 * lookup that missed, so the only failure is the table's own
	 * (allocation, resize pressure).
	 */
	err = rhashtable_insert_fast(&table->conns, &conn->node,
				     cl_conn_params);
	if (err) {
		cl_conn_free(conn);
		return ERR_PTR(err);
	}
	list_add_tail(&conn->list, pending ? &key->pending_list :
					     &key->confirmed_list);
	key->pending += pending;
	key->count++;
	return conn;
}

/*
 * Count @ct under @key.  Caller holds key->lock and rcu_read_lock().
 *
 * A new connection (conntrack not yet confirmed) is counted against every
 * entry, the ones still in flight on other CPUs included, so concurrent
 * openers never get past the limit together.  A confirmed connection's
 * packets are counted against the confirmed entries only: a connection
 * being refused at this moment elsewhere must not make the key look over
 * its limit to the connections it already holds.
 */
static int cl_key_count(struct cl_table *table, struct cl_key *key,
			struct nf_conn *ct, u32 limit)
{
	struct cl_conn *conn = NULL;
	unsigned int count;
	u64 id = 0;

	if (ct) {
		id = cl_conn_id(table, key, ct);
		conn = rhashtable_lookup(&table->conns, &id, cl_conn_params);
		/* A new conntrack on the same tuple replaces the old one. */
		if (conn && cl_conn_ct(conn) != ct) {
			cl_conn_set(conn, ct, cl_conn_pending(conn));
			cl_conn_file(key, conn, !nf_ct_is_confirmed(ct));
		}
	}

	cl_key_check_pending(table, key, conn);
	cl_key_check_oldest(table, key, conn, CL_GC_PER_PACKET);

	if (!ct)
		return key->count + 1;

	if (!conn) {
		conn = cl_conn_add(table, key, id, ct);
		if (IS_ERR(conn))
			return PTR_ERR(conn);
	}

	if (!nf_ct_is_confirmed(ct)) {
		/* About to refuse: a few more checks cost little. */
		if (key->count > limit)
			cl_key_check_oldest(table, key, conn, CL_GC_AT_LIMIT);
		return key->count;
	}

	count = key->count - key->pending;
	if (count > limit && time_after(jiffies, key->recounted)) {
		/* Never refuse a counted connection on a stale count. */
		key->recounted = jiffies;
		cl_key_check_all(table, key, conn);
		count = key->count - key->pending;
	}
	return count;
}

static struct cl_key *cl_key_create(struct cl_table *table,
				    const struct cl_key_id *id)
{
	struct cl_key *key, *old;

	key = kmem_cache_alloc(cl_key_cache, GFP_ATOMIC);
	if (!key)
		return ERR_PTR(-ENOMEM);
	atomic_long_inc(&cl_stats.keys);
	key->id = *id;
	spin_lock_init(&key->lock);
	key->dead = false;
	key->count = 0;
	key->recounted = jiffies - 1;
	INIT_LIST_HEAD(&key->confirmed_list);
	INIT_LIST_HEAD(&key->pending_list);
	key->pending = 0;

	old = rhashtable_lookup_get_insert_fast(&table->keys, &key->node,
						cl_key_params);
	if (old) {
		/* Lost a race with another CPU, or the table refused. */
		kmem_cache_free(cl_key_cache, key);
		atomic_long_dec(&cl_stats.keys);
		return old;
	}
	/* The background pass is idle while the table has no keys. */
	queue_delayed_work(system_power_efficient_wq, &table->gc_work,
			   CL_GC_INTERVAL);
	return key;
}

int cl_table_count(struct cl_table *table, const struct cl_key_id *id,
		   struct nf_conn *ct, u32 limit)
{
	struct cl_key *key;
	int ret;

	rcu_read_lock();
	for (;;) {
		key = rhashtable_lookup(&table->keys, id, cl_key_params);
		if (!key) {
			if (!ct) {
				ret = 1;	/* nothing counted under this key */
				goto out;
			}
			key = cl_key_create(table, id);
			if (IS_ERR(key)) {
				ret = PTR_ERR(key);
				goto out;
			}
		}
		spin_lock_bh(&key->lock);
		if (!key->dead)
			break;
		/* Unhashed before its lock was dropped: the retry won't see it. */
		spin_unlock_bh(&key->lock);
	}
	ret = cl_key_count(table, key, ct, limit);
	spin_unlock_bh(&key->lock);
out:
	rcu_read_unlock();
	return ret;
}

/* Background pass: recount every key, free keys left without entries. */
static void cl_table_gc_work(struct work_struct *work)
{
	struct cl_table *table = container_of(to_delayed_work(work),
					      struct cl_table, gc_work);
	struct rhashtable_iter iter;
	unsigned int visited = 0;
	struct cl_key *key;

	rhashtable_walk_enter(&table->keys, &iter);
	rhashtable_walk_start(&iter);
	while ((key = rhashtable_walk_next(&iter))) {
		if (IS_ERR(key)) {
			if (PTR_ERR(key) == -EAGAIN)
				continue;	/* table resized: walk goes on */
			break;
		}
		spin_lock_bh(&key->lock);
		if (!key->dead) {
			cl_key_check_all(table, key, NULL);
			if (!key->count) {
				key->dead = true;
				rhashtable_remove_fast(&table->keys, &key->node,
						       cl_key_params);
				call_rcu(&key->rcu, cl_key_free_rcu);
			}
		}
		spin_unlock_bh(&key->lock);

		if (++visited % CL_GC_BATCH == 0) {
			rhashtable_walk_stop(&iter);
			cond_resched();
			rhashtable_walk_start(&iter);
		}
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);

	if (!READ_ONCE(table->stopping) && atomic_read(&table->keys.nelems))
		queue_delayed_work(system_power_efficient_wq, &table->gc_work,
				   CL_GC_INTERVAL);
}

struct cl_table *cl_table_create(struct net *net)
{
	struct cl_table *table;

	table = kzalloc(sizeof(*table), GFP_KERNEL);
	if (!table)
		return NULL;
	if (rhashtable_init(&table->keys, &cl_key_params))
		goto free_table;
	if (rhashtable_init(&table->conns, &cl_conn_params))
		goto destroy_keys;
	get_random_bytes(&table->conn_secret, sizeof(table->conn_secret));
	write_pnet(&table->net, net);
	INIT_DELAYED_WORK(&table->gc_work, cl_table_gc_work);
	atomic_long_inc(&cl_stats.tables);
	return table;

destroy_keys:
	rhashtable_destroy(&table->keys);
free_table:
	kfree(table);
	return NULL;
}

/* Teardown frees keys directly: no packet can reach the table any more. */
static void cl_conn_free_now(void *ptr, void *arg)
{
	cl_conn_free(ptr);
}

static void cl_key_free_now(void *ptr, void *arg)
{
	kmem_cache_free(cl_key_cache, ptr);
	atomic_long_dec(&cl_stats.keys);
}

/*
 * Called from the match's destroy, after x_tables or nf_tables made sure no
 * packet still runs the rule.  Keys and entries already unhashed are in
 * flight to call_rcu and need nothing from the table.
 */
void cl_table_destroy(struct cl_table *table)
{
	WRITE_ONCE(table->stopping, true);
	cl_stop_delayed_work(&table->gc_work);
	rhashtable_free_and_destroy(&table->conns, cl_conn_free_now, NULL);
	rhashtable_free_and_destroy(&table->keys, cl_key_free_now, NULL);
	atomic_long_dec(&cl_stats.tables);
	kfree(table);
}

int cl_engine_init(void)
{
	cl_key_cache = KMEM_CACHE(cl_key, 0);
	if (!cl_key_cache)
		return -ENOMEM;
	cl_conn_cache = KMEM_CACHE(cl_conn, SLAB_TYPESAFE_BY_RCU);
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
