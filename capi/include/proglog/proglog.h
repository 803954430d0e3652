/** @file proglog.h
 * The C API of proglog, a distributed commit log.
 *
 * Two objects: a `proglog_node` is an embedded node (what `proglog serve` runs)
 * living in this process: it appends to and reads from its log directly, and
 * serves remote clients on its gRPC port. A `proglog_client` talks to one or
 * more servers over the network. Every language binding wraps this header.
 *
 * Conventions (they hold for every function below):
 * - Fallible functions return an int: PROGLOG_OK (0) or a negative
 *   proglog_code. Out-parameters come first; the last parameter is an optional
 *   `proglog_error **err`: pass NULL to ignore details, or the address of a
 *   NULL pointer to receive an error object on failure (left NULL on success),
 *   which the caller frees with proglog_error_free(). It works from any
 *   thread, so no thread-local state is involved.
 * - Objects the library allocates (handles, records, server lists, errors) are
 *   owned by the caller and released with the matching _free function. Memory
 *   the caller passes in is only borrowed for the duration of the call.
 * - Options are structs with a `version` field first. Initialise them with the
 *   _INIT macro or the _init function; later versions only append fields, so a
 *   program compiled against an older header keeps working.
 * - No C++ exception ever leaves this library; out of memory is
 *   PROGLOG_ENOMEM.
 * - A NULL handle gives PROGLOG_EINVAL; a closed one gives PROGLOG_ECLOSED.
 *
 * Thread-safety: proglog_node and proglog_client are safe to share between
 * threads; any number of calls may run on one handle at once, and _close may
 * race with them (they then fail with PROGLOG_ECLOSED). _free must be the last
 * call on a handle, with no call running on it. A proglog_subscription is used
 * by one thread at a time, except proglog_subscription_cancel, which any
 * thread may call at any time. Records, server lists and errors are immutable
 * and may be read from any thread.
 */
#ifndef PROGLOG_PROGLOG_H_
#define PROGLOG_PROGLOG_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROGLOG_VERSION_MAJOR 0 /**< this header's major version */
#define PROGLOG_VERSION_MINOR 1 /**< this header's minor version */
#define PROGLOG_VERSION_PATCH 0 /**< this header's patch version */

/** Result codes. New codes may be added; treat unknown negative codes as
 * errors. */
typedef enum proglog_code {
  PROGLOG_OK = 0,                /**< success */
  PROGLOG_EINVAL = -1,           /**< bad argument: NULL, empty, oversized, malformed */
  PROGLOG_EOUTOFRANGE = -2,      /**< no record at that offset (yet) */
  PROGLOG_ENOTLEADER = -3,       /**< a follower refused a write; see proglog_error_leader */
  PROGLOG_EUNAVAILABLE = -4,     /**< no server reachable, or the stream's server went away */
  PROGLOG_EPERM = -5,            /**< the ACL refused the request */
  PROGLOG_EUNAUTHENTICATED = -6, /**< TLS peer identity missing or rejected */
  PROGLOG_ETIMEOUT = -7,         /**< the deadline passed */
  PROGLOG_ECANCELLED = -8,       /**< cancelled by the caller */
  PROGLOG_ECLOSED = -9,          /**< the handle was closed */
  PROGLOG_ENOTFOUND = -10,       /**< a file or directory named in the options is missing */
  PROGLOG_EIO = -11,             /**< disk full, corrupt data, or another I/O failure */
  PROGLOG_ENOMEM = -12,          /**< out of memory */
  PROGLOG_EINTERNAL = -13,       /**< a bug or an unexpected server answer */
  PROGLOG_ETOOLARGE = -14,       /**< a record over the maximum record size (the server's,
                                      learned from it; refused before anything is sent, or
                                      by the server); a reply over this client's receive
                                      limit too */
  PROGLOG_EBUSY = -15            /**< the data dir is in use by another node (in this
                                      process or another); stop it or pick another dir */
} proglog_code;

