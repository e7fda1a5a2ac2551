/*
 * loadgen.h: the private header of the WebSocket load generator: the
 * connection and frame engine (client.c, frame.c, handshake.c), the
 * measurements (hist.c, cpu.c) and the scenarios (echo.c, stream.c,
 * idle.c), which only talk to the engine through the functions declared
 * here.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define LOADGEN_VERSION		"1"

/* WebSocket opcodes (RFC 6455 section 5.2). */
#define WS_OP_CONT		0x0
#define WS_OP_TEXT		0x1
#define WS_OP_BINARY		0x2
#define WS_OP_CLOSE		0x8
#define WS_OP_PING		0x9
#define WS_OP_PONG		0xa

#define WS_FRAME_HDR_MAX	14	/* 2 + 8 (length) + 4 (mask) */
#define WS_HANDSHAKE_MAX	8192	/* cap of the server's 101 response */

/* Phases of one run, in order. */
enum lg_phase {
	PHASE_CONNECT = 0,	/* opening connections, nothing is sent */
	PHASE_WARMUP,		/* the scenario runs, nothing is recorded */
	PHASE_MEASURE,		/* the scenario runs and is recorded */
	PHASE_DRAIN,		/* no new requests; wait for answers in flight */
	PHASE_CLOSE,		/* close handshakes */
	PHASE_DONE
};

/* Error classes, counted separately and summed into "errors". */
enum lg_error {
	ERR_CONNECT = 0,	/* socket, bind, connect, connect timeout */
	ERR_HANDSHAKE,		/* not a valid 101 with the right accept key */
	ERR_PROTOCOL,		/* a malformed or forbidden server frame */
	ERR_CLOSED,		/* the server closed or reset a connection */
	ERR_MISMATCH,		/* an answer that is not what was expected */
	ERR_SERVER,		/* an error frame from the server */
	ERR_TIMEOUT,		/* an answer that never came */
	ERR_MAX
};

enum client_state {
	CLIENT_IDLE = 0,	/* not started yet */
	CLIENT_CONNECTING,	/* TCP connect in progress */
	CLIENT_HANDSHAKE,	/* upgrade request sent, waiting for the 101 */
	CLIENT_EIO,		/* WebSocket up, Engine.IO handshake under way */
	CLIENT_OPEN,
	CLIENT_CLOSING,		/* our close frame is sent */
	CLIENT_DEAD		/* fd closed */
};

/* One parsed frame header (frame.c). */
struct frame {
	int		 fr_fin;
	int		 fr_rsv;	/* the three RSV bits */
	int		 fr_opcode;
	int		 fr_masked;
	unsigned char	 fr_mask[4];
	uint64_t	 fr_len;	/* payload length */
	size_t		 fr_hdrlen;	/* header length, mask included */
};

/* A log-bucketed latency histogram (hist.c), values in nanoseconds. */
#define HIST_SUB_BITS		6
#define HIST_SUB		(1 << HIST_SUB_BITS)
#define HIST_MAX_BITS		44	/* about 4.8 hours */
#define HIST_BUCKETS		((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)
struct hist {
	uint64_t	 h_count;
	uint64_t	 h_min;
	uint64_t	 h_max;
	long double	 h_sum;
	uint64_t	 h_bucket[HIST_BUCKETS];
};

/* Busy and total ticks of every CPU, from /proc/stat (cpu.c). */
#define CPU_CORES_MAX		64
struct cpu_cores {
	unsigned		 cc_n;
	unsigned long long	 cc_busy[CPU_CORES_MAX];
	unsigned long long	 cc_total[CPU_CORES_MAX];
};

struct loadgen;
struct client;

/*
 * A scenario drives the open connections; the engine calls these, every one
 * optional except message. The scenario keeps its own per-connection state
 * in client_data() and its counters in loadgen->lg_scen_data.
 */
