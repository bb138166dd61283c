// SPDX-License-Identifier: GPL-2.0
/*
 * The connlimit counting engine: see docs/design.md for the data
 * structures, the lifetimes and how each upstream nf_conncount bug is
 * excluded.  In short:
 *
 * Each rule (or name) owns a table: one rhashtable holding its keys (one
 * per masked address + zone + family) and the allocated entries of keys
 * with many connections.  A connection is counted under a key in one of
 * two forms:
 *   - confirmed: an entry holding a reference to the conntrack, in one of
 *     the key's CL_KEY_SLOTS slots or, once those are full, allocated and
 *     hashed in the table by the conntrack's address;
 *   - pending: a record of its original tuple and zone (struct cl_pend),
 *     holding no reference, while its conntrack is not confirmed, or for
 *     a packet that has none yet (raw table).  A record is checked as
 *     upstream checks every entry: looked up in conntrack's hash; found,
 *     it becomes a confirmed entry; not found, it is gone once seen from
 *     a later packet of the CPU that added it, or two jiffies old.  So a
 *     refused or dropped connection's conntrack is freed at once, as with
 *     the in-kernel module.
 * Checks are made only where they can change an answer (a count above the
 * rule's limit), bounded per key and jiffy, and by a background pass.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/llist.h>
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/timekeeping.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_conntrack_zones.h>

#include "compat.h"
#include "engine.h"
#include "fault.h"
#include "stats.h"

/* Entries and records a key above its limit may check per jiffy. */
#define CL_CHECKS_PER_JIFFY	64
/* Period of the background work. */
#define CL_GC_INTERVAL		HZ
/* The background work checks every confirmed entry within this many passes */
#define CL_SWEEP_PASSES		8
/* ... and at least this many of a key's confirmed entries per pass. */
#define CL_SWEEP_MIN		64
/* Entries the background work checks per hold of a key's lock. */
#define CL_SWEEP_CHUNK		64
/*
 * Keys a background pass visits at most: while passes find connections to
 * let go of, and after a quiet pass (so that a table nothing happens to
 * costs next to nothing however many keys it has).
 */
#define CL_PASS_KEYS		16384
#define CL_PASS_KEYS_QUIET	1024
/* Conntrack is nearly full above 1 - 1/2^CL_PRESSURE_SHIFT of its max ... */
#define CL_PRESSURE_SHIFT	3
/* ... and then passes start at once, with at least this gap between them. */
#define CL_PRESSURE_GAP		max(HZ / 50, 1)
/* A record's packet held this long is taken as gone (a userspace queue). */
#define CL_PEND_STALE		HZ
/* Newest records a packet compares its own connection with. */
#define CL_PEND_SCAN		8

/* The low bit of an object's id tells keys (1) from entries (0) ... */
#define CL_ID_KEY		1ULL
/* ... and bit 1 an entry counted by the other end's (REPLY) packets. */
#define CL_ID_REPLY		2ULL
#define CL_ID_FLAGS		(CL_ID_KEY | CL_ID_REPLY)
/* An nf_conn is aligned for skb->_nfct, which keeps ctinfo in its low bits */
static_assert(CL_ID_FLAGS <= NFCT_INFOMASK);

/* Entries a key holds in itself (a few connections per client are the rule) */
#define CL_KEY_SLOTS		4

/* The head of every object in a table's rhashtable. */
struct cl_node {
	struct rhash_head hash;
	u64 id;
};

struct cl_table {
	struct rhashtable objects;	/* keys and entries, by cl_node.id */
	siphash_key_t secret;		/* keys every id, per table */
	struct net *net;		/* where its conntracks live */
	struct cl_counters __percpu *netc;	/* the namespace's counters */
	/*
	 * Every hashed key, for the work, newest first: the packet path adds
	 * at the head; only the work unlinks, under pass_lock.  A pass
	 * resumes after @cursor (a key, or NULL for the head).
	 */
	struct llist_head keys;
	struct llist_node *cursor;
	struct llist_head graveyard;	/* unhashed entries, to free after a GP */
	/*
	 * One pass over the keys at a time: the work's, a listing's or a
	 * clear's.  Keys are freed only by the work's pass, so a pass holding
	 * this mutex may sleep between two locks of the same key.
	 */
	struct mutex pass_lock;
	struct delayed_work gc_work;
	unsigned long pass_end;		/* jiffies when the last pass ended */
	unsigned long kicked;		/* bit 0: a pass was started early */
	bool quiet;			/* the last pass let nothing go */
	bool peaks;			/* keep each key's peak (listed tables) */
	bool stopping;			/* set before the work is stopped */
	/*
	 * The highest peak of any key (see cl_table_record()), raised under
	 * the key's lock and @record_lock when the key's peak passes it.  A
	 * packet reads @record.peak without the lock, and only when its key's
	 * own peak rises: one that leaves its key's peak as it was pays
	 * nothing, one that raises a key's peak to or below the record pays
	 * a load.
	 */
	spinlock_t record_lock;
	struct cl_record record;
};

