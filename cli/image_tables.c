/* The rows of `berth images` and `berth history`, the fields as the docker
 * CLI's formatters compute them (one row per repository:tag, <none> for
 * dangling images, digests on request). Pure functions of the engine's
 * JSON and the current time, so tests/unit/test_cli_format.c checks them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "template.h"

static size_t arr_len(json_object *a) {
  return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static const char *arr_str(json_object *a, size_t i) {
  json_object *v = json_object_array_get_idx(a, i);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Length of prefix when s starts with it, else 0. */
static size_t has_prefix(const char *s, const char *prefix) {
  size_t i = 0;
  for (; prefix[i]; i++)
    if (s[i] != prefix[i])
      return 0;
  return i;
}

/* "docker.io/library/busybox" -> "busybox", "docker.io/x/y" -> "x/y". */
static const char *familiar(const char *repo) {
  size_t k = has_prefix(repo, "docker.io/library/");
  if (k > 0 && repo[k] != '\0') {
    bool nested = false;
    for (const char *p = repo + k; *p; p++)
      nested |= *p == '/';
    if (!nested)
      return repo + k;
  }
  k = has_prefix(repo, "docker.io/");
  return k > 0 && repo[k] != '\0' ? repo + k : repo;
}

/* Splits "repo:tag" (the tag is after the last ':' that follows the last
 * '/': "host:5000/x:1"). Returns false for "<none>:<none>" or no tag. */
static bool split_tag(const char *ref, char **repo, const char **tag) {
  const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
  if (colon == NULL || (slash && colon < slash) || strcmp(ref, "<none>:<none>") == 0 || strchr(ref, '@'))
    return false;
  *repo = strndup(ref, (size_t)(colon - ref));
  *tag = colon + 1;
  return *repo != NULL;
}

static bool split_digest(const char *ref, char **repo, const char **digest) {
  const char *at = strchr(ref, '@');
  if (at == NULL || strcmp(ref, "<none>@<none>") == 0)
    return false;
  *repo = strndup(ref, (size_t)(at - ref));
  *digest = at + 1;
  return *repo != NULL;
}

bool cli_image_dangling(json_object *img) {
  json_object *tags = cli_json_get(img, "RepoTags"), *digests = cli_json_get(img, "RepoDigests");
  if (arr_len(tags) == 0 && arr_len(digests) == 0)
    return true;
  return arr_len(tags) == 1 && strcmp(arr_str(tags, 0) ?: "", "<none>:<none>") == 0 && arr_len(digests) == 1 &&
         strcmp(arr_str(digests, 0) ?: "", "<none>@<none>") == 0;
}

