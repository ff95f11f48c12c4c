/*
 * election.c - leadership through etcd; see election.h for the keys and
 * the rules.
 *
 * One thread.  Each round (every 50 ms, or at once when woken): keep the
 * lease alive (every TTL/3), read P/leader (followers every 250 ms, the
 * leader with each keep-alive), learn the leader or campaign, and, while
 * leading, bring P/isr in step with the followers (an etcd call only when
 * something must change).  Every etcd call has a deadline (etcd.c).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "election.h"
#include "etcd.h"
#include "json.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define LOOK_EVERY_MS 250    /* a follower reads P/leader this often */
#define ROUND_MS 50
#define RETRY_MS 200         /* after etcd did not answer */
#define FORCE_WAIT_MS 5000
#define VALUE_MAX 4096

enum force_state { FORCE_NONE, FORCE_ASKED, FORCE_DONE };

/* P/isr as last read or written (thread's). */
struct isr_rec {
	int64_t mod_rev;            /* 0: absent */
	uint64_t epoch;
	char **members;             /* owned, n of them */
	size_t n;
};

struct gfs_election {
	struct gfs_master *m;       /* borrowed */
	struct gfs_etcd *etcd;      /* owned, the thread's */
	char *key_leader;           /* P/leader, owned */
	char *key_isr;              /* P/isr, owned */
	int64_t want_ttl_s;         /* --etcd-lease */
	int64_t lease;              /* our lease, 0 none */
	int64_t ttl_ms;             /* as granted */
	int64_t sent_ms;            /* monotonic send time of the grant or
				     * keep-alive etcd last answered */
	int64_t next_keep_ms;
	int64_t next_look_ms;
	int64_t next_upkeep_ms;
	bool leading;
	bool in_doubt;              /* a campaign got no answer: it may have
				     * won (m->fw.campaigning stays set) */
	int64_t my_rev;             /* create revision of our P/leader */
	struct isr_rec isr;
	bool warned;                /* say_why_not() spoke */
	bool unreachable;           /* the last call got no answer */
	pthread_t thread;
	bool started;
	atomic_bool stop;

	pthread_mutex_t lock;       /* the fields below */
	pthread_cond_t cond;        /* force asked/done, stop */
	char *leader_url;           /* (lock) P/leader as last read */
	uint64_t leader_epoch;      /* (lock) */
	json_t *isr_members;        /* (lock) P/isr members, new reference */
	bool self_member;           /* (lock) we are in P/isr */
	enum force_state force;     /* (lock) */
	enum gfs_err force_err;     /* (lock) */
};

/* ---- values ------------------------------------------------------------ */

static void isr_clear(struct isr_rec *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->members[i]);
	free(r->members);
	memset(r, 0, sizeof(*r));
}

static void isr_add(struct isr_rec *r, const char *url)
{
	r->members = gfs_xrealloc(r->members, (r->n + 1) * sizeof(char *));
	r->members[r->n++] = gfs_xstrdup(url);
}

static bool isr_has(const struct isr_rec *r, const char *url)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->members[i], url))
			return true;
	return false;
}

/* Parse {"epoch", "members"} read at kv into *r (cleared first). */
static bool isr_parse(const struct gfs_etcd_kv *kv, struct isr_rec *r)
{
	json_t *j = NULL, *v;
	size_t i;

	isr_clear(r);
	if (!kv->value)
		return true;
	if (gfs_json_parse_object(kv->value, kv->len, &j) ||
	    gfs_json_u64(j, "epoch", true, &r->epoch) ||
	    !json_is_array(json_object_get(j, "members"))) {
		json_decref(j);
		return false;
	}
	json_array_foreach(json_object_get(j, "members"), i, v)
		if (json_is_string(v) && r->n < GFS_ISR_PEERS + 1)
			isr_add(r, json_string_value(v));
	r->mod_rev = kv->mod_rev;
	json_decref(j);
	return true;
}

/* Changes to P/isr's members. */
struct changes {
	const char *add[GFS_ISR_PEERS];  /* join */
	const char *drop[GFS_ISR_PEERS]; /* leave */
	size_t nadd, ndrop;
};

static bool dropped(const struct changes *c, const char *url)
{
	for (size_t i = 0; c && i < c->ndrop; i++)
		if (!strcmp(c->drop[i], url))
			return true;
	return false;
}