struct cl_conn;

/*
 * A connection counted before its conntrack was confirmed (or without a
 * conntrack): what upstream keeps of every connection, its original tuple
 * and zone; no reference.  Reached only from its key, under the key's
 * lock.
 */
struct cl_pend {
	struct cl_pend *next;
	struct nf_conntrack_tuple tuple;	/* ORIGINAL direction */
	struct nf_conntrack_zone zone;
	u32 added;				/* jiffies */
	unsigned long gp;		/* RCU grace-period state then */
	u16 cpu;			/* that added it */
	bool softirq;			/* ... inside a softirq */
};

/*
 * A key keeps its first confirmed entries in itself, in @slots: each the
 * entry's id, 0 when free.  Only a key whose slots are full allocates
 * entries (struct cl_conn, hashed in the table); it goes back to its slots
 * alone once those are gone.  Allocated entries form a circular singly
 * linked queue reached through its tail (tail->next is the head, the least
 * recently checked), so an entry checked alive moves to the tail by moving
 * the tail pointer.  Records (pending connections) form a stack, newest
 * first.
 */
struct cl_key {
	struct cl_node node;
	struct cl_key_id id;
	spinlock_t lock;		/* guards the fields below, our entries */
	unsigned int count;		/* slots + queue + records */
	unsigned int pending;		/* records */
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
	struct llist_node gc_node;	/* on table->keys while hashed */
	union {
		struct {
			struct cl_conn *confirmed_tail;
			struct cl_pend *pend_head;
		};
		struct rcu_head rcu;	/* once dead, with no entry left */
	};
	unsigned long slots[CL_KEY_SLOTS];
};

/*
 * An allocated confirmed entry: 24 bytes, so that with its share of the
 * hash table it takes less memory than upstream's 72-byte entry.  The
 * identity is the referenced conntrack's address instead of a copy of its
 * tuple, and the queue link is single.  Once unhashed and off its queue,
 * nobody but the lookups still in flight reads the entry, and they read
 * only @node: the link then serves the graveyard until a grace period.
 */
struct cl_conn {
	struct cl_node node;
	union {
		struct cl_conn *next;
		struct llist_node grave;	/* once unhashed */
	};
};

static_assert(sizeof(struct cl_conn) <= 24);
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
static struct kmem_cache *cl_pend_cache __read_mostly;

