/* Docker image references: grammar, normalisation and familiar form.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*
 *   component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   domain     := host [ ":" port ]   (first component containing "." or ":", or "localhost")
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 lowercase hex
 *
 * Normalisation as Docker does it: no domain -> "docker.io"; a single path
 * component on docker.io -> "library/x"; no tag and no digest -> ":latest".
 * The familiar form drops "docker.io/" and "library/" again:
 *   busybox -> docker.io/library/busybox:latest (familiar "busybox:latest"). */
#pragma once
#include <stdbool.h>
#include "error.h"

#define BERTH_REF_NAME_MAX 255 /* Docker's limit on the whole repository name */

typedef struct {
  char *domain; /* "docker.io", "localhost:5000", ... */
  char *path;   /* "library/busybox" */
  char *tag;    /* NULL when the reference had only a digest */
  char *digest; /* "sha256:<hex>" or NULL */
} berth_ref_t;

/* Parses and normalises s. EINVAL with Docker's wording on a bad one:
 * "invalid reference format", "invalid reference format: repository name must
 * be lowercase", "repository name must not be more than 255 characters". A
 * plain 64-hex string is refused as a repository name like Docker does
 * ("invalid repository name (...), cannot specify 64-byte hexadecimal strings"). */
int berth_ref_parse(const char *s, berth_ref_t *out, berth_error_t *err);
/* Like berth_ref_parse but with no default tag (for "repo" arguments, e.g. tag's target). */
int berth_ref_parse_repo(const char *s, berth_ref_t *out, berth_error_t *err);
void berth_ref_clear(berth_ref_t *r);

/* Is tag a valid tag? */
bool berth_ref_tag_valid(const char *tag);

/* "docker.io/library/busybox" (full repository name), malloc'd. */
char *berth_ref_repo(const berth_ref_t *r);
/* "busybox" / "user/x" / "localhost:5000/x" (familiar repository name), malloc'd. */
char *berth_ref_familiar_repo(const berth_ref_t *r);
/* Full string: "docker.io/library/busybox:latest" ("...@sha256:.." when only a digest). */
char *berth_ref_string(const berth_ref_t *r);
/* Familiar string: "busybox:latest". */
char *berth_ref_familiar(const berth_ref_t *r);
/* Familiar form of a full repository name ("docker.io/library/busybox" -> "busybox"). */
char *berth_ref_familiarise_repo(const char *full_repo);