/* The members of r changed by c (may be NULL), into *out (cleared). */
static void isr_apply(const struct isr_rec *r, const struct changes *c,
		      struct isr_rec *out)
{
	size_t i;

	isr_clear(out);
	for (i = 0; i < r->n; i++)
		if (!dropped(c, r->members[i]))
			isr_add(out, r->members[i]);
	for (i = 0; c && i < c->nadd; i++)
		if (!isr_has(out, c->add[i]))
			isr_add(out, c->add[i]);
	out->epoch = r->epoch;
	out->mod_rev = r->mod_rev;
}

/* P/isr's value: epoch and the members of r changed by c.  New string. */
static char *isr_value(const struct isr_rec *r, uint64_t epoch,
		       const struct changes *c)
{
	struct isr_rec n = { 0 };
	json_t *a = json_array(), *j;
	char *text;
	size_t i;

	isr_apply(r, c, &n);
	for (i = 0; i < n.n; i++)
		json_array_append_new(a, json_string(n.members[i]));
	isr_clear(&n);
	j = json_pack("{s:I, s:o}", "epoch", (json_int_t)epoch, "members", a);
	text = gfs_json_dump(j);
	json_decref(j);
	return text;
}

/* Just one member joining. */
static struct changes one_add(const char *url)
{
	struct changes c = { .nadd = 1 };

	c.add[0] = url;
	return c;
}

/* What /status shows of P/isr (el->lock taken here). */
static void publish_isr(struct gfs_election *el)
{
	json_t *a = json_array();

	for (size_t i = 0; i < el->isr.n; i++)
		json_array_append_new(a, json_string(el->isr.members[i]));
	pthread_mutex_lock(&el->lock);
	json_decref(el->isr_members);
	el->isr_members = a;
	el->self_member = isr_has(&el->isr, el->m->self_url);
	pthread_mutex_unlock(&el->lock);
}

static void publish_leader(struct gfs_election *el, const char *url,
			   uint64_t epoch)
{
	char *u = url ? gfs_xstrdup(url) : NULL;

	pthread_mutex_lock(&el->lock);
	free(el->leader_url);
	el->leader_url = u;
	el->leader_epoch = epoch;
	pthread_mutex_unlock(&el->lock);
}

/* Note whether etcd answered; log the changes. */
static bool answered(struct gfs_election *el, enum gfs_err err)
{
	bool down = err == GFS_EUNAVAIL;

	if (down != el->unreachable)
		gfs_log(down ? GFS_LOG_WARN : GFS_LOG_INFO, "etcd %s",
			down ? "does not answer" : "answers again");
	el->unreachable = down;
	return !down;
}

/* ---- the lease --------------------------------------------------------- */

/* Acknowledge nothing at or after this (election.h has the reasoning). */
static int64_t ack_deadline(const struct gfs_election *el)
{
	return el->sent_ms + el->ttl_ms -
	       el->ttl_ms * GFS_DRIFT_PERMILLE / 1000 - GFS_ACK_MARGIN_MS;
}

static void grant(struct gfs_election *el)
{
	int64_t t0 = gfs_mono_ms(), ttl_s = 0, id = 0;
	enum gfs_err err = gfs_etcd_grant(el->etcd, el->want_ttl_s, &id, &ttl_s);

	answered(el, err);
	if (err) {
		el->next_keep_ms = t0 + RETRY_MS;
		return;
	}
	el->lease = id;
	el->ttl_ms = ttl_s * 1000;
	el->sent_ms = t0;
	el->next_keep_ms = t0 + el->ttl_ms / 3;
	gfs_debug("etcd lease %" PRIx64 " of %" PRId64 " s", id, ttl_s);
}

static void step_down(struct gfs_election *el, const char *why)
{
	struct gfs_master *m = el->m;

	el->leading = false;
	el->my_rev = 0;
	el->next_look_ms = 0;
	pthread_mutex_lock(&m->lock);
	gfs_backup_step_down(m, why, NULL);
	pthread_mutex_unlock(&m->lock);
}