void cli_image_rows(json_object *img, bool show_digests, bool digest_rows, cli_image_row_fn fn, void *ud) {
  if (cli_image_dangling(img)) {
    fn(ud, img, "<none>", "<none>", "<none>");
    return;
  }
  json_object *tags = cli_json_get(img, "RepoTags"), *digests = cli_json_get(img, "RepoDigests");
  size_t nt = arr_len(tags), nd = arr_len(digests);
  bool *digest_used = calloc(nd + 1, sizeof *digest_used);
  bool *tag_done = calloc(nt + 1, sizeof *tag_done);
  if (digest_used == NULL || tag_done == NULL)
    goto out;
  /* Repositories in the order their first tag appears, each with all its tags. */
  for (size_t i = 0; i < nt; i++) {
    char *repo = NULL;
    const char *tag;
    if (tag_done[i] || !split_tag(arr_str(tags, i) ?: "", &repo, &tag))
      continue;
    const char *frepo = familiar(repo);
    for (size_t d = 0; d < nd; d++) { /* digests of this repository: not rows of their own */
      char *drepo = NULL;
      const char *dg;
      if (split_digest(arr_str(digests, d) ?: "", &drepo, &dg) && strcmp(familiar(drepo), frepo) == 0)
        digest_used[d] = true;
      free(drepo);
    }
    for (size_t j = i; j < nt; j++) {
      char *r2 = NULL;
      const char *t2;
      if (tag_done[j] || !split_tag(arr_str(tags, j) ?: "", &r2, &t2))
        continue;
      if (strcmp(familiar(r2), frepo) == 0) {
        tag_done[j] = true;
        bool any = false;
        for (size_t d = 0; show_digests && d < nd; d++) {
          char *drepo = NULL;
          const char *dg;
          if (split_digest(arr_str(digests, d) ?: "", &drepo, &dg) && strcmp(familiar(drepo), frepo) == 0) {
            fn(ud, img, frepo, t2, dg);
            any = true;
          }
          free(drepo);
        }
        if (!any)
          fn(ud, img, frepo, t2, "<none>");
      }
      free(r2);
    }
    free(repo);
  }
  /* Repositories known only by digest. */
  for (size_t d = 0; d < nd; d++) {
    char *drepo = NULL;
    const char *dg;
    if (!digest_used[d] && split_digest(arr_str(digests, d) ?: "", &drepo, &dg)) {
      const char *frepo = familiar(drepo);
      bool seen = false; /* without --digests: one row per repository */
      for (size_t e = 0; !digest_rows && e < d; e++) {
        char *erepo = NULL;
        const char *eg;
        if (!digest_used[e] && split_digest(arr_str(digests, e) ?: "", &erepo, &eg) &&
            strcmp(familiar(erepo), frepo) == 0)
          seen = true;
        free(erepo);
      }
      if (digest_rows)
        fn(ud, img, frepo, "<none>", dg);
      else if (!seen)
        fn(ud, img, frepo, "<none>", "");
    }
    free(drepo);
  }
out:
  free(digest_used);
  free(tag_done);
}

typedef struct {
  bool no_trunc;
  int64_t now;
  cli_row_t *rows;
  size_t n;
  bool oom;
} image_rows_t;

void cli_image_row(json_object *img, const char *repo, const char *tag, const char *digest, bool no_trunc,
                   int64_t now, cli_row_t *row) {
  char id[160], containers[32], created_at[80], since[64], size[32], shared[32], unique[32], virtual[32];
  memset(row, 0, sizeof *row);
  row->type = "*formatter.imageContext";
  const char *full_id = cli_json_str(img, "Id") ?: "";
  if (no_trunc)
    snprintf(id, sizeof id, "%s", full_id);
  else
    cli_truncate_id(full_id, id, sizeof id);
  int64_t n_ctr = cli_json_int(img, "Containers"), sz = cli_json_int(img, "Size"),
          sh = cli_json_int(img, "SharedSize");
  if (n_ctr == -1)
    snprintf(containers, sizeof containers, "N/A");
  else
    snprintf(containers, sizeof containers, "%" PRId64, n_ctr);
  cli_go_time_string(cli_json_int(img, "Created"), created_at, sizeof created_at);
  cli_created_since(cli_json_int(img, "Created"), now, since, sizeof since);
  cli_human_size((double)sz, 3, size, sizeof size);
  cli_human_size((double)sz, 4, virtual, sizeof virtual);
  if (sh == -1)
    snprintf(shared, sizeof shared, "N/A");
  else
    cli_human_size((double)sh, 4, shared, sizeof shared);
  if (sz == -1 || sh == -1)
    snprintf(unique, sizeof unique, "N/A");
  else
    cli_human_size((double)(sz - sh), 4, unique, sizeof unique);
  cli_row_add(row, "Containers", "CONTAINERS", containers);
  cli_row_add(row, "CreatedAt", "CREATED AT", created_at);
  cli_row_add(row, "CreatedSince", "CREATED", since);
  cli_row_add(row, "Digest", "DIGEST", digest);
  cli_row_add(row, "ID", "IMAGE ID", id);
  cli_row_add(row, "Repository", "REPOSITORY", repo);
  cli_row_add(row, "SharedSize", "SHARED SIZE", shared);
  cli_row_add(row, "Size", "SIZE", size);
  cli_row_add(row, "Tag", "TAG", tag);
  cli_row_add(row, "UniqueSize", "UNIQUE SIZE", unique);
  cli_row_add(row, "VirtualSize", "SIZE", virtual);
}