static struct nf_conn *cl_id_ct(u64 id)
{
	return (struct nf_conn *)(unsigned long)(id & ~CL_ID_FLAGS);
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

/* The id of @ct's entry, counted by the other end's packets if @reply. */
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
 * Is the conntrack @ct of a confirmed entry still alive?  We hold a
 * reference, so it is still the conntrack we counted.
 */
static bool cl_ct_alive(const struct cl_table *table, const struct nf_conn *ct)
{
	cl_count_inc(table->netc, checks);
	return !cl_ct_closed(ct);
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

/* Allocated entries on the queue, and records. */
static unsigned int cl_key_queued(const struct cl_key *key)
{
	return key->count - key->used - key->pending;
}

/* Connections counted in confirmed form: slots and queue. */
static unsigned int cl_key_confirmed(const struct cl_key *key)
{
	return key->count - key->pending;
}

static void cl_confirmed_push(struct cl_key *key, struct cl_conn *conn)
{
	struct cl_conn *tail = key->confirmed_tail;

	lockdep_assert_held(&key->lock);
	conn->next = tail ? tail->next : conn;
	if (tail)
		tail->next = conn;
	key->confirmed_tail = conn;
}

static struct cl_conn *cl_confirmed_pop(struct cl_key *key)
{
	struct cl_conn *tail = key->confirmed_tail;
	struct cl_conn *head = tail->next;

	lockdep_assert_held(&key->lock);
	if (head == tail)
		key->confirmed_tail = NULL;
	else
		tail->next = head->next;
	return head;
}

/* Unhash a dead entry (off its queue) and let its conntrack go. */
static void cl_conn_drop(struct cl_table *table, struct cl_key *key,
			 struct cl_conn *conn)
{
	lockdep_assert_held(&key->lock);
	rhashtable_remove_fast(&table->objects, &conn->node.hash, cl_params);
	key->count--;
	cl_count_inc(table->netc, freed);
	cl_count_dec(table->netc, conns);
	nf_ct_put(cl_id_ct(conn->node.id));
	llist_add(&conn->grave, &table->graveyard);
}

/*
 * A new conntrack was just made for a packet of the table: if conntrack is
 * nearly full, have the work check for dead conntracks we hold now rather
 * than within a second (dead ones we hold stay in conntrack's count, and
 * early drop cannot find them).  One early pass at a time, and
 * CL_PRESSURE_GAP after the last pass ended at the soonest.
 */
static void cl_table_pressure(struct cl_table *table)
{
	unsigned int max = READ_ONCE(nf_conntrack_max);

	if (!max || cl_conntrack_count(table->net) <
		    max - (max >> CL_PRESSURE_SHIFT))
		return;
	if (time_before(jiffies, READ_ONCE(table->pass_end) + CL_PRESSURE_GAP))
		return;
	if (test_and_set_bit(0, &table->kicked))
		return;
	mod_delayed_work(system_power_efficient_wq, &table->gc_work, 0);
}

/* Put @ct's entry @id (its reference is the caller's) in free slot @i. */
static void cl_slot_fill(struct cl_table *table, struct cl_key *key,
			 unsigned int i, u64 id)
{
	lockdep_assert_held(&key->lock);
	key->slots[i] = id;
	key->used++;
	key->count++;
	cl_count_inc(table->netc, conns);
}

/* The free slot a new confirmed entry goes to, or CL_KEY_SLOTS. */
static unsigned int cl_slot_free(const struct cl_key *key)
{
	unsigned int i;

	/* none while allocated entries exist: lookups skip the hash then */
	if (key->used == CL_KEY_SLOTS || cl_key_queued(key))
		return CL_KEY_SLOTS;
	for (i = 0; i < CL_KEY_SLOTS; i++)
		if (!key->slots[i])
			return i;
	return CL_KEY_SLOTS;
}

static unsigned long *cl_slot_find(struct cl_key *key, u64 id)
{
	unsigned int i;

	for (i = 0; i < CL_KEY_SLOTS; i++)
		if (key->slots[i] == id)
			return &key->slots[i];
	return NULL;
}

/*
 * Count the connection of @ct (confirmed, referenced by the caller, the
 * reference passing to the entry) under @key as the entry @id: in a free
 * slot, or allocated and hashed.  An entry found hashed already (which may
 * be another key's, see cl_key_find_or_add()) is left as it is and the
 * reference put.  Returns 0 or a negative errno (reference put).
 */
static int cl_conn_add(struct cl_table *table, struct cl_key *key, u64 id)
{
	unsigned int i = cl_slot_free(key);
	struct rhash_head *old;
	struct cl_conn *new;

	lockdep_assert_held(&key->lock);
	if (i < CL_KEY_SLOTS) {
		cl_slot_fill(table, key, i, id);
		return 0;
	}
	new = cl_fault() ? NULL : kmem_cache_alloc(cl_conn_cache, GFP_ATOMIC);
	if (!new) {
		nf_ct_put(cl_id_ct(id));
		return -ENOMEM;
	}
	new->node.id = id;
	new->next = NULL;
	old = rhashtable_lookup_get_insert_fast(&table->objects,
						&new->node.hash, cl_params);
	if (old) {
		kmem_cache_free(cl_conn_cache, new);
		nf_ct_put(cl_id_ct(id));
		return PTR_ERR_OR_ZERO(old);
	}
	cl_count_inc(table->netc, conns);
	cl_confirmed_push(key, new);
	key->count++;
	return 0;
}

/* Is @id counted under @key in confirmed form? */
static bool cl_key_holds(struct cl_table *table, struct cl_key *key, u64 id)
{
	if (cl_slot_find(key, id))
		return true;
	/* hashed: this key's, or (NAT between rules of a name) another's */
	return cl_key_queued(key) &&
	       rhashtable_lookup(&table->objects, &id, cl_params);
}

static void cl_pend_unlink(struct cl_table *table, struct cl_key *key,
			   struct cl_pend **link)
{
	struct cl_pend *pend = *link;

	*link = pend->next;
	key->pending--;
	key->count--;
	kmem_cache_free(cl_pend_cache, pend);
	cl_count_dec(table->netc, pends);
}

/*
 * Has the packet that added @pend finished its way through the hooks (and
 * so been confirmed, or dropped)?  That way, from the first hook to the
 * conntrack's confirmation at the last, runs inside one RCU read-side
 * critical section (receive: the softirq; send: the transmit path), so a
 * full grace period after the record was added it is over, however long a
 * vCPU was held up by its host.  (Upstream waits two jiffies, which a held
 * up vCPU outlasts: the stress suite's connect races saw one connection too
 * many admitted.)  Inside a softirq, packets run one after the other: on
 * the CPU that added it (@cpu: the caller's, -1 from the work), any later
 * packet means it is over.  A packet held longer than CL_PEND_STALE (a
 * userspace queue) is taken as dropped: the one case where a connection
 * that passed may end up not counted, as with upstream.
 */
static bool cl_pend_landed(const struct cl_pend *pend, int cpu)
{
	if (pend->softirq && pend->cpu == cpu)
		return true;
	return cl_gp_passed(pend->gp, pend->added) ||
	       (u32)jiffies - pend->added >= CL_PEND_STALE;
}

/*
 * Where is @pend's connection?  Found in conntrack's hash and open: *@ct is
 * it, referenced.  Not found once its packet has gone its way: dropped.
 */
static enum cl_conn_state cl_pend_state(struct cl_table *table,
					const struct cl_pend *pend, int cpu,
					struct nf_conn **ct)
{
	const struct nf_conntrack_tuple_hash *h;

	cl_count_inc(table->netc, checks);
	h = nf_conntrack_find_get(table->net, &pend->zone, &pend->tuple);
	if (h) {
		*ct = nf_ct_tuplehash_to_ctrack(h);
		if (!cl_ct_closed(*ct))
			return CL_CONN_CONFIRMED;
		nf_ct_put(*ct);
		return CL_CONN_DEAD;
	}
	return cl_pend_landed(pend, cpu) ? CL_CONN_DEAD : CL_CONN_UNCONFIRMED;
}

/*
 * Check up to @budget records of @key, newest first, and return how many
 * were checked: confirmed ones become entries, dead ones go.  @keep (the
 * current packet's record) stays.  Caller holds key->lock.
 */
static unsigned int cl_key_check_pend(struct cl_table *table,
				      struct cl_key *key,
				      const struct cl_pend *keep,
				      unsigned int budget, int cpu)
{
	struct cl_pend **link = &key->pend_head, *pend;
	enum cl_conn_state state;
	unsigned int done = 0;
	struct nf_conn *ct;
	u64 id;

	lockdep_assert_held(&key->lock);
	while ((pend = *link) && done < budget) {
		if (pend == keep) {
			link = &pend->next;
			continue;
		}
		done++;
		state = cl_pend_state(table, pend, cpu, &ct);
		if (state == CL_CONN_UNCONFIRMED) {
			link = &pend->next;
			continue;
		}
		if (state == CL_CONN_CONFIRMED) {
			id = cl_conn_id(ct, false);
			if (cl_key_holds(table, key, id)) {
				nf_ct_put(ct);
			} else if (cl_conn_add(table, key, id)) {
				/* no memory: stays a record, tried again */
				link = &pend->next;
				continue;
			}
		}
		cl_pend_unlink(table, key, link);
	}
	return done;
}

/* Check every slot's entry, and return how many were checked. */
static unsigned int cl_key_check_slots(struct cl_table *table,
				       struct cl_key *key, u64 keep)
{
	unsigned int i, done = 0;
	unsigned long slot;

	lockdep_assert_held(&key->lock);
	for (i = 0; i < CL_KEY_SLOTS; i++) {
		slot = key->slots[i];
		if (!slot)
			continue;
		done++;
		if (slot == keep || cl_ct_alive(table, cl_id_ct(slot)))
			continue;
		key->slots[i] = 0;
		key->used--;
		key->count--;
		cl_count_inc(table->netc, freed);
		cl_count_dec(table->netc, conns);
		nf_ct_put(cl_id_ct(slot));
	}
	return done;
}

/*
 * Check up to @budget entries of the queue, least recently checked first,
 * and return how many were checked.  @budget must not exceed the number of
 * entries on the queue, so none is checked twice.
 */
static unsigned int cl_key_check_oldest(struct cl_table *table,
					struct cl_key *key, u64 keep,
					unsigned int budget)
{
	unsigned int done = 0;
	struct cl_conn *head;

	lockdep_assert_held(&key->lock);
	for (; done < budget && key->confirmed_tail; done++) {
		head = key->confirmed_tail->next;
		if (head->node.id == keep ||
		    cl_ct_alive(table, cl_id_ct(head->node.id)))
			key->confirmed_tail = head;	/* head becomes tail */
		else
			cl_conn_drop(table, key, cl_confirmed_pop(key));
	}
	return done;
}

/* The packet's own connection under its key: where it is counted. */
struct cl_own {
	struct nf_conn *ct;		/* referenced by the caller, or NULL */
	u64 id;				/* entry id if @ct is confirmed, else 0 */
	struct cl_pend *pend;		/* its record, if pending */
};

/*
 * The key's count is above a rule's limit: check what may bring it down,
 * within the key's budget for this jiffy: records first, then the slots,
 * then the least recently checked entries of the queue.
 */
static void cl_key_recheck(struct cl_table *table, struct cl_key *key,
			   const struct cl_own *own)
{
	u32 now = (u32)jiffies;
	unsigned int budget;

	lockdep_assert_held(&key->lock);
	if (key->checked_jiffy != now) {
		key->checked_jiffy = now;
		key->checks = 0;
	}
	if (key->checks >= CL_CHECKS_PER_JIFFY)
		return;
	key->checks += cl_key_check_pend(table, key, own->pend,
					 CL_CHECKS_PER_JIFFY - key->checks,
					 raw_smp_processor_id());
	if (key->checks >= CL_CHECKS_PER_JIFFY)
		return;
	/* the slots: a few, all in the key (may go over by as many) */
	key->checks += cl_key_check_slots(table, key, own->id);
	budget = min_t(unsigned int,
		       CL_CHECKS_PER_JIFFY - min_t(unsigned int, key->checks,
						   CL_CHECKS_PER_JIFFY),
		       cl_key_queued(key));
	key->checks += cl_key_check_oldest(table, key, own->id, budget);
}

/*
 * The count @own's packet sees: a pending connection's, every connection
 * of the key; a confirmed one's, the confirmed ones only (a connection
 * being refused at this moment elsewhere must not make the key look over
 * its limit to the connections it holds).
 */
static unsigned int cl_own_count(const struct cl_key *key,
				 const struct cl_own *own)
{
	return own->pend ? key->count : cl_key_confirmed(key);
}

/*
 * @key's peak went above the table's record: it is the record now, unless
 * another key passed it meanwhile.  Caller holds key->lock, softirqs off.
 */
static void cl_record_raise(struct cl_table *table, const struct cl_key *key)
{
	struct cl_record *record = &table->record;

	lockdep_assert_held(&key->lock);
	spin_lock(&table->record_lock);
	if (key->peak > record->peak) {
		record->id = key->id;
		record->real = ktime_get_real_seconds();
		record->boot = ktime_get_boottime_seconds();
		WRITE_ONCE(record->peak, key->peak);
	}
	spin_unlock(&table->record_lock);
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
	cl_key_recheck(table, key, own);
	count = cl_own_count(key, own);
	key->peak = max(key->peak, count);
	if (key->peak > READ_ONCE(table->record.peak))
		cl_record_raise(table, key);
	return count;
}

static bool cl_pend_is(const struct cl_pend *pend,
		       const struct nf_conntrack_tuple *tuple,
		       const struct nf_conntrack_zone *zone)
{
	return pend->zone.id == zone->id && nf_ct_tuple_equal(&pend->tuple, tuple);
}

/*
 * The record of a pending connection: one of the key's newest (the same
 * packet through another rule of a shared table), or a new one.
 */
static int cl_pend_find_or_add(struct cl_table *table, struct cl_key *key,
			       const struct cl_pkt *pkt, struct cl_own *own)
{
	const struct nf_conntrack_tuple *tuple = pkt->ct ?
		&pkt->ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple : pkt->tuple;
	struct cl_pend *pend = key->pend_head;
	unsigned int i;

	for (i = 0; pend && i < CL_PEND_SCAN; i++, pend = pend->next) {
		if (cl_pend_is(pend, tuple, pkt->zone)) {
			own->pend = pend;
			return 0;
		}
	}
	pend = cl_fault() ? NULL : kmem_cache_alloc(cl_pend_cache, GFP_ATOMIC);
	if (!pend)
		return -ENOMEM;
	cl_count_inc(table->netc, pends);
	pend->tuple = *tuple;
	pend->zone = *pkt->zone;
	pend->added = (u32)jiffies;
	pend->cpu = raw_smp_processor_id();
	pend->softirq = in_serving_softirq();
	pend->gp = cl_gp_snap();
	pend->next = key->pend_head;
	key->pend_head = pend;
	key->pending++;
	key->count++;
	own->pend = pend;
	cl_table_pressure(table);
	return 0;
}

/*
 * A confirmed connection first seen confirmed may still be one of the
 * key's newest records (a rule without --syn, its first packets counted
 * pending): that record is now the entry just added.
 */
static void cl_pend_settled(struct cl_table *table, struct cl_key *key,
			    const struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *tuple =
		&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	struct cl_pend **link = &key->pend_head;
	unsigned int i;

	for (i = 0; *link && i < CL_PEND_SCAN; i++, link = &(*link)->next) {
		if (cl_pend_is(*link, tuple, nf_ct_zone(ct))) {
			cl_pend_unlink(table, key, link);
			return;
		}
	}
}

/*
 * Find @own's confirmed entry under @key, or add it.  The slots are
 * searched, and the hash table only while the key has allocated entries
 * (while it has none, none of its entries is hashed).
 *
 * An entry found hashed is one of this key's -- except where rules
 * sharing a named table see a direction's packets with two addresses (NAT
 * between their hooks): the entry found may then be another key's, only
 * compared and read (RCU keeps its memory), and the connection is counted
 * under that key alone.  (A key keeping its entries in its slots does not
 * look in the hash table: such a connection is then counted under both
 * keys, as if each address held it, which is what it looks like from
 * either rule.)
 */
static int cl_key_find_or_add(struct cl_table *table, struct cl_key *key,
			      struct cl_own *own)
{
	int err;

	if (cl_key_holds(table, key, own->id))
		return 0;
	nf_conntrack_get(&own->ct->ct_general);
	err = cl_conn_add(table, key, own->id);
	if (!err && key->pending && !(own->id & CL_ID_REPLY))
		cl_pend_settled(table, key, own->ct);
	return err;
}

/* Count @pkt under @key.  Caller holds key->lock, softirqs off. */
static int cl_key_count(struct cl_table *table, struct cl_key *key,
			const struct cl_pkt *pkt, u32 limit)
{
	struct cl_own own = { .ct = pkt->ct };
	int err;

	lockdep_assert_held(&key->lock);
	if (pkt->ct && nf_ct_is_confirmed(pkt->ct)) {
		own.id = cl_conn_id(pkt->ct, pkt->reply);
		err = cl_key_find_or_add(table, key, &own);
	} else {
		err = cl_pend_find_or_add(table, key, pkt, &own);
	}
	if (err)
		return err;
	if (key->count > limit)
		cl_key_recheck(table, key, &own);
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
	key->peak = 0;
	key->over = 0;
	key->confirmed_tail = NULL;
	key->pend_head = NULL;
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
 * own.  A key's lock is taken with softirqs off: the work and the
 * listings take it from a process, and so may nft_compat (OUTPUT).
 */
int cl_table_count(struct cl_table *table, const struct cl_key_id *id,
		   const struct cl_pkt *pkt, u32 limit)
{
	u64 hash = cl_key_hash(table, id);
	struct rhash_head *found;
	struct cl_key *key;
	int ret;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "connlimit: packet outside RCU");
	for (;;) {
		found = rhashtable_lookup(&table->objects, &hash, cl_params);
		if (found) {
			key = container_of(found, struct cl_key, node.hash);
		} else {
			key = cl_key_create(table, id, hash);
			if (IS_ERR(key))
				return PTR_ERR(key);
		}
		spin_lock_bh(&key->lock);
		if (!key->dead)
			break;
		/* Unhashed before its lock was dropped: the retry won't see it. */
		spin_unlock_bh(&key->lock);
	}
	/* Two keys with one 64-bit keyed hash: refuse rather than mix them. */
	if (unlikely(!cl_key_id_equal(&key->id, id)))
		ret = -EEXIST;
	else
		ret = cl_key_count(table, key, pkt, limit);
	spin_unlock_bh(&key->lock);
	return ret;
}

/*
 * Check every record of @key, every slot, and @budget of the queue (all of
 * it if @budget is UINT_MAX), a chunk per hold of the lock.  Caller holds
 * table->pass_lock, so @key stays valid between chunks.
 */
static void cl_key_sweep(struct cl_table *table, struct cl_key *key,
			 unsigned int budget)
{
	unsigned int chunk;

	rcu_read_lock();
	spin_lock_bh(&key->lock);
	cl_key_check_pend(table, key, NULL, UINT_MAX, -1);
	cl_key_check_slots(table, key, 0);
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

/*
 * Unlink @node from the table's keys; @prev is its predecessor, or NULL if
 * it was the first when the pass reached it (keys may have been pushed in
 * front since).  Caller holds pass_lock.
 */
static void cl_keys_unlink(struct cl_table *table, struct llist_node *prev,
			   struct llist_node *node)
{
	struct llist_node *first = node;

	if (!prev) {
		if (try_cmpxchg(&table->keys.first, &first, node->next))
			return;
		for (prev = first; prev->next != node; prev = prev->next)
			;
	}
	prev->next = node->next;
}

/*
 * Free @key, whose predecessor on the table's keys is @prev, if it has no
 * entries left; returns whether it lives on.  Caller holds pass_lock.
 */
static bool cl_key_reap(struct cl_table *table, struct llist_node *prev,
			struct cl_key *key)
{
	bool alive = true;

	spin_lock_bh(&key->lock);
	if (!key->count) {
		key->dead = true;
		rhashtable_remove_fast(&table->objects, &key->node.hash,
				       cl_params);
		cl_keys_unlink(table, prev, &key->gc_node);
		cl_count_dec(table->netc, keys);
		call_rcu(&key->rcu, cl_key_free_rcu);
		alive = false;
	}
	spin_unlock_bh(&key->lock);
	return alive;
}

/*
 * Background pass: up to CL_PASS_KEYS keys (CL_PASS_KEYS_QUIET after a
 * pass that let nothing go) from where the last pass stopped, each key's
 * records and slots and a share of its queue (1/CL_SWEEP_PASSES, at least
 * CL_SWEEP_MIN); keys left without entries are freed.  A small table is
 * visited whole every pass; a larger one in turns, so a quiet table's cost
 * stays bounded however many keys it has (a key at its limit is checked by
 * its packets, and conntrack nearly full starts full passes).
 */
static void cl_table_gc_work(struct work_struct *work)
{
	struct cl_table *table = container_of(to_delayed_work(work),
					      struct cl_table, gc_work);
	struct llist_node *prev, *node, *next;
	unsigned int visited = 0, budget, count;
	struct cl_key *key;
	bool quiet = true;

	mutex_lock(&table->pass_lock);
	budget = table->quiet && !test_bit(0, &table->kicked) ?
		 CL_PASS_KEYS_QUIET : CL_PASS_KEYS;
	prev = table->cursor;
	node = prev ? prev->next : READ_ONCE(table->keys.first);
	for (; node && visited < budget; node = next, visited++) {
		next = node->next;
		key = llist_entry(node, struct cl_key, gc_node);
		count = READ_ONCE(key->count);
		cl_key_sweep(table, key,
			     max_t(unsigned int, CL_SWEEP_MIN,
				   DIV_ROUND_UP(count, CL_SWEEP_PASSES)));
		if (READ_ONCE(key->count) < count)
			quiet = false;
		if (cl_key_reap(table, prev, key))
			prev = node;
		else
			quiet = false;
		cond_resched();
	}
	table->quiet = quiet;
	/* the end of the list: the next pass starts a new cycle */
	table->cursor = node ? prev : NULL;
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
 * entries are all checked first (connections still in flight are not
 * counted).  A key found holding more than its peak (connections no
 * packet was admitted with at that count) has its peak, and maybe the
 * record, raised to its count.  With @clear, each peak restarts
 * from the key's count and the over-limit counter from zero, and so the
 * record from the highest count (dated now; packets raise it meanwhile as
 * ever).  Stops at the first error @fn returns.  Process context.
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
	if (clear) {
		spin_lock_bh(&table->record_lock);
		WRITE_ONCE(table->record.peak, 0);
		spin_unlock_bh(&table->record_lock);
	}
	/* Keys added meanwhile are pushed in front of @first: not visited. */
	first = READ_ONCE(table->keys.first);
	llist_for_each_entry(key, first, gc_node) {
		cl_key_sweep(table, key, UINT_MAX);
		spin_lock_bh(&key->lock);
		if (clear) {
			key->peak = 0;
			key->over = 0;
		}
		report.id = key->id;
		report.conns = cl_key_confirmed(key);
		if (table->peaks && report.conns > key->peak) {
			key->peak = report.conns;
			if (key->peak > READ_ONCE(table->record.peak))
				cl_record_raise(table, key);
		}
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

/*
 * The table's record: the highest peak a key reached since the table was
 * created or cleared (cl_table_report()), which key and when; the key may
 * be gone since.  Any context but hard interrupts.
 */
void cl_table_record(struct cl_table *table, struct cl_record *record)
{
	spin_lock_bh(&table->record_lock);
	*record = table->record;
	spin_unlock_bh(&table->record_lock);
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
	table->net = net;
	table->netc = netc;
	table->peaks = peaks;
	init_llist_head(&table->keys);
	init_llist_head(&table->graveyard);
	mutex_init(&table->pass_lock);
	spin_lock_init(&table->record_lock);
	INIT_DELAYED_WORK(&table->gc_work, cl_table_gc_work);
	table->pass_end = jiffies - CL_PRESSURE_GAP;
	cl_count_inc(netc, tables);
	return table;
}

/* Teardown frees everything directly: no packet can reach the table. */
static void cl_object_free_now(void *ptr, void *arg)
{
	struct cl_table *table = arg;
	struct cl_node *node = ptr;
	struct cl_pend *pend;
	struct cl_key *key;
	unsigned int i;

	if (node->id & CL_ID_KEY) {
		key = container_of(node, struct cl_key, node);
		for (i = 0; i < CL_KEY_SLOTS; i++) {
			if (!key->slots[i])
				continue;
			nf_ct_put(cl_id_ct(key->slots[i]));
			cl_count_dec(table->netc, conns);
		}
		while ((pend = key->pend_head)) {
			key->pend_head = pend->next;
			kmem_cache_free(cl_pend_cache, pend);
			cl_count_dec(table->netc, pends);
		}
		cl_key_free(table, key);
	} else {
		nf_ct_put(cl_id_ct(node->id));
		kmem_cache_free(cl_conn_cache, container_of(node, struct cl_conn,
							    node));
		cl_count_dec(table->netc, conns);
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
	cl_conn_cache = KMEM_CACHE(cl_conn, 0);
	cl_pend_cache = KMEM_CACHE(cl_pend, 0);
	if (cl_key_cache && cl_conn_cache && cl_pend_cache)
		return 0;
	kmem_cache_destroy(cl_pend_cache);
	kmem_cache_destroy(cl_conn_cache);
	kmem_cache_destroy(cl_key_cache);
	return -ENOMEM;
}

void cl_engine_exit(void)
{
	/* Wait for every call_rcu() free before the caches go away. */
	rcu_barrier();
	kmem_cache_destroy(cl_pend_cache);
	kmem_cache_destroy(cl_conn_cache);
	kmem_cache_destroy(cl_key_cache);
}