static void keep_alive(struct gfs_election *el)
{
	int64_t t0 = gfs_mono_ms(), ttl_s = 0;
	enum gfs_err err = gfs_etcd_keepalive(el->etcd, el->lease, &ttl_s);

	answered(el, err);
	if (!err) {
		el->sent_ms = t0;
		el->ttl_ms = ttl_s * 1000;
		el->next_keep_ms = t0 + el->ttl_ms / 3;
		if (el->leading)
			gfs_isr_set_ack_until(&el->m->isr, ack_deadline(el));
		el->next_look_ms = el->leading ? 0 : el->next_look_ms;
	} else if (err == GFS_ENOENT) {
		gfs_warn("our etcd lease expired");
		el->lease = 0;
		if (el->leading)
			step_down(el, "our etcd lease expired");
	} else {
		el->next_keep_ms = t0 + RETRY_MS;
	}
}

/* ---- following and campaigning ----------------------------------------- */

/* P/leader names url as the leader of epoch: follow it. */
static void learn(struct gfs_election *el, const struct gfs_etcd_kv *kv)
{
	struct gfs_master *m = el->m;
	const char *url = NULL;
	uint64_t epoch = 0;
	json_t *j = NULL;

	if (gfs_json_parse_object(kv->value, kv->len, &j) ||
	    gfs_json_str(j, "url", true, &url) ||
	    gfs_json_u64(j, "epoch", true, &epoch)) {
		gfs_warn("P/leader holds no leader: %.100s", kv->value);
		json_decref(j);
		return;
	}
	publish_leader(el, url, epoch);
	el->warned = false;
	pthread_mutex_lock(&m->lock);
	if (m->role == GFS_ROLE_BACKUP && strcmp(url, m->self_url) &&
	    (!m->primary_url || strcmp(url, m->primary_url))) {
		gfs_info("following %s, leader of epoch %" PRIu64, url, epoch);
		free(m->primary_url);
		m->primary_url = gfs_xstrdup(url);
		m->fw.last_contact_ms = gfs_mono_ms();
	}
	pthread_mutex_unlock(&m->lock);
	json_decref(j);
}

/* The campaign txn; *rev is P/leader's create revision when *won. */
static enum gfs_err campaign_txn(struct gfs_election *el, uint64_t epoch,
				 bool bootstrap, bool *won, int64_t *rev)
{
	char *lv = gfs_xasprintf("{\"url\": \"%s\", \"epoch\": %" PRIu64 "}",
				 el->m->self_url, epoch);
	struct changes me = one_add(el->m->self_url);
	char *iv = isr_value(&el->isr, epoch, bootstrap ? &me : NULL);
	struct gfs_etcd_cmp cmp[2] = {
		{ el->key_leader, GFS_ETCD_CREATE, 0 },
		{ el->key_isr, bootstrap ? GFS_ETCD_CREATE : GFS_ETCD_MOD,
		  bootstrap ? 0 : el->isr.mod_rev },
	};
	struct gfs_etcd_put put[2] = {
		{ el->key_leader, lv, el->lease },
		{ el->key_isr, iv, 0 },
	};
	enum gfs_err err = gfs_etcd_txn(el->etcd, cmp, 2, put, 2, won, rev);

	free(lv);
	free(iv);
	return err;
}

/* We won: lead with the other members of P/isr waited for.  Lock held;
 * the EPOCH record's seq. */
static uint64_t take_office(struct gfs_election *el, uint64_t epoch,
			    int64_t rev, bool bootstrap)
{
	struct gfs_master *m = el->m;
	char *others[GFS_ISR_PEERS + 1];
	size_t i, n = 0;
	uint64_t seq;

	if (bootstrap)
		isr_add(&el->isr, m->self_url);
	for (i = 0; i < el->isr.n && n < GFS_ISR_PEERS; i++)
		if (strcmp(el->isr.members[i], m->self_url))
			others[n++] = el->isr.members[i];
	el->isr.mod_rev = rev;
	el->isr.epoch = epoch;
	el->leading = true;
	el->my_rev = rev;
	publish_isr(el);
	publish_leader(el, m->self_url, epoch);
	seq = gfs_backup_lead(m, epoch, others, n, ack_deadline(el));
	gfs_info("elected leader with epoch %" PRIu64 " (etcd revision %"
		 PRId64 "); in-sync set: me and %zu follower(s)", epoch, rev,
		 n);
	return seq;
}