/* ---- Library ---- */

/** "MAJOR.MINOR.PATCH" of the loaded library. Static storage; thread-safe. */
const char* proglog_version(void);

/** A short constant name for a code ("PROGLOG_EOUTOFRANGE"); "unknown" for
 * codes this version does not know. Static storage; thread-safe. */
const char* proglog_code_name(int code);

/* ---- Logging ---- */

/** Levels of log records; the numbers are Python's logging levels. */
typedef enum proglog_log_level {
  PROGLOG_LOG_DEBUG = 10, /**< detail for debugging */
  PROGLOG_LOG_INFO = 20,  /**< what a running node does */
  PROGLOG_LOG_WARN = 30,  /**< a failure the library carries on after */
  PROGLOG_LOG_ERROR = 40  /**< a failure that stops what it hit */
} proglog_log_level;

/** Receives one log record: its level, its message ("TLS handshake failed",
 * "serving plaintext: ...") and `field_count` key/value pairs (for a failed
 * TLS handshake, "reason", "peer" when known, and "grpc_message"). The strings are valid during
 * the call only.
 * @param user_data   the pointer given to proglog_set_log_handler()
 * @param level       a proglog_log_level
 * @param message     the message
 * @param keys        `field_count` field names
 * @param values      `field_count` field values, in the order of `keys`
 * @param field_count entries in `keys` and `values` */
typedef void (*proglog_log_fn)(void* user_data, int level, const char* message,
                               const char* const* keys, const char* const* values,
                               size_t field_count);

/** Sets the handler of the library's log records. The library never writes to
 * stdout or stderr: what its embedded node, its clients and gRPC inside it log
 * goes to the handler set here, or nowhere (the default, and after `fn` NULL).
 * Records at `min_level` or above are delivered in order on one library
 * thread, never the thread that logged, so `fn` may block (take a lock, the
 * Python GIL); it must not call proglog_set_log_handler.
 * Records beyond 4096 undelivered are dropped, and the next one delivered has
 * a "dropped" field counting them; gRPC's own lines pass at most 5 a second.
 * Replaces the previous handler, and returns once no call to the previous one
 * is running, so its user_data may be freed then. The library shares the
 * process's gRPC log function and default spdlog logger, which it takes over
 * when loaded. Thread-safe. */
int proglog_set_log_handler(proglog_log_fn fn, int min_level, void* user_data);

/* ---- Errors ---- */

/** A failure's details: code, message, whether a retry may help. Received through
 * the last parameter of fallible functions; freed with proglog_error_free(). */
typedef struct proglog_error proglog_error;

/** The code of the failure (a negative proglog_code). */
int proglog_error_code(const proglog_error* err);
/** A human-readable message; owned by `err`, valid until proglog_error_free. */
const char* proglog_error_message(const proglog_error* err);
/** 1 if retrying the same call later may succeed (unavailable, timeout, not the
 * leader), else 0. */
int proglog_error_retryable(const proglog_error* err);
/** For PROGLOG_ENOTLEADER: the leader's "host:port" if the server named it,
 * else NULL. Owned by `err`. */
const char* proglog_error_leader(const proglog_error* err);
/** For a failed proglog_client_produce_batch: how many leading records were
 * appended before the failure (their offsets are in the first entries of its
 * out_offsets), so a retry sends only the rest. 0 for every other error. */
size_t proglog_error_written(const proglog_error* err);
/** 1 if the failed call was a produce that may nevertheless have appended its
 * record(s): an attempt reached a server and its answer was lost (the
 * connection broke, the deadline passed, the call was cancelled). Read the log
 * before producing again if a duplicate matters. 0 otherwise. */
int proglog_error_outcome_unknown(const proglog_error* err);
/** Frees an error; NULL is a no-op. */
void proglog_error_free(proglog_error* err);

/* ---- Records ---- */

