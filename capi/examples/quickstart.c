/* Embeds a node, appends and reads locally, then produces, consumes and tails
 * through a client. Usage: quickstart [data-dir] */
#include <proglog/proglog.h>
#include <stdio.h>
#include <stdlib.h>

/* Takes &err: C leaves the order of argument evaluation open, so `err` itself
 * could be read before the call that sets it. */
static void check(int rc, proglog_error **err, const char *what) {
  if (rc == PROGLOG_OK) return;
  fprintf(stderr, "%s failed: %s: %s\n", what, proglog_code_name(rc),
          proglog_error_message(*err));
  proglog_error_free(*err);
  exit(1);
}

int main(int argc, char **argv) {
  proglog_error *err = NULL;
  proglog_node_options node_opts = PROGLOG_NODE_OPTIONS_INIT;
  node_opts.data_dir = argc > 1 ? argv[1] : "proglog-data";
  proglog_node *node = NULL;
  check(proglog_node_open(&node, &node_opts, &err), &err, "node open");

  uint64_t offset = 0;
  check(proglog_node_append(&offset, node, "hello", 5, &err), &err, "append");
  proglog_record *record = NULL;
  check(proglog_node_read(&record, node, offset, &err), &err, "read");
  size_t len = 0;
  const char *value = proglog_record_value(record, &len);
  printf("read %.*s at %llu\n", (int)len, value, (unsigned long long)offset);
  proglog_record_free(record);

  /* A client reaches the same node over gRPC. */
  const char *addresses[] = {proglog_node_address(node)};
  proglog_client_options client_opts = PROGLOG_CLIENT_OPTIONS_INIT;
  client_opts.addresses = addresses;
  client_opts.address_count = 1;
  proglog_client *client = NULL;
  check(proglog_client_open(&client, &client_opts, &err), &err, "client open");
  check(proglog_client_produce(&offset, client, "world", 5, &err), &err, "produce");
  check(proglog_client_consume(&record, client, offset, &err), &err, "consume");
  value = proglog_record_value(record, &len);
  printf("consumed %.*s at %llu\n", (int)len, value, (unsigned long long)offset);
  proglog_record_free(record);

  /* Reading past the end is an error code with a message, not a crash. */
  int rc = proglog_client_consume(&record, client, offset + 1, &err);
  printf("past the end: %s (%s)\n", proglog_code_name(rc), proglog_error_message(err));
  proglog_error_free(err);
  err = NULL;

  /* Follow the log from the first record of this run. */
  proglog_subscription *sub = NULL;
  check(proglog_client_subscribe(&sub, client, offset - 1, &err), &err, "subscribe");
  for (int i = 0; i < 2; i++) {
    check(proglog_subscription_next(&record, sub, 5000, &err), &err, "next");
    value = proglog_record_value(record, &len);
    printf("streamed %.*s at %llu\n", (int)len, value,
           (unsigned long long)proglog_record_offset(record));
    proglog_record_free(record);
  }
  proglog_subscription_free(sub);

  proglog_client_free(client);
  check(proglog_node_close(node, &err), &err, "node close");
  proglog_node_free(node);
  return 0;
}