struct scenario {
	const char	*sc_name;
	const char	*sc_usage;	/* scenario options, for usage() */
	/* Parse a scenario option (the -X key=value form); -1 if unknown. */
	int		 (*sc_option)(struct loadgen *, const char *,
			     const char *);
	int		 (*sc_init)(struct loadgen *);
	/* Every connection is open (or failed): start sending. */
	void		 (*sc_start)(struct loadgen *);
	/* The measurement window begins: reset what warmup recorded. */
	void		 (*sc_window)(struct loadgen *);
	/* A complete data message arrived. */
	void		 (*sc_message)(struct client *, int, const unsigned char *,
			     size_t);
	/* A pong arrived (its payload). */
	void		 (*sc_pong)(struct client *, const unsigned char *,
			     size_t);
	/* Called on every turn of the loop, at least every 10 ms. */
	void		 (*sc_tick)(struct loadgen *, uint64_t);
	/* Requests still waiting for an answer (drain ends at 0). */
	uint64_t	 (*sc_pending)(struct loadgen *);
	/* A connection died (server close, reset, protocol error). */
	void		 (*sc_closed)(struct client *);
	/* Append ,"key":value pairs to the result line. */
	void		 (*sc_report)(struct loadgen *, struct dbuf *);
	void		 (*sc_free)(struct loadgen *);
};

/* Memory of a process tree, from /proc/PID/smaps_rollup (cpu.c). */
struct mem_use {
	unsigned long long	 mu_rss_kb;
	unsigned long long	 mu_pss_kb;
	unsigned		 mu_procs;
};

/* What rides on the WebSocket messages. */
enum lg_proto {
	PROTO_WS = 0,		/* the messages themselves */
	PROTO_EIO		/* Engine.IO v4 / socket.io v4 "message" events */
};

/* The whole run. */
struct loadgen {
	/* Options. */
	const struct scenario *lg_scen;
	const char	*lg_label;	/* the server label in the output */
	char		*lg_host;	/* for the Host header and connect */
	char		*lg_port;
	char		*lg_path;
	const char	*lg_origin;	/* optional Origin header */
	unsigned	 lg_conns;
	unsigned	 lg_src_addrs;	/* 127.0.0.F .. 127.0.0.F+N-1, 0 = none */
	unsigned	 lg_src_first;	/* F, 1 by default */
	enum lg_proto	 lg_proto;
	double		 lg_duration;	/* seconds of measurement */
	double		 lg_warmup;	/* seconds before it */
	double		 lg_connect_timeout;
	double		 lg_drain_timeout;
	uint64_t	 lg_max_msgs;	/* 0 = unbounded (the duration bounds) */
	size_t		 lg_msg_size;	/* bytes per request message */
	unsigned	 lg_connect_burst; /* connects in progress at once */
	size_t		 lg_max_frame;	/* largest server message accepted */
	pid_t		*lg_server_pids; /* -C: whose CPU to measure */
	size_t		 lg_nserver_pids;
	int		 lg_verbose;

	/* The target. */
	struct sockaddr_storage lg_dst;
	socklen_t	 lg_dstlen;

	/* State. */
	int		 lg_epfd;
	enum lg_phase	 lg_phase;
	struct client	*lg_clients;	/* lg_conns of them */
	unsigned	 lg_next_connect; /* next client to start */
	unsigned	 lg_connecting;	/* connects and handshakes in flight */
	unsigned	 lg_open;	/* connections in CLIENT_OPEN */
	unsigned	 lg_opened;	/* connections that ever opened */
	unsigned	 lg_open_end;	/* open at the end of the window */
	uint64_t	 lg_now;	/* mono_nsec() at the top of the loop */
	uint64_t	 lg_t_start;	/* the program started */
	uint64_t	 lg_t_connected; /* connect phase ended */
	uint64_t	 lg_t_window;	/* the measurement window began */
	uint64_t	 lg_t_window_end;
	uint64_t	 lg_hard_deadline;
	uint64_t	 lg_errors[ERR_MAX];
	uint64_t	 lg_frames_in;
	uint64_t	 lg_frames_out;
	uint64_t	 lg_pings;

