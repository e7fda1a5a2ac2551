/*
 * timerq.c: deadlines in a binary min-heap behind one lws timer.
 *
 * lws 4.1.6 keeps its timers in one sorted list and inserts by walking it
 * from the head. An invocation's deadline, now plus a fixed timeout, is
 * nearly always the latest of all, so arming it walked the whole list,
 * every invocation in flight, once per request (5% of the router's CPU in
 * the echo benchmark at 100 connections, and growing with them). Here arming costs O(log n), and
 * the lws timer moves only when a deadline earlier than the one it waits
 * for comes in. When the earliest entry is cancelled the timer is left
 * alone: it fires early, finds nothing due, and waits for the new
 * earliest.
 */
#include <stdint.h>
#include <stdlib.h>

#include <libwebsockets.h>

#include "common.h"
#include "wsrouter.h"

static struct {
	struct timerq_entry	**heap;
	size_t			  n, cap;
	uint64_t		  armed;	/* the lws timer's deadline, 0 none */
	lws_sorted_usec_list_t	  sul;
} tq;

static void	 timerq_fire(lws_sorted_usec_list_t *);
static void	 timerq_kick(void);
static void	 heap_set(size_t, struct timerq_entry *);
static void	 heap_up(size_t);
static void	 heap_down(size_t);

/* Entries hold their heap index plus one, so that a zeroed one is idle. */
static void
heap_set(size_t i, struct timerq_entry *e)
{
	tq.heap[i] = e;
	e->pos = i + 1;
}

static void
heap_up(size_t i)
{
	struct timerq_entry	*e = tq.heap[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (tq.heap[parent]->deadline <= e->deadline)
			break;
		heap_set(i, tq.heap[parent]);
		i = parent;
	}
	heap_set(i, e);
}

static void
heap_down(size_t i)
{
	struct timerq_entry	*e = tq.heap[i];
	size_t			 child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= tq.n)
			break;
		if (child + 1 < tq.n &&
		    tq.heap[child + 1]->deadline < tq.heap[child]->deadline)
			child++;
		if (e->deadline <= tq.heap[child]->deadline)
			break;
		heap_set(i, tq.heap[child]);
		i = child;
	}
	heap_set(i, e);
}

/* Call cb(e) at deadline (mono_usec), replacing any deadline e had. */
void
timerq_arm(struct timerq_entry *e, uint64_t deadline,
    void (*cb)(struct timerq_entry *))
{
	e->cb = cb;
	if (timerq_armed(e)) {
		e->deadline = deadline;
		heap_up(e->pos - 1);
		heap_down(e->pos - 1);
	} else {
		if (tq.n == tq.cap) {
			tq.cap = tq.cap != 0 ? tq.cap * 2 : 64;
			tq.heap = xreallocarray(tq.heap, tq.cap,
			    sizeof *tq.heap);
		}
		e->deadline = deadline;
		heap_set(tq.n, e);
		tq.n++;
		heap_up(tq.n - 1);
	}
	timerq_kick();
}

void
timerq_cancel(struct timerq_entry *e)
{
	struct timerq_entry	*moved;
	size_t			 i = e->pos - 1;

	if (!timerq_armed(e))
		return;
	e->pos = 0;
	if (--tq.n == i)
		return;
	moved = tq.heap[tq.n];
	heap_set(i, moved);
	heap_up(i);
	heap_down(moved->pos - 1);
}

int
timerq_armed(const struct timerq_entry *e)
{
	return (e->pos != 0);
}

/* Point the lws timer at the earliest deadline if it waits for a later one. */
static void
timerq_kick(void)
{
	uint64_t	now, first;

	if (tq.n == 0)
		return;
	first = tq.heap[0]->deadline;
	if (tq.armed != 0 && tq.armed <= first)
		return;
	now = mono_usec();
	tq.armed = first;
	lws_sul_schedule(router->ctx, 0, &tq.sul, timerq_fire,
	    first > now ? (lws_usec_t)(first - now) : 1);
}

static void
timerq_fire(lws_sorted_usec_list_t *sul)
{
	struct timerq_entry	*e;
	uint64_t		 now = mono_usec();

	(void)sul;
	tq.armed = 0;
	/* A callback may arm or cancel entries, this one included. */
	while (tq.n > 0 && tq.heap[0]->deadline <= now) {
		e = tq.heap[0];
		timerq_cancel(e);
		e->cb(e);
	}
	timerq_kick();
}

/* Forget every entry, at exit: the lws timer went with the context. */
void
timerq_clear(void)
{
	size_t	i;

	for (i = 0; i < tq.n; i++)
		tq.heap[i]->pos = 0;
	tq.n = 0;
	tq.armed = 0;
	free(tq.heap);
	tq.heap = NULL;
	tq.cap = 0;
}