static void campaign(struct gfs_election *el, bool bootstrap)
{
	struct gfs_master *m = el->m;
	uint64_t epoch, seq = 0;
	int64_t rev = 0;
	bool won = false;
	enum gfs_err err;

	pthread_mutex_lock(&m->lock);
	if (m->role != GFS_ROLE_BACKUP || (!bootstrap && !m->fw.complete)) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	m->fw.campaigning = true;
	epoch = GFS_MAX(el->isr.epoch, m->epoch) + 1;
	pthread_mutex_unlock(&m->lock);
	err = campaign_txn(el, epoch, bootstrap, &won, &rev);
	answered(el, err);
	pthread_mutex_lock(&m->lock);
	/* no answer: etcd may still apply it; our log stays as it counted
	 * on until look() reads who won (claim()) */
	el->in_doubt = err == GFS_EUNAVAIL;
	m->fw.campaigning = el->in_doubt;
	if (!err && won)
		seq = take_office(el, epoch, rev, bootstrap);
	pthread_mutex_unlock(&m->lock);
	if (el->in_doubt) {
		gfs_warn("our campaign for epoch %" PRIu64 " got no answer: "
			 "etcd may have applied it", epoch);
		el->next_look_ms = 0;
	} else if (!err && !won) {
		/* said, so that a log's tail shows every campaign's end */
		gfs_info("our campaign for epoch %" PRIu64 " lost: %s or %s "
			 "moved first", epoch, el->key_leader, el->key_isr);
		el->next_look_ms = 0;
	}
	if (seq)
		gfs_oplog_wait(m->log, seq);
}

/* Read P/isr into el->isr (and /status); false when etcd did not
 * answer. */
static bool read_isr(struct gfs_election *el)
{
	struct gfs_etcd_kv kv;

	if (!answered(el, gfs_etcd_get(el->etcd, el->key_isr, &kv, NULL)))
		return false;
	if (!isr_parse(&kv, &el->isr))
		gfs_error("%s is not an in-sync set: %.100s", el->key_isr,
			  kv.value);
	gfs_etcd_kv_clear(&kv);
	publish_isr(el);
	return true;
}

/* P/leader is on our lease, yet we do not lead: a campaign of ours won
 * but we never saw its reply (it timed out while etcd applied it, or it
 * was sent again, on another endpoint or a fresh connection, and found
 * the key taken: by us).  Nobody else can lead while we keep the lease
 * alive, so take office as that campaign would have, if P/isr is what it
 * wrote and our log still what it counted on; else give the key up by
 * revoking our lease.  The caller cleared el->in_doubt. */
static void claim(struct gfs_election *el, const struct gfs_etcd_kv *kv)
{
	struct gfs_master *m = el->m;
	const char *url = NULL;
	uint64_t epoch = 0, seq = 0;
	json_t *j = NULL;
	bool ok;

	if (!read_isr(el))
		return; /* at the next look */
	ok = !gfs_json_parse_object(kv->value, kv->len, &j) &&
	     !gfs_json_str(j, "url", true, &url) &&
	     !gfs_json_u64(j, "epoch", true, &epoch) &&
	     !strcmp(url, m->self_url) && el->isr.mod_rev == kv->create_rev &&
	     el->isr.epoch == epoch && isr_has(&el->isr, m->self_url);
	json_decref(j);
	pthread_mutex_lock(&m->lock);
	/* a bootstrap needs no marker: it wrote P/isr = {us} */
	ok = ok && m->role == GFS_ROLE_BACKUP && epoch > m->epoch &&
	     (m->fw.complete || (el->isr.n == 1 && m->epoch == 0 &&
				 m->applied_seq == 1));
	m->fw.campaigning = false;
	if (ok) {
		gfs_warn("etcd applied our campaign for epoch %" PRIu64
			 " though its reply was lost: taking office", epoch);
		seq = take_office(el, epoch, kv->create_rev, false);
	}
	pthread_mutex_unlock(&m->lock);
	if (seq)
		gfs_oplog_wait(m->log, seq);
	if (ok)
		return;
	gfs_warn("%s is on our lease but we cannot lead as it says (%.100s): "
		 "revoking the lease", el->key_leader, kv->value);
	gfs_etcd_revoke(el->etcd, el->lease); /* else it expires */
	el->lease = 0;
	el->next_keep_ms = 0;
}

/* Nobody leads and we may not campaign: say why, once until a leader
 * is seen or we campaign. */