/** A record read from the log: its bytes and its offset. Freed with
 * proglog_record_free(). */
typedef struct proglog_record proglog_record;

/** The record's bytes; `*len` receives their length (`len` may be NULL). Owned
 * by the record, valid until proglog_record_free. */
const void* proglog_record_value(const proglog_record* record, size_t* len);
/** The record's offset in the log. */
uint64_t proglog_record_offset(const proglog_record* record);
/** Frees a record; NULL is a no-op. */
void proglog_record_free(proglog_record* record);

/* ---- Embedded node ---- */

/** An embedded node; see proglog_node_open(). */
typedef struct proglog_node proglog_node;

/** Version 2 added the cluster fields, version 3 client TLS and the ACL; a
 * caller of an older version gets what that version had (version 1: a single
 * local log, plaintext). */
#define PROGLOG_NODE_OPTIONS_VERSION 3

/** Options of proglog_node_open(). Initialise them with
 * PROGLOG_NODE_OPTIONS_INIT or proglog_node_options_init(). */
typedef struct proglog_node_options {
  unsigned int version;      /**< PROGLOG_NODE_OPTIONS_VERSION */
  const char* data_dir;      /**< required; created if missing */
  const char* node_name;     /**< NULL: the host name; the node's id in the cluster */
  const char* rpc_host;      /**< NULL: "127.0.0.1" */
  int rpc_port;              /**< 0: a free port (see proglog_node_address) */
  uint64_t max_store_bytes;  /**< 0: default (64 MiB) */
  uint64_t max_index_bytes;  /**< 0: default (1 MiB) */
  uint64_t max_record_bytes; /**< 0: default (1 MiB) */
  const char* durability;    /**< `"always"` (NULL), `"never"` or `"interval:<ms>"` */

  /** @name Version 2: clustering
   * Clustering as `proglog serve` runs it (Raft over the log, gossip
   * membership, Raft carried on the RPC port), so an embedded node can
   * bootstrap or join a cluster of `proglog` binaries. The fields below need
   * `cluster` nonzero; set without it they are PROGLOG_EINVAL. */
  /** @{ */
  int cluster;                         /**< nonzero: replicate with Raft and gossip */
  const char* bind_addr;               /**< gossip "ip:port" (port 0: a free one, see
                                            proglog_node_gossip_address); required */
  const char* advertise_host;          /**< host others use for the RPC port; NULL:
                                            rpc_host (required if that is a wildcard) */
  const char* const* start_join_addrs; /**< gossip "ip:port"s of members to join,
                                            retried in the background; may be NULL */
  size_t start_join_addr_count;        /**< entries in start_join_addrs */
  int bootstrap;                       /**< nonzero: start a one-voter cluster when
                                            data_dir is new */
  const char* gossip_key;              /**< base64 as `serf keygen` prints (16, 24 or 32
                                            bytes); NULL: unencrypted gossip */
  int64_t raft_heartbeat_interval_ms;  /**< 0: the library default */
  int64_t raft_election_timeout_ms;    /**< 0: the library default; at least twice the
                                            heartbeat interval */
  const char* peer_tls_cert_file;      /**< mutual TLS for Raft between nodes: PEM
                                            certificate; with the key and CA, all three or
                                            none (NULL: plaintext Raft) */
  const char* peer_tls_key_file;       /**< its PEM private key */
  const char* peer_tls_ca_file;        /**< PEM CA that signs the nodes' certificates */
  /** @} */

  /** @name Version 3: server TLS and ACL
   * What `proglog serve` takes as `--server-tls-*` and `--acl-*`.
   * TLS: all three files or none; with them the RPC port speaks TLS only and
   * requires a client certificate signed by the CA. ACL: both files or none,
   * and only with TLS (it authorizes the client certificate's Common Name).
   * A partial set or a bad file is PROGLOG_EINVAL, before data_dir is made. */
  /** @{ */
  const char* server_tls_cert_file; /**< PEM certificate of the RPC port */
  const char* server_tls_key_file;  /**< its PEM private key */
  const char* server_tls_ca_file;   /**< PEM CA that signs client certificates */
  const char* acl_model_file;       /**< casbin-style model */
  const char* acl_policy_file;      /**< policy lines: `p, <subject>, <object>, <action>` */
  /** @} */
} proglog_node_options;

