/*
 * hist.c: a latency histogram in the manner of HdrHistogram: every power of
 * two is cut into HIST_SUB buckets, so a percentile is within 1/64 (1.6%) of
 * the true value over the whole range, in constant memory, and recording is
 * a few instructions. Values below 2 * HIST_SUB are exact; the minimum and
 * maximum are kept exactly.
 */
#include "config.h"

#include <string.h>

#include "loadgen.h"

static unsigned	 hist_index(uint64_t);
static uint64_t	 hist_value(unsigned);

void
hist_reset(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->h_min = UINT64_MAX;
}

static unsigned
hist_index(uint64_t v)
{
	unsigned	e;

	if (v < HIST_SUB)
		return ((unsigned)v);
	if (v >> HIST_MAX_BITS)
		return (HIST_BUCKETS - 1);
	e = 63 - (unsigned)__builtin_clzll(v);
	return (HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	    (unsigned)((v >> (e - HIST_SUB_BITS)) - HIST_SUB));
}

/* The middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
	unsigned	e, sub;
	uint64_t	lo, width;

	if (i < HIST_SUB)
		return (i);
	e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	sub = (i - HIST_SUB) % HIST_SUB;
	width = (uint64_t)1 << (e - HIST_SUB_BITS);
	lo = (uint64_t)(HIST_SUB + sub) * width;
	return (lo + (width - 1) / 2);
}

void
hist_record(struct hist *h, uint64_t v)
{
	h->h_bucket[hist_index(v)]++;
	h->h_count++;
	h->h_sum += v;
	if (v < h->h_min)
		h->h_min = v;
	if (v > h->h_max)
		h->h_max = v;
}

/* The value below which pct percent of the samples lie; 0 when empty. */
uint64_t
hist_percentile(const struct hist *h, double pct)
{
	uint64_t	rank, seen = 0, v;
	unsigned	i;

	if (h->h_count == 0)
		return (0);
	if (pct >= 100.0)
		return (h->h_max);
	rank = (uint64_t)(pct / 100.0 * (double)h->h_count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->h_bucket[i];
		if (seen >= rank)
			break;
	}
	v = hist_value(i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
	if (v < h->h_min)
		v = h->h_min;
	if (v > h->h_max)
		v = h->h_max;
	return (v);
}

double
hist_mean(const struct hist *h)
{
	if (h->h_count == 0)
		return (0);
	return ((double)(h->h_sum / h->h_count));
}