static void say_why_not(struct gfs_election *el, bool member)
{
	if (el->warned)
		return;
	el->warned = true;
	if (!el->isr.mod_rev)
		gfs_error("etcd holds no in-sync set (%s) but this master has "
			  "a history: not campaigning; run 'gfs promote URL' "
			  "on the master with the newest log", el->key_isr);
	else
		gfs_warn("nobody leads and %s: not campaigning ('gfs promote "
			 "%s' forces it; what only the in-sync set holds is "
			 "then lost)", member ? "our log is not known complete"
			 : "we are not in the in-sync set", el->m->self_url);
}

/* Nobody leads: read P/isr and campaign when we may. */
static void maybe_campaign(struct gfs_election *el)
{
	struct gfs_master *m = el->m;
	bool fresh, may, member;

	if (!el->lease || !read_isr(el))
		return;
	member = isr_has(&el->isr, m->self_url);
	pthread_mutex_lock(&m->lock);
	fresh = m->epoch == 0 && m->applied_seq == 1;
	may = el->isr.mod_rev ? member && m->fw.complete : fresh;
	pthread_mutex_unlock(&m->lock);
	if (!may) {
		say_why_not(el, member);
		return;
	}
	el->warned = false;
	campaign(el, el->isr.mod_rev == 0);
}

/* P/leader as read after a campaign that got no answer: unless the key
 * is ours (claim() takes it from there), the campaign lost, or never
 * reached etcd; our log may change again. */
static void settle_doubt(struct gfs_election *el, const struct gfs_etcd_kv *kv)
{
	struct gfs_master *m = el->m;

	el->in_doubt = false;
	if (kv->value && el->lease && kv->lease == el->lease)
		return;
	pthread_mutex_lock(&m->lock);
	m->fw.campaigning = false;
	pthread_mutex_unlock(&m->lock);
}

/* Read P/leader: follow whoever leads, or campaign; as leader, make
 * sure the key is still ours. */
static void look(struct gfs_election *el)
{
	struct gfs_etcd_kv kv;
	enum gfs_err err = gfs_etcd_get(el->etcd, el->key_leader, &kv, NULL);
	int64_t now = gfs_mono_ms();

	el->next_look_ms = now + (el->leading ? el->ttl_ms / 3 : LOOK_EVERY_MS);
	if (!answered(el, err) || err) {
		el->next_look_ms = now + RETRY_MS;
		return;
	}
	if (el->in_doubt)
		settle_doubt(el, &kv);
	if (el->leading && kv.create_rev != el->my_rev)
		step_down(el, kv.value ? "another master holds the leader key"
				       : "our leader key is gone");
	else if (!el->leading && kv.value && el->lease &&
		 kv.lease == el->lease)
		claim(el, &kv);
	else if (!el->leading && kv.value)
		learn(el, &kv);
	else if (!el->leading)
		maybe_campaign(el);
	if (!el->leading && kv.value)
		read_isr(el);
	gfs_etcd_kv_clear(&kv);
}

/* ---- the in-sync set, as leader ---------------------------------------- */

/* Wait-only changes at once; what needs etcd into *c. */
static void plan(struct gfs_election *el, struct gfs_isr_view *v, size_t n,
		 struct changes *c)
{
	struct gfs_isr *isr = &el->m->isr;
	bool in;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		in = isr_has(&el->isr, v[i].url);
		if (!v[i].member && v[i].caught_up && !v[i].silent && !in)
			gfs_isr_set_member(isr, v[i].url, true);
		else if (v[i].member && v[i].silent && !in)
			gfs_isr_set_member(isr, v[i].url, false);
		else if (v[i].member && v[i].attached && !in)
			c->add[c->nadd++] = v[i].url;
		else if (v[i].member && v[i].silent && in)
			c->drop[c->ndrop++] = v[i].url;
	}
}

/* Write P/isr changed by c, as the leader of my_rev; false when the
 * compare did not hold or etcd did not answer. */