static void add_image_row(void *ud, json_object *img, const char *repo, const char *tag, const char *digest) {
  image_rows_t *ir = ud;
  cli_row_t row;
  cli_image_row(img, repo, tag, digest, ir->no_trunc, ir->now, &row);
  if (ir->oom || cli_rows_push(&ir->rows, &ir->n, &row) < 0) {
    cli_row_clear(&row);
    ir->oom = true;
  }
}

int cli_images_rows(json_object *images, bool need_digest, bool digest_rows, bool no_trunc, int64_t now,
                    cli_row_t **rows, size_t *n) {
  image_rows_t ir = { .no_trunc = no_trunc, .now = now };
  for (size_t i = 0; i < arr_len(images); i++)
    cli_image_rows(json_object_array_get_idx(images, i), need_digest, digest_rows, add_image_row, &ir);
  if (ir.oom) {
    cli_rows_free(ir.rows, ir.n);
    ir.rows = NULL;
    ir.n = 0;
  }
  *rows = ir.rows;
  *n = ir.n;
  return ir.oom ? -1 : 0;
}

void cli_go_time_string(int64_t t, char *buf, size_t len) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (localtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z %Z", &tm) == 0)
    snprintf(buf, len, "%" PRId64, t);
}

void cli_rfc3339_local(int64_t t, char *buf, size_t len) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (localtime_r(&tt, &tm) == NULL) {
    snprintf(buf, len, "%" PRId64, t);
    return;
  }
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  long off = tm.tm_gmtoff;
  if (off == 0)
    snprintf(buf, len, "%sZ", date);
  else
    snprintf(buf, len, "%s%c%02ld:%02ld", date, off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
}

/* Creation times up to 2000-01-01 are shown as "N/A" (docker: images
 * built reproducibly with epoch 0 would say "56 years ago"). */
#define HISTORY_EPOCH INT64_C(946684800)

void cli_history_row(json_object *h, bool human, bool no_trunc, int64_t now, cli_row_t *row) {
  char id[160], created_at[64], since[64], size[32];
  memset(row, 0, sizeof *row);
  row->type = "*image.historyContext";
  const char *full_id = cli_json_str(h, "Id") ?: "";
  if (no_trunc)
    snprintf(id, sizeof id, "%s", full_id);
  else
    cli_truncate_id(full_id, id, sizeof id);
  int64_t c = cli_json_int(h, "Created");
  cli_rfc3339_local(c, created_at, sizeof created_at);
  if (!human)
    snprintf(since, sizeof since, "%s", created_at);
  else if (c <= HISTORY_EPOCH)
    snprintf(since, sizeof since, "N/A");
  else
    cli_created_since(c, now, since, sizeof since);
  if (human)
    cli_human_size((double)cli_json_int(h, "Size"), 3, size, sizeof size);
  else
    snprintf(size, sizeof size, "%" PRId64, cli_json_int(h, "Size"));
  char *by = strdup(cli_json_str(h, "CreatedBy") ?: ""); /* tabs would break the columns */
  for (char *p = by; p && *p; p++)
    if (*p == '\t')
      *p = ' ';
  char *shown = no_trunc || by == NULL ? by : cli_ellipsis(by, 45);
  if (shown != by)
    free(by);
  cli_row_add(row, "Comment", "COMMENT", cli_json_str(h, "Comment") ?: "");
  cli_row_add(row, "CreatedAt", "CREATED AT", created_at);
  cli_row_take(row, "CreatedBy", "CREATED BY", shown);
  cli_row_add(row, "CreatedSince", "CREATED", since);
  cli_row_add(row, "ID", "IMAGE", id);
  cli_row_add(row, "Size", "SIZE", size);
}

int cli_history_rows(json_object *history, bool human, bool no_trunc, int64_t now, cli_row_t **rows, size_t *n) {
  *rows = NULL;
  *n = 0;
  for (size_t i = 0; i < arr_len(history); i++) {
    cli_row_t row;
    cli_history_row(json_object_array_get_idx(history, i), human, no_trunc, now, &row);
    if (cli_rows_push(rows, n, &row) < 0) {
      cli_row_clear(&row);
      cli_rows_free(*rows, *n);
      *rows = NULL;
      *n = 0;
      return -1;
    }
  }
  return 0;
}
