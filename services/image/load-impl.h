/* Internals of image_load shared by load.c (spooling, verification,
 * unpacking, commit) and load_manifest.c (manifest.json / index.json into a
 * plan). Not for other users. */
#pragma once
#include <json-c/json.h>
#include <stdint.h>
#include "load.h"
#include "store.h"
#include "unpack.h"

/* One member of the outer archive: spooled into tmp/ while hashed, or an
 * alias (symlink or hardlink member) to another member's name. */
typedef struct {
  char *name;                      /* normalised: no "./", no leading or doubled '/' */
  char *alias;                     /* normalised target name, or NULL */
  berth_staged_t file;             /* the content (fd open, O_RDWR) */
  char digest[BERTH_DIGEST_SIZE];  /* sha256 of the content */
  uint64_t size;
} member_t;

typedef struct {
  member_t *v;
  size_t n, cap;
} members_t;

/* One image to load: members already verified against the digests (and
 * sizes) the manifest gave for them, where it gave any. */
typedef struct {
  member_t *config; /* its staged file is consumed (put into the store) */
  member_t **layers; /* base first */
  size_t n_layers;
  char **repo_tags; /* as written in the archive (validated at commit) */
  size_t n_tags;
} plan_image_t;

typedef struct {
  plan_image_t *v;
  size_t n;
} plan_t;

#define LOAD_JSON_MAX (16u << 20) /* manifest, index and config documents */

/* The member stored under name (aliases followed); NULL when absent. */
member_t *load_member_find(const members_t *ms, const char *name);
/* Normalises a member name (dir: the directory a relative link is resolved
 * against, NULL for the archive root). malloc'd. */
char *load_member_name(const char *dir, const char *name);
/* Parses a member as JSON (at most LOAD_JSON_MAX bytes). */
int load_member_json(const member_t *m, const char *what, struct json_object **out, berth_error_t *err);

/* manifest.json (docker-archive, legacy or Docker 25+) into a plan. */
int load_plan_docker(const members_t *ms, const member_t *manifest, plan_t *out, berth_error_t *err);
/* index.json (oci-archive) into a plan. */
int load_plan_oci(const members_t *ms, const member_t *index, plan_t *out, berth_error_t *err);
void load_plan_free(plan_t *p);
