/*
 * llmparse.h: the model providers' stream formats, parsed without I/O.
 *
 * Three layers, each fed arbitrary byte splits:
 *	framing		an SSE parser (OpenAI-compatible) and an NDJSON line
 *			splitter (Ollama) hand out one record at a time;
 *	interpreting	one record (an SSE event's data, an NDJSON line)
 *			becomes a struct llm_event;
 *	text		llmparse_text_feed turns the content pieces into
 *			whole, valid UTF-8 without U+0000.
 *
 * Records are repaired before jansson sees them (llmparse_json_repair):
 * a lone UTF-16 surrogate escape or an invalid byte inside a JSON string
 * becomes a marker that the text layer turns back into what it stood for,
 * so a surrogate pair or a UTF-8 character split over two deltas is put
 * together again, and whatever stays invalid becomes U+FFFD.
 *
 * Nothing here keeps a pointer into the caller's input after it returns.
 */
#ifndef LLMPARSE_H
#define LLMPARSE_H

#include <stddef.h>

#include "common.h"

#define LLM_RECORD_MAX		(1024 * 1024)	/* a line, an SSE event */
#define LLM_ERROR_BODY_MAX	(16 * 1024)	/* a non-2xx body we read */

/* Called with each record (NUL-terminated at len); -1 stops the feed. */
typedef int llmparse_record_cb(void *, const char *, size_t);

enum llmparse_status {
	LLMPARSE_OK = 0,
	LLMPARSE_TOOLONG,	/* a line or an event passed its cap */
	LLMPARSE_STOPPED	/* the record callback returned -1 */
};

/* Server-sent events (the WHATWG EventSource rules; data only). */
struct llm_sse {
	struct dbuf	 sse_line;	/* the line being read */
	struct dbuf	 sse_data;	/* the event's data lines, joined */
	int		 sse_has_data;	/* a data field was seen */
	int		 sse_bom;	/* BOM bytes matched; 3: done */
	int		 sse_cr;	/* the last byte was CR */
};

void		 llmparse_sse_init(struct llm_sse *, size_t);
enum llmparse_status llmparse_sse_feed(struct llm_sse *, const void *,
		    size_t, llmparse_record_cb *, void *);
void		 llmparse_sse_free(struct llm_sse *);

/* Newline-delimited JSON: LF or CRLF, empty lines skipped. */
struct llm_ndjson {
	struct dbuf	 nd_line;
	int		 nd_bom;
};

void		 llmparse_ndjson_init(struct llm_ndjson *, size_t);
enum llmparse_status llmparse_ndjson_feed(struct llm_ndjson *, const void *,
		    size_t, llmparse_record_cb *, void *);
/* At the end of the stream: a last line without its newline. */
enum llmparse_status llmparse_ndjson_finish(struct llm_ndjson *,
		    llmparse_record_cb *, void *);
void		 llmparse_ndjson_free(struct llm_ndjson *);

/* What one record said. */
struct llm_event {
	char		*ev_content;	/* owned, NULL if none; may hold
					   markers and NULs: give it to
					   llmparse_text_feed */
	size_t		 ev_content_len;
	int		 ev_done;	/* [DONE], or "done": true */
	char		 ev_finish[32];	/* finish_reason / done_reason */
	int		 ev_error;	/* an error object or line */
	char		 ev_message[256]; /* its message, cleaned */
	long		 ev_tokens;	/* the provider's count, or -1 */
};

/*
 * One SSE event's data (OpenAI-compatible) or one NDJSON line (Ollama).
 * 0 with ev filled (an empty record fills nothing), or -1 when the record
 * is not the JSON object the format promises.
 */
int		 llmparse_openai(const char *, size_t, struct llm_event *);
int		 llmparse_ollama(const char *, size_t, struct llm_event *);
void		 llmparse_event_clear(struct llm_event *);

/*
 * The message of a non-2xx body of either provider ({"error":{"message"}},
 * {"error":"..."}, {"message":"..."}), cleaned for a person to read. 0, or
 * -1 and buf empty when there is none.
 */
int		 llmparse_error_body(const char *, size_t, char *, size_t);

/*
 * Make a JSON text that jansson accepts out of one with lone surrogate
 * escapes, invalid UTF-8 or raw control bytes inside its strings; U+FDD0
 * (which the markers use) becomes U+FFFD. Appends to out; 0, or -1 past
 * its cap.
 */
int		 llmparse_json_repair(const char *, size_t, struct dbuf *);

/*
 * The answer's text. feed appends to out what is whole and valid of the
 * pieces so far, holding back a tail that a later piece may complete;
 * flush ends the text (a held tail becomes U+FFFD). U+0000 is dropped,
 * invalid sequences become U+FFFD. Returns 0, or -1 when out is full.
 */
struct llm_text {
	unsigned char	 tx_tail[8];
	size_t		 tx_ntail;
};

void		 llmparse_text_init(struct llm_text *);
int		 llmparse_text_feed(struct llm_text *, const char *, size_t,
		    struct dbuf *);
int		 llmparse_text_flush(struct llm_text *, struct dbuf *);

/* Keep printable text of s for a message: controls become spaces. */
void		 llmparse_clean(const char *, size_t, char *, size_t);

#endif