/** An initializer of a proglog_node_options for this header's version, every other
 * field zero. */
/* clang-format off */
#ifdef __cplusplus
#define PROGLOG_NODE_OPTIONS_INIT {PROGLOG_NODE_OPTIONS_VERSION}
#else /* designated, so -Wextra does not warn about the fields left zero */
#define PROGLOG_NODE_OPTIONS_INIT {.version = PROGLOG_NODE_OPTIONS_VERSION}
#endif
/* clang-format on */

/** Fills `opts` with defaults for `version` (pass PROGLOG_NODE_OPTIONS_VERSION).
 * PROGLOG_EINVAL if `version` is unknown to this library. */
int proglog_node_options_init(proglog_node_options* opts, unsigned int version);

/** Opens the log in opts->data_dir (recovering it after a crash) and starts
 * serving on opts->rpc_host:rpc_port. With opts->cluster it also starts gossip
 * on opts->bind_addr and Raft: it bootstraps a cluster (opts->bootstrap) or
 * joins one through opts->start_join_addrs, and returns without waiting for
 * the join or for a leader. The options and the strings they point to are
 * copied. On success `*out` is a new node the caller frees with
 * proglog_node_free. PROGLOG_EINVAL names the option at fault (a malformed
 * gossip_key, a missing bind_addr, an incomplete set of peer TLS files), and
 * refuses a data_dir written by a node opened the other way (with opts->cluster
 * set, or not): that node's records would be hidden, not read;
 * PROGLOG_EBUSY if another open node uses data_dir. */
int proglog_node_open(proglog_node** out, const proglog_node_options* opts, proglog_error** err);

/** Appends `len` bytes from `value` (borrowed) locally; `*out_offset` gets the
 * record's offset. Blocks until the record is durable per opts->durability
 * (on a cluster node: committed by Raft; a node that is not the leader refuses
 * with PROGLOG_ENOTLEADER, see proglog_error_leader). */
int proglog_node_append(uint64_t* out_offset, proglog_node* node, const void* value, size_t len,
                        proglog_error** err);

/** Reads the record at `offset` locally; the caller frees `*out` with
 * proglog_record_free. PROGLOG_EOUTOFRANGE if there is none. */
int proglog_node_read(proglog_record** out, proglog_node* node, uint64_t offset,
                      proglog_error** err);

/** The "host:port" the node serves on (for a cluster node, as advertised to
 * others). Owned by the node, valid until proglog_node_free (also after
 * close). NULL if `node` is NULL. */
const char* proglog_node_address(const proglog_node* node);

/** The gossip "ip:port" of a cluster node (what other nodes put in their
 * start_join_addrs); "" for a node opened without opts->cluster. Owned by the
 * node, valid until proglog_node_free (also after close). NULL if `node` is
 * NULL. */
const char* proglog_node_gossip_address(const proglog_node* node);

/** Stops serving (in-flight calls finish, streams end) and closes the log.
 * Idempotent; later calls on the node fail with PROGLOG_ECLOSED. */
int proglog_node_close(proglog_node* node, proglog_error** err);

/** Re-reads the ACL files (as `proglog serve` does on SIGHUP). A policy that
 * does not parse is PROGLOG_EINVAL and the policy in force stays;
 * PROGLOG_EINVAL too when the node was opened without an ACL. */
int proglog_node_reload_acl(proglog_node* node, proglog_error** err);

/** Closes the node if still open and frees it. NULL is a no-op. */
void proglog_node_free(proglog_node* node);

