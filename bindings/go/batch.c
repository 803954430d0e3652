// Go may not store Go pointers in C memory, so a batch crosses the cgo boundary
// as one buffer plus lengths, and the array of record pointers is built here.
#include <stdlib.h>

#include <proglog/proglog.h>

int produce_concatenated(uint64_t *out, proglog_client *client, const char *buf,
                         const size_t *lens, size_t count, const proglog_call_options *call,
                         proglog_error **err) {
  const void **values = malloc((count ? count : 1) * sizeof(void *));
  if (values == NULL) return PROGLOG_ENOMEM;
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    values[i] = buf + at;
    at += lens[i];
  }
  int rc = proglog_client_produce_batch_ex(out, client, values, lens, count, call, err);
  free(values);
  return rc;
}