static bool write_isr(struct gfs_election *el, const struct changes *c)
{
	char *value = isr_value(&el->isr, el->isr.epoch, c);
	struct gfs_etcd_cmp cmp[2] = {
		{ el->key_leader, GFS_ETCD_CREATE, el->my_rev },
		{ el->key_isr, GFS_ETCD_MOD, el->isr.mod_rev },
	};
	struct gfs_etcd_put put = { el->key_isr, value, 0 };
	struct isr_rec next = { 0 };
	int64_t rev = 0;
	bool ok = false;
	enum gfs_err err = gfs_etcd_txn(el->etcd, cmp, 2, &put, 1, &ok, &rev);

	answered(el, err);
	free(value);
	if (!err && !ok)
		read_isr(el); /* moved under us (maybe by our own lost reply) */
	if (err || !ok)
		return false;
	isr_apply(&el->isr, c, &next);
	next.mod_rev = rev;
	isr_clear(&el->isr);
	el->isr = next;
	return true;
}

/* Add the attached, drop the silent: in etcd first for a drop, in the
 * wait first for an add (plan()), so P/isr stays within the wait. */
static void upkeep(struct gfs_election *el)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&el->m->isr, v, GFS_ISR_PEERS);
	struct changes c;

	plan(el, v, n, &c);
	if (!c.nadd && !c.ndrop)
		return;
	el->next_upkeep_ms = gfs_mono_ms() + RETRY_MS;
	if (!write_isr(el, &c)) {
		el->next_look_ms = 0; /* is P/leader still ours? */
		return;
	}
	for (i = 0; i < c.ndrop; i++) {
		gfs_warn("follower %s silent: dropped from the in-sync set",
			 c.drop[i]);
		gfs_isr_set_member(&el->m->isr, c.drop[i], false);
	}
	for (i = 0; i < c.nadd; i++)
		gfs_info("follower %s attached: in the in-sync set", c.add[i]);
	publish_isr(el);
}

/* ---- operator ---------------------------------------------------------- */

/* `gfs promote`: no leader -> P/isr = {us}, and we may campaign. */
static enum gfs_err force(struct gfs_election *el)
{
	struct gfs_master *m = el->m;
	struct gfs_etcd_kv kv;
	struct isr_rec alone = { 0 };
	struct changes me = one_add(m->self_url);
	enum gfs_err err;
	char *value;
	bool ok = false;

	err = gfs_etcd_get(el->etcd, el->key_isr, &kv, NULL);
	if (err)
		return GFS_EUNAVAIL;
	isr_parse(&kv, &el->isr);
	gfs_etcd_kv_clear(&kv);
	pthread_mutex_lock(&m->lock);
	value = isr_value(&alone, GFS_MAX(el->isr.epoch, m->epoch), &me);
	pthread_mutex_unlock(&m->lock);
	err = gfs_etcd_txn(el->etcd, (struct gfs_etcd_cmp[]){
		{ el->key_leader, GFS_ETCD_CREATE, 0 },
		{ el->key_isr, el->isr.mod_rev ? GFS_ETCD_MOD : GFS_ETCD_CREATE,
		  el->isr.mod_rev } }, 2,
		&(struct gfs_etcd_put){ el->key_isr, value, 0 }, 1, &ok, NULL);
	free(value);
	if (err)
		return GFS_EUNAVAIL;
	if (!ok)
		return GFS_EEXIST;
	pthread_mutex_lock(&m->lock);
	gfs_warn("the operator made us the only member of the in-sync set: "
		 "records acknowledged that our log lacks are lost");
	gfs_backup_vouch(m);
	pthread_mutex_unlock(&m->lock);
	el->next_look_ms = 0;
	return GFS_OK;
}

static void serve_force(struct gfs_election *el)
{
	enum gfs_err err;

	pthread_mutex_lock(&el->lock);
	if (el->force != FORCE_ASKED) {
		pthread_mutex_unlock(&el->lock);
		return;
	}
	pthread_mutex_unlock(&el->lock);
	err = el->leading ? GFS_OK : force(el);
	pthread_mutex_lock(&el->lock);
	el->force = FORCE_DONE;
	el->force_err = err;
	pthread_cond_broadcast(&el->cond);
	pthread_mutex_unlock(&el->lock);
}

enum gfs_err gfs_election_force(struct gfs_election *el)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_MONOTONIC, FORCE_WAIT_MS);
	enum gfs_err err = GFS_EUNAVAIL;

	pthread_mutex_lock(&el->lock);
	el->force = FORCE_ASKED;
	pthread_cond_broadcast(&el->cond);
	while (el->force == FORCE_ASKED &&
	       pthread_cond_timedwait(&el->cond, &el->lock, &ts) == 0)
		;
	if (el->force == FORCE_DONE)
		err = el->force_err;
	el->force = FORCE_NONE;
	pthread_mutex_unlock(&el->lock);
	return err;
}