/* ---- Client ---- */

/** A client of a cluster; see proglog_client_open(). */
typedef struct proglog_client proglog_client;
/** A stream of the records from an offset on; see proglog_client_subscribe(). */
typedef struct proglog_subscription proglog_subscription;
/** The cluster's servers; see proglog_client_servers(). */
typedef struct proglog_server_list proglog_server_list;

/** Where reads go. Writes always go to the leader, wherever the client was
 * pointed: it learns the cluster from any of its addresses (GetServers), keeps
 * that view fresh, follows leader changes, and retries calls that meet an
 * unreachable server or an election, with exponential backoff and jitter,
 * within the call's deadline and `max_attempts`. A produce retried after its
 * first attempt's answer was lost may append the record twice; a produce that
 * fails after such an attempt says so (proglog_error_outcome_unknown). */
typedef enum proglog_balance_policy {
  PROGLOG_BALANCE_DEFAULT = 0,        /**< the library default: FOLLOWER_READS */
  PROGLOG_BALANCE_FOLLOWER_READS = 1, /**< reads rotate over the followers (the leader
                                           when alone); a follower that has not yet
                                           applied an acknowledged record answers out
                                           of range, and the client then asks the
                                           leader */
  PROGLOG_BALANCE_LEADER = 2,         /**< reads go to the leader too */
  PROGLOG_BALANCE_PINNED = 3          /**< every call goes to the given addresses only, the
                                           first reachable first: no discovery, and a
                                           follower's refusal is PROGLOG_ENOTLEADER naming
                                           the leader, not followed. For talking to one
                                           particular node */
} proglog_balance_policy;
/** The 0.1 name of PROGLOG_BALANCE_FOLLOWER_READS. */
#define PROGLOG_BALANCE_ROUND_ROBIN PROGLOG_BALANCE_FOLLOWER_READS

/** Version 2 added discovery and retry settings. */
#define PROGLOG_CLIENT_OPTIONS_VERSION 2

/** Options of proglog_client_open(). Initialise them with
 * PROGLOG_CLIENT_OPTIONS_INIT or proglog_client_options_init(). */
typedef struct proglog_client_options {
  unsigned int version;         /**< PROGLOG_CLIENT_OPTIONS_VERSION */
  const char* const* addresses; /**< "host:port" of any server(s) of the cluster; required */
  size_t address_count;         /**< at least 1 */
  int64_t timeout_ms;           /**< deadline per call, retries included; 0: the library
                                     default (10000); <0: none */
  int balance_policy;           /**< a proglog_balance_policy */
  int tls;                      /**< nonzero, or any tls_*_file set: TLS for every connection */
  const char* tls_ca_file;      /**< PEM CA bundle; NULL: system roots */
  const char* tls_cert_file;    /**< PEM client certificate (mutual TLS) or NULL */
  const char* tls_key_file;     /**< its PEM private key, or NULL */
  const char* tls_server_name;  /**< name to verify in the server cert, or NULL */

  /** @name Version 2: discovery and retries */
  /** @{ */
  int64_t refresh_interval_ms; /**< how often the server list is refreshed while calls are
                                    made; 0: the library default (10000); <0: only after
                                    failures */
  int max_attempts;            /**< attempts per call, the first included; 0: the library
                                    default (10); 1: never retry */
  int64_t initial_backoff_ms;  /**< first pause between attempts; 0: default (25) */
  int64_t max_backoff_ms;      /**< longest pause; 0: default (1000) */
  /** @} */
} proglog_client_options;

/** An initializer of a proglog_client_options for this header's version, every other
 * field zero. */
/* clang-format off */
#ifdef __cplusplus
#define PROGLOG_CLIENT_OPTIONS_INIT {PROGLOG_CLIENT_OPTIONS_VERSION}
#else /* designated, so -Wextra does not warn about the fields left zero */
#define PROGLOG_CLIENT_OPTIONS_INIT {.version = PROGLOG_CLIENT_OPTIONS_VERSION}
#endif
/* clang-format on */

