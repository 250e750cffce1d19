/* The tables of `berth images` and `berth history`, built the way the
 * docker CLI's formatters build them (one row per repository:tag, <none>
 * for dangling images, digests on request). Pure functions of the engine's
 * JSON and the current time, so tests/unit/test_cli_format.c checks them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

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

void cli_image_rows(json_object *img, bool show_digests, cli_image_row_fn fn, void *ud) {
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
      for (size_t e = 0; !show_digests && e < d; e++) {
        char *erepo = NULL;
        const char *eg;
        if (!digest_used[e] && split_digest(arr_str(digests, e) ?: "", &erepo, &eg) &&
            strcmp(familiar(erepo), frepo) == 0)
          seen = true;
        free(erepo);
      }
      if (show_digests)
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
  cli_table_t *t;
  bool digests, no_trunc;
  int64_t now;
} images_table_t;

static void add_image_row(void *ud, json_object *img, const char *repo, const char *tag, const char *digest) {
  images_table_t *it = ud;
  char id[160], created[64], size[32];
  const char *full_id = cli_json_str(img, "Id") ?: "";
  if (it->no_trunc)
    snprintf(id, sizeof id, "%s", full_id);
  else
    cli_truncate_id(full_id, id, sizeof id);
  cli_created_since(cli_json_int(img, "Created"), it->now, created, sizeof created);
  cli_human_size((double)cli_json_int(img, "Size"), 3, size, sizeof size);
  if (it->digests) {
    const char *row[] = { repo, tag, digest, id, created, size };
    cli_table_add(it->t, row);
  } else {
    const char *row[] = { repo, tag, id, created, size };
    cli_table_add(it->t, row);
  }
}

cli_table_t *cli_images_table(json_object *images, bool digests, bool no_trunc, int64_t now) {
  static const char *const headers[] = { "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE" };
  static const char *const headers_digest[] = { "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE" };
  images_table_t it = {
    .t = digests ? cli_table_new(6, headers_digest) : cli_table_new(5, headers),
    .digests = digests,
    .no_trunc = no_trunc,
    .now = now,
  };
  cli_table_set_minwidth(it.t, 10);
  for (size_t i = 0; i < arr_len(images); i++)
    cli_image_rows(json_object_array_get_idx(images, i), digests, add_image_row, &it);
  return it.t;
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

/* Creation times up to 2000-01-01 are shown as nothing (docker: images
 * built reproducibly with epoch 0 would say "56 years ago"). */
#define HISTORY_EPOCH INT64_C(946684800)

cli_table_t *cli_history_table(json_object *history, bool human, bool no_trunc, int64_t now) {
  static const char *const headers[] = { "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT" };
  static const char *const headers_raw[] = { "IMAGE", "CREATED AT", "CREATED BY", "SIZE", "COMMENT" };
  cli_table_t *t = cli_table_new(5, human ? headers : headers_raw);
  cli_table_set_minwidth(t, 10);
  for (size_t i = 0; i < arr_len(history); i++) {
    json_object *h = json_object_array_get_idx(history, i);
    char id[160], created[64], size[32];
    const char *full_id = cli_json_str(h, "Id") ?: "";
    if (no_trunc)
      snprintf(id, sizeof id, "%s", full_id);
    else
      cli_truncate_id(full_id, id, sizeof id);
    int64_t c = cli_json_int(h, "Created");
    if (!human)
      cli_rfc3339_local(c, created, sizeof created);
    else if (c <= HISTORY_EPOCH)
      created[0] = '\0';
    else
      cli_created_since(c, now, created, sizeof created);
    if (human)
      cli_human_size((double)cli_json_int(h, "Size"), 3, size, sizeof size);
    else
      snprintf(size, sizeof size, "%" PRId64, cli_json_int(h, "Size"));
    /* Tabs would break the columns. */
    char *by = strdup(cli_json_str(h, "CreatedBy") ?: "");
    for (char *p = by; p && *p; p++)
      if (*p == '\t')
        *p = ' ';
    char *shown = no_trunc || by == NULL ? NULL : cli_ellipsis(by, 45);
    const char *row[] = { id, created, shown ? shown : (by ? by : ""), size, cli_json_str(h, "Comment") ?: "" };
    cli_table_add(t, row);
    free(shown);
    free(by);
  }
  return t;
}
