/*
 * channel.c: named channels (rooms). A handler joins or leaves them for a
 * connection with a control event; the management API publishes a frame to
 * every member.
 */
#include <stdlib.h>
#include <string.h>

#include "wsrouter.h"

struct channel {
	char		*name;
	size_t		 len;
	struct conn	**members;
	size_t		  nmembers;
	size_t		  alloc;
	struct channel	*next;
};

struct conn_channel {
	struct channel		*ch;
	struct conn_channel	*next;
};

static struct channel	*channels;	/* a list: channels are few */
static unsigned		 nchannels;

static struct channel *channel_find(const char *, size_t);
static void	 channel_remove_member(struct channel *, struct conn *);

static struct channel *
channel_find(const char *name, size_t len)
{
	struct channel	*ch;

	for (ch = channels; ch != NULL; ch = ch->next)
		if (ch->len == len && memcmp(ch->name, name, len) == 0)
			return (ch);
	return (NULL);
}

unsigned
channel_count(void)
{
	return (nchannels);
}

int
channel_join(struct conn *c, const char *name, size_t len)
{
	struct channel		*ch;
	struct conn_channel	*cc;

	if ((ch = channel_find(name, len)) == NULL) {
		ch = xcalloc(1, sizeof *ch);
		ch->name = xstrndup(name, len);
		ch->len = len;
		ch->next = channels;
		channels = ch;
		nchannels++;
	}
	for (cc = c->channels; cc != NULL; cc = cc->next)
		if (cc->ch == ch)
			return (0);
	if (ch->nmembers == ch->alloc) {
		ch->alloc = ch->alloc == 0 ? 8 : ch->alloc * 2;
		ch->members = xreallocarray(ch->members, ch->alloc,
		    sizeof *ch->members);
	}
	ch->members[ch->nmembers++] = c;
	cc = xmalloc(sizeof *cc);
	cc->ch = ch;
	cc->next = c->channels;
	c->channels = cc;
	return (0);
}

static void
channel_remove_member(struct channel *ch, struct conn *c)
{
	struct channel	**pp;
	size_t		  i;

	for (i = 0; i < ch->nmembers; i++) {
		if (ch->members[i] == c) {
			ch->members[i] = ch->members[--ch->nmembers];
			break;
		}
	}
	if (ch->nmembers != 0)
		return;
	for (pp = &channels; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	nchannels--;
	free(ch->members);
	free(ch->name);
	free(ch);
}

int
channel_leave(struct conn *c, const char *name, size_t len)
{
	struct conn_channel	**pp, *cc;

	for (pp = &c->channels; (cc = *pp) != NULL; pp = &cc->next) {
		if (cc->ch->len == len && memcmp(cc->ch->name, name, len) == 0) {
			*pp = cc->next;
			channel_remove_member(cc->ch, c);
			free(cc);
			return (0);
		}
	}
	return (-1);
}

void
channel_leave_all(struct conn *c)
{
	struct conn_channel	*cc;

	while ((cc = c->channels) != NULL) {
		c->channels = cc->next;
		channel_remove_member(cc->ch, c);
		free(cc);
	}
}

/* Queue a frame for every member; the number reached, or -1 if none. */
long
channel_publish(const char *name, size_t len, int kind, const void *data,
    size_t dlen)
{
	struct channel	*ch;
	long		 n = 0;
	size_t		 i;

	if ((ch = channel_find(name, len)) == NULL)
		return (0);
	/* A member closed on overflow stays listed until its CLOSED. */
	for (i = 0; i < ch->nmembers; i++)
		if (conn_enqueue(ch->members[i], kind, data, dlen) == 0)
			n++;
	return (n);
}

/* The connection's channels as a JSON array. */
void
channel_list(struct conn *c, struct dbuf *b)
{
	struct conn_channel	*cc;

	dbuf_addc(b, '[');
	for (cc = c->channels; cc != NULL; cc = cc->next) {
		dbuf_addc(b, '"');
		json_escape(b, cc->ch->name, cc->ch->len);
		dbuf_addc(b, '"');
		if (cc->next != NULL)
			dbuf_addc(b, ',');
	}
	dbuf_addc(b, ']');
}
