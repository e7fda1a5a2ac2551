/*
 * test_timerq.c: the router's deadline heap (router/timerq.c), driven by a
 * real libwebsockets context with no listener. Entries are armed, moved
 * and cancelled at random; every one still armed must fire once, not
 * before its deadline, and in deadline order; a cancelled one never.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "common.h"
#include "wsrouter.h"
#include "tap.h"

struct router	*router;

#define NENT		3000
#define SPAN_USEC	(150 * 1000)	/* deadlines within now + 150 ms */
#define LATE_USEC	(500 * 1000)	/* a firing this late is a miss */

struct ent {
	struct timerq_entry	 t;
	uint64_t		 want;	/* 0: cancelled */
	uint64_t		 fired_at;
	int			 fired;
	int			 rearm;	/* times left to arm itself again */
};

static struct ent	 ents[NENT];
static uint64_t		 last_deadline;
static int		 out_of_order;

static void
on_fire(struct timerq_entry *t)
{
	struct ent	*e = lws_container_of(t, struct ent, t);

	e->fired++;
	e->fired_at = mono_usec();
	if (t->deadline < last_deadline)
		out_of_order++;
	last_deadline = t->deadline;
	if (e->rearm > 0) {
		e->rearm--;
		e->want = e->fired_at + 1000;
		e->fired = 0;
		timerq_arm(t, e->want, on_fire);
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

/*
 * One turn of the loop. lws runs the timers that are due before it polls,
 * and then polls until the next one: a tick keeps that wait short, so that
 * the caller sees what fired.
 */
static void
service_once(void)
{
	static lws_sorted_usec_list_t	 tick_sul;

	lws_sul_schedule(router->ctx, 0, &tick_sul, tick, 2000);
	lws_service(router->ctx, 0);
}

/* Run the loop until every entry still wanted has fired, or a deadline. */
static void
service_until_done(uint64_t limit)
{
	int	i, pending;

	do {
		service_once();
		pending = 0;
		for (i = 0; i < NENT; i++)
			if (ents[i].want != 0 && ents[i].fired == 0)
				pending++;
	} while (pending > 0 && mono_usec() < limit);
}

static void
test_random(void)
{
	uint64_t	now = mono_usec();
	int		i, early = 0, late = 0, twice = 0, missed = 0;
	int		cancelled_fired = 0, ncancel = 0, nmove = 0;

	srandom(4242);
	for (i = 0; i < NENT; i++) {
		ents[i].want = now + 20000 + (uint64_t)(random() % SPAN_USEC);
		timerq_arm(&ents[i].t, ents[i].want, on_fire);
	}
	ok(timerq_armed(&ents[0].t), "an armed entry says so");
	/* Cancel a third, move a third (earlier or later), keep a third. */
	for (i = 0; i < NENT; i++) {
		switch (random() % 3) {
		case 0:
			timerq_cancel(&ents[i].t);
			ents[i].want = 0;
			ncancel++;
			break;
		case 1:
			ents[i].want = now + 10000 +
			    (uint64_t)(random() % SPAN_USEC);
			timerq_arm(&ents[i].t, ents[i].want, on_fire);
			nmove++;
			break;
		default:
			break;
		}
	}
	/* Cancelling twice, and an entry never armed, do nothing. */
	for (i = 0; i < NENT; i++)
		if (ents[i].want == 0)
			timerq_cancel(&ents[i].t);
	for (i = 0; i < NENT && ents[i].want != 0; i++)
		;
	ok(i < NENT && !timerq_armed(&ents[i].t),
	    "a cancelled entry is not armed");
	service_until_done(now + SPAN_USEC + 3 * LATE_USEC);
	for (i = 0; i < NENT; i++) {
		if (ents[i].want == 0) {
			cancelled_fired += ents[i].fired;
			continue;
		}
		if (ents[i].fired == 0)
			missed++;
		else if (ents[i].fired > 1)
			twice++;
		else if (ents[i].fired_at < ents[i].want)
			early++;
		else if (ents[i].fired_at > ents[i].want + LATE_USEC)
			late++;
	}
	tap_diag("%d entries: %d cancelled, %d moved", NENT, ncancel, nmove);
	is_int(missed, 0, "every armed entry fired");
	is_int(twice, 0, "none fired twice");
	is_int(early, 0, "none fired before its deadline");
	is_int(late, 0, "none fired more than %d ms late", LATE_USEC / 1000);
	is_int(cancelled_fired, 0, "no cancelled entry fired");
	is_int(out_of_order, 0, "they fired in deadline order");
}

/* Forget the entries of the test before (all fired or cancelled). */
static void
reset_ents(void)
{
	memset(ents, 0, sizeof ents);
	last_deadline = 0;
}

static void
arm(int i, uint64_t want)
{
	ents[i].want = want;
	timerq_arm(&ents[i].t, want, on_fire);
}

/* The earliest entry cancelled: the timer fires early and waits again. */
static void
test_cancel_earliest(void)
{
	uint64_t	now = mono_usec();

	reset_ents();
	arm(0, now + 5000);
	arm(1, now + 80000);
	timerq_cancel(&ents[0].t);
	ents[0].want = 0;
	service_until_done(now + 80000 + LATE_USEC);
	ok(ents[0].fired == 0, "the cancelled earliest entry did not fire");
	ok(ents[1].fired == 1 && ents[1].fired_at >= ents[1].want,
	    "the later entry fired at its deadline, not before");
}

/* A deadline earlier than the one the lws timer waits for moves it. */
static void
test_earlier_moves_timer(void)
{
	uint64_t	now = mono_usec();

	reset_ents();
	arm(0, now + 400000);
	/* The lws timer now waits for 400 ms. */
	arm(1, mono_usec() + 10000);
	while (ents[1].fired == 0 && mono_usec() < now + 1000000)
		service_once();
	ok(ents[1].fired == 1 && ents[0].fired == 0 &&
	    ents[1].fired_at < now + 200000,
	    "an earlier deadline fires on time, not with the later one");
	service_until_done(now + 400000 + LATE_USEC);
	ok(ents[0].fired == 1, "the later one fires after it");
}

/* A callback may arm its own entry again. */
static void
test_rearm_from_callback(void)
{
	uint64_t	now = mono_usec();

	reset_ents();
	ents[0].rearm = 3;
	arm(0, now + 2000);
	service_until_done(now + 4 * LATE_USEC);
	ok(ents[0].rearm == 0 && ents[0].fired == 1,
	    "an entry armed again from its callback fired each time");
}

int
main(void)
{
	struct lws_context_creation_info	info;

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	router = xcalloc(1, sizeof *router);
	router->ctx = lws_create_context(&info);
	if (router->ctx == NULL) {
		ok(0, "a libwebsockets context");
		return (tap_done());
	}
	test_random();
	test_cancel_earliest();
	test_earlier_moves_timer();
	test_rearm_from_callback();
	timerq_clear();
	lws_context_destroy(router->ctx);
	free(router);
	return (tap_done());
}