/** Fills `opts` with defaults for `version`; PROGLOG_EINVAL if unknown. */
int proglog_client_options_init(proglog_client_options* opts, unsigned int version);

/** A cancellation signal for calls made with it (proglog_call_options.cancel):
 * proglog_cancel_trigger, from any thread, makes them return PROGLOG_ECANCELLED
 * promptly (a produce already sent then has an unknown outcome). A token stays
 * triggered; use a new one per call or per group of calls. */
typedef struct proglog_cancel proglog_cancel;

/** Makes a cancellation token; the caller frees `*out` with proglog_cancel_free(). */
int proglog_cancel_new(proglog_cancel** out, proglog_error** err);
/** Cancels the calls using `cancel`, now and later. Any thread; idempotent. */
void proglog_cancel_trigger(proglog_cancel* cancel);
/** Frees the token; no call may be using it. NULL is a no-op. */
void proglog_cancel_free(proglog_cancel* cancel);

/** The version of proglog_call_options this header has. Version 2 added the
 * trace context; a caller of version 1 sends none. */
#define PROGLOG_CALL_OPTIONS_VERSION 2

/** Per-call settings for the _ex functions. NULL options: the client's. */
typedef struct proglog_call_options {
  unsigned int version;   /**< PROGLOG_CALL_OPTIONS_VERSION */
  int64_t timeout_ms;     /**< deadline of this call, retries included; 0: the client's
                               timeout; <0: none */
  proglog_cancel* cancel; /**< NULL: the call is not cancellable */

  /** @name Version 2: trace context
   * The caller's current span in W3C Trace Context form, sent with every
   * attempt of the call as the `traceparent` and `tracestate` gRPC metadata,
   * so the server's span of the call joins the caller's trace as its child
   * (see the README, "Metrics, traces and logs"). The strings are read during
   * the call only. A traceparent that is not version-traceid-spanid-flags
   * (2, 32, 16 and 2 lowercase hex digits, the ids not all zero), a tracestate
   * that is not printable ASCII of at most 512 characters, or a tracestate
   * without a traceparent is PROGLOG_EINVAL naming the field, and nothing is
   * sent. */
  /** @{ */
  const char* traceparent; /**< as "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
                                NULL: none */
  const char* tracestate;  /**< vendor entries passed on unchanged; NULL: none */
  /** @} */
} proglog_call_options;

/** An initializer of a proglog_call_options for this header's version, every other
 * field zero. */
/* clang-format off */
#ifdef __cplusplus
#define PROGLOG_CALL_OPTIONS_INIT {PROGLOG_CALL_OPTIONS_VERSION}
#else
#define PROGLOG_CALL_OPTIONS_INIT {.version = PROGLOG_CALL_OPTIONS_VERSION}
#endif
/* clang-format on */

/** Creates a client. It does not wait for a connection: the first call does.
 * The options and the strings they point to are copied. The caller frees
 * `*out` with proglog_client_free. */
int proglog_client_open(proglog_client** out, const proglog_client_options* opts,
                        proglog_error** err);

/** Appends one record; `*out_offset` gets its offset. */
int proglog_client_produce(uint64_t* out_offset, proglog_client* client, const void* value,
                           size_t len, proglog_error** err);

/** As proglog_client_produce, with per-call options (NULL: the client's). */
int proglog_client_produce_ex(uint64_t* out_offset, proglog_client* client, const void* value,
                              size_t len, const proglog_call_options* call, proglog_error** err);

/** Appends `count` records in order over one stream. `out_offsets` (caller
 * memory, `count` entries) gets their offsets. `values[i]` has `lens[i]`
 * bytes. Every value is checked against the server's maximum record size
 * first: if one is too large, the call fails with PROGLOG_ETOOLARGE and
 * nothing is appended. If the server fails the batch after appending some
 * records, proglog_error_written(*err) tells how many, and their offsets are
 * in out_offsets[0 .. written). */