/* ---- the thread -------------------------------------------------------- */

static void round_once(struct gfs_election *el)
{
	int64_t now = gfs_mono_ms();

	if (!el->lease && now >= el->next_keep_ms)
		grant(el);
	else if (el->lease && now >= el->next_keep_ms)
		keep_alive(el);
	if (gfs_mono_ms() >= el->next_look_ms)
		look(el);
	serve_force(el);
	if (el->leading && gfs_mono_ms() >= el->next_upkeep_ms)
		upkeep(el);
}

static void *el_main(void *arg)
{
	struct gfs_election *el = arg;
	struct timespec ts;

	while (!atomic_load(&el->stop)) {
		round_once(el);
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, ROUND_MS);
		pthread_mutex_lock(&el->lock);
		if (!atomic_load(&el->stop) && el->force != FORCE_ASKED)
			pthread_cond_timedwait(&el->cond, &el->lock, &ts);
		pthread_mutex_unlock(&el->lock);
	}
	return NULL;
}

struct gfs_election *gfs_election_new(struct gfs_master *m)
{
	struct gfs_election *el;
	pthread_condattr_t ca;
	int64_t ttl_s = (int64_t)((m->conf.etcd_lease_ms + 999) / 1000);
	long timeout = (long)GFS_MAX(300, GFS_MIN(1000, ttl_s * 1000 / 3));
	struct gfs_etcd *etcd = gfs_etcd_new(m->conf.etcd, timeout);

	if (!etcd)
		return NULL;
	el = gfs_xcalloc(1, sizeof(*el));
	el->m = m;
	el->etcd = etcd;
	el->want_ttl_s = GFS_MAX(1, ttl_s);
	el->key_leader = gfs_xasprintf("%s/leader", m->conf.etcd_prefix);
	el->key_isr = gfs_xasprintf("%s/isr", m->conf.etcd_prefix);
	el->isr_members = json_array();
	pthread_mutex_init(&el->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&el->cond, &ca);
	pthread_condattr_destroy(&ca);
	return el;
}

void gfs_election_start(struct gfs_election *el)
{
	pthread_create(&el->thread, NULL, el_main, el);
	el->started = true;
}

void gfs_election_stop(struct gfs_election *el)
{
	if (!el || !el->started)
		return;
	pthread_mutex_lock(&el->lock);
	atomic_store(&el->stop, true);
	pthread_cond_broadcast(&el->cond);
	pthread_mutex_unlock(&el->lock);
	pthread_join(el->thread, NULL);
	el->started = false;
	if (el->leading) {
		pthread_mutex_lock(&el->m->lock);
		gfs_backup_step_down(el->m, "stopping", NULL);
		pthread_mutex_unlock(&el->m->lock);
	}
	/* the leader key goes with the lease: no need to wait for its TTL */
	if (el->lease && !gfs_etcd_revoke(el->etcd, el->lease) && el->leading)
		gfs_info("gave up leadership (lease revoked)");
}

void gfs_election_free(struct gfs_election *el)
{
	if (!el)
		return;
	gfs_election_stop(el);
	gfs_etcd_free(el->etcd);
	isr_clear(&el->isr);
	free(el->key_leader);
	free(el->key_isr);
	free(el->leader_url);
	json_decref(el->isr_members);
	pthread_cond_destroy(&el->cond);
	pthread_mutex_destroy(&el->lock);
	free(el);
}

void gfs_election_status(struct gfs_election *el, json_t *j)
{
	struct gfs_master *m = el->m;

	pthread_mutex_lock(&el->lock);
	json_object_set_new(j, "mode", json_string("etcd"));
	json_object_set_new(j, "leader", el->leader_url
		? json_pack("{s:s, s:I}", "url", el->leader_url, "epoch",
			    (json_int_t)el->leader_epoch)
		: json_null());
	json_object_set_new(j, "isr", json_deep_copy(el->isr_members));
	json_object_set_new(j, "in_sync",
			    json_boolean(el->self_member && m->fw.complete));
	json_object_set_new(j, "etcd", json_pack("{s:s, s:s}", "prefix",
		m->conf.etcd_prefix, "endpoints", m->conf.etcd));
	pthread_mutex_unlock(&el->lock);
}