	/* CPU at the start and end of the window (cpu.c). */
	double		 lg_cpu0_self;
	double		 lg_cpu0_server;
	double		 lg_cpu1_self;
	double		 lg_cpu1_server;
	double		*lg_cpu0_each;	/* per server pid, with descendants */
	double		*lg_cpu1_each;
	struct cpu_cores lg_cores0;	/* the whole machine, to see noise */
	struct cpu_cores lg_cores1;

	/* Server memory before connecting and at the end of the window. */
	struct mem_use	 lg_mem0;
	struct mem_use	 lg_mem1;
	int		 lg_mem_ok;	/* both were read */

	void		*lg_scen_data;
	int		 lg_scen_done;	/* the scenario reached its bound */
};

/* One connection. */
struct client {
	struct loadgen	*c_lg;
	unsigned	 c_id;
	int		 c_fd;
	enum client_state c_state;
	uint32_t	 c_events;	/* what epoll watches */
	uint64_t	 c_t_connect;
	char		 c_accept[32];	/* the Sec-WebSocket-Accept we expect */
	struct dbuf	 c_in;		/* read, not yet parsed */
	struct dbuf	 c_out;		/* to write */
	size_t		 c_out_off;	/* written part of c_out */
	struct dbuf	 c_msg;		/* fragments of a message */
	int		 c_msg_opcode;	/* WS_OP_TEXT/BINARY while fragmented */
	uint32_t	 c_rand;	/* mask generator state */
	void		*c_data;	/* the scenario's */
};

/* loadgen.c */
uint64_t	 mono_nsec(void);
void		 loadgen_error(struct loadgen *, enum lg_error);
int		 loadgen_recording(struct loadgen *);
int		 loadgen_sending(struct loadgen *);
double		 loadgen_window(struct loadgen *);
double		 loadgen_server_cpu(struct loadgen *);

/* client.c */
void		 client_init(struct loadgen *, struct client *, unsigned);
int		 client_start(struct client *);
void		 client_io(struct client *, uint32_t);
int		 client_send(struct client *, int, const void *, size_t);
int		 client_ping(struct client *, const void *, size_t);
void		 client_close(struct client *, uint16_t);
void		 client_kill(struct client *, enum lg_error);
void		 client_free(struct client *);
void		*client_data(struct client *);
void		 client_set_data(struct client *, void *);
struct loadgen	*client_loadgen(struct client *);

/* frame.c: pure functions on RFC 6455 frames. */
int		 frame_parse(const unsigned char *, size_t, struct frame *,
		     const char **);
size_t		 frame_header(unsigned char *, int, int, uint64_t,
		     const unsigned char *);
void		 frame_mask(unsigned char *, size_t, const unsigned char *);
int		 frame_check_server(const struct frame *, const char **);

/* handshake.c */
void		 handshake_key(char *, size_t, uint32_t *);
void		 handshake_accept(const char *, char *, size_t);
int		 handshake_request(struct dbuf *, const char *, const char *,
		     const char *, const char *, const char *);
int		 handshake_response(const unsigned char *, size_t,
		     const char *, size_t *, const char **);
void		 sha1_digest(const void *, size_t, unsigned char *);
size_t		 base64_encode(const unsigned char *, size_t, char *, size_t);

/* hist.c */
void		 hist_reset(struct hist *);
void		 hist_record(struct hist *, uint64_t);
uint64_t	 hist_percentile(const struct hist *, double);
double		 hist_mean(const struct hist *);

/* cpu.c */
double		 cpu_self(void);
double		 cpu_tree(const pid_t *, size_t);
void		 cpu_cores_read(struct cpu_cores *);
int		 cpu_raise_nofile(unsigned);
int		 mem_tree(const pid_t *, size_t, struct mem_use *);

/* echo.c, stream.c, idle.c */
extern const struct scenario scenario_echo;
extern const struct scenario scenario_stream;
extern const struct scenario scenario_idle;

#endif