int proglog_client_produce_batch(uint64_t* out_offsets, proglog_client* client,
                                 const void* const* values, const size_t* lens, size_t count,
                                 proglog_error** err);

/** As proglog_client_produce_batch, with per-call options (NULL: the client's). */
int proglog_client_produce_batch_ex(uint64_t* out_offsets, proglog_client* client,
                                    const void* const* values, const size_t* lens, size_t count,
                                    const proglog_call_options* call, proglog_error** err);

/** Reads the record at `offset`; the caller frees `*out` with
 * proglog_record_free. PROGLOG_EOUTOFRANGE if there is none yet. */
int proglog_client_consume(proglog_record** out, proglog_client* client, uint64_t offset,
                           proglog_error** err);

/** As proglog_client_consume, with per-call options (NULL: the client's). */
int proglog_client_consume_ex(proglog_record** out, proglog_client* client, uint64_t offset,
                              const proglog_call_options* call, proglog_error** err);

/** Starts following the log from `offset` (inclusive). When the server it reads
 * from goes away, the subscription carries on from the next offset on another
 * server (no gap, no duplicate), within the client's max_attempts. Closing the client
 * cancels the subscription (its _next then fails with PROGLOG_ECANCELLED); the
 * subscription may even be freed after the client. The caller frees `*out`
 * with proglog_subscription_free. */
int proglog_client_subscribe(proglog_subscription** out, proglog_client* client, uint64_t offset,
                             proglog_error** err);

/** Waits at most `timeout_ms` (<0: forever) for the next record; the caller
 * frees `*out` with proglog_record_free. PROGLOG_ETIMEOUT if none came (the
 * subscription stays usable), PROGLOG_ECANCELLED after cancel,
 * PROGLOG_EUNAVAILABLE if no server could carry the stream on. */
int proglog_subscription_next(proglog_record** out, proglog_subscription* sub, int64_t timeout_ms,
                              proglog_error** err);

/** Ends the subscription; wakes a blocked _next. Any thread; idempotent. */
void proglog_subscription_cancel(proglog_subscription* sub);

/** Cancels and frees. NULL is a no-op. */
void proglog_subscription_free(proglog_subscription* sub);

/** Lists the cluster's servers, as one of them sees them now, with the leader
 * flagged; the caller frees `*out` with proglog_server_list_free. */
int proglog_client_servers(proglog_server_list** out, proglog_client* client, proglog_error** err);
/** As proglog_client_servers, with per-call options (NULL: the client's). */
int proglog_client_servers_ex(proglog_server_list** out, proglog_client* client,
                              const proglog_call_options* call, proglog_error** err);

/** The number of servers in the list. */
size_t proglog_server_list_count(const proglog_server_list* list);
/** The id (node name) of server `i`; owned by the list. NULL if `i` is out of range. */
const char* proglog_server_list_id(const proglog_server_list* list, size_t i);
/** The "host:port" clients reach server `i` on; owned by the list. NULL if `i` is out of
 * range. */
const char* proglog_server_list_rpc_addr(const proglog_server_list* list, size_t i);
/** 1 if server `i` is the leader, else 0 (also if `i` is out of range). */
int proglog_server_list_is_leader(const proglog_server_list* list, size_t i);
/** Frees the list. NULL is a no-op. */
void proglog_server_list_free(proglog_server_list* list);

/** Cancels the client's subscriptions and closes its idle connections; later
 * calls fail with PROGLOG_ECLOSED.
 * Idempotent; any thread. */
void proglog_client_close(proglog_client* client);

/** Closes and frees. NULL is a no-op. */
void proglog_client_free(proglog_client* client);

#ifdef __cplusplus
}
#endif

#endif /* PROGLOG_PROGLOG_H_ */
