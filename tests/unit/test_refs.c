/* Docker reference grammar and normalisation (services/image/refs.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "refs.h"
#include "tap.h"

static void norm(const char *in, const char *full, const char *familiar) {
  berth_ref_t r;
  berth_error_t err = NULL;
  if (!tap_ok(berth_ref_parse(in, &r, &err) == 0, "'%s' parses", in)) {
    tap_diag("%s", err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    return;
  }
  char *f = berth_ref_string(&r), *fam = berth_ref_familiar(&r);
  tap_ok(f && strcmp(f, full) == 0, "'%s' -> '%s' (got '%s')", in, full, f ? f : "NULL");
  tap_ok(fam && strcmp(fam, familiar) == 0, "'%s' familiar '%s' (got '%s')", in, familiar, fam ? fam : "NULL");
  free(f);
  free(fam);
  berth_ref_clear(&r);
}

static void bad(const char *in, const char *msg) {
  berth_ref_t r;
  berth_error_t err = NULL;
  int rc = berth_ref_parse(in, &r, &err);
  tap_ok(rc < 0 && err && err->status == EINVAL, "'%s' refused with EINVAL", in);
  if (msg != NULL)
    tap_ok(err && err->msg && strcmp(err->msg, msg) == 0, "'%s': '%s' (got '%s')", in, msg,
           err && err->msg ? err->msg : "NULL");
  if (rc == 0)
    berth_ref_clear(&r);
  berth_error_release(&err);
}

int main(void) {
  const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char withdigest[200], withdigest_full[200], withdigest_fam[200];

  norm("busybox", "docker.io/library/busybox:latest", "busybox:latest");
  norm("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36");
  norm("library/busybox", "docker.io/library/busybox:latest", "busybox:latest");
  norm("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest");
  norm("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest");
  norm("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest");
  norm("user/app:v1", "docker.io/user/app:v1", "user/app:v1");
  norm("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest");
  norm("localhost/app", "localhost/app:latest", "localhost/app:latest");
  norm("localhost:5000/app:Tag_1.x-y", "localhost:5000/app:Tag_1.x-y", "localhost:5000/app:Tag_1.x-y");
  norm("quay.io/org/sub/app", "quay.io/org/sub/app:latest", "quay.io/org/sub/app:latest");
  norm("Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com/app:latest");
  norm("a__b-c---d/f_g.h", "docker.io/a__b-c---d/f_g.h:latest", "a__b-c---d/f_g.h:latest");
  bad("a__b.c/x", "invalid reference format"); /* a dot makes the first component a domain */
  norm("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000");
  snprintf(withdigest, sizeof(withdigest), "busybox@%s", d);
  snprintf(withdigest_full, sizeof(withdigest_full), "docker.io/library/busybox@%s", d);
  snprintf(withdigest_fam, sizeof(withdigest_fam), "busybox@%s", d);
  norm(withdigest, withdigest_full, withdigest_fam);
  snprintf(withdigest, sizeof(withdigest), "busybox:1@%s", d);
  snprintf(withdigest_full, sizeof(withdigest_full), "docker.io/library/busybox:1@%s", d);
  snprintf(withdigest_fam, sizeof(withdigest_fam), "busybox:1@%s", d);
  norm(withdigest, withdigest_full, withdigest_fam);

  bad("Busybox", "invalid reference format: repository name must be lowercase");
  bad("user/App", "invalid reference format: repository name must be lowercase");
  bad("", "invalid reference format");
  bad("busybox:", "invalid reference format");
  bad(":tag", "invalid reference format");
  bad("busy box", "invalid reference format");
  bad("-busybox", "invalid reference format");
  bad("busybox-", "invalid reference format");
  bad("busy..box", "invalid reference format");
  bad("busy___box", "invalid reference format");
  bad("a//b", "invalid reference format");
  bad("a/b/", "invalid reference format");
  bad("busybox:-tag", "invalid reference format");
  bad("busybox:tag/x", "invalid reference format");
  bad("busybox@sha256:abc", "invalid reference format");
  bad("busybox@md5:0123456789abcdef0123456789abcdef", "invalid reference format");
  bad("-host.com/app", "invalid reference format");
  bad("host.com:/app", "invalid reference format");
  bad("host.com:12a/app", "invalid reference format");
  bad("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL);
  {
    char tag[140] = "busybox:";
    memset(tag + 8, 'a', 129);
    tag[8 + 129] = '\0';
    bad(tag, "invalid reference format");
    tag[8 + 128] = '\0';
    berth_ref_t t;
    tap_ok(berth_ref_parse(tag, &t, NULL) == 0, "a 128-character tag is valid");
    berth_ref_clear(&t);
  }
  {
    char name[300];
    memset(name, 'a', 256);
    name[256] = '\0';
    bad(name, "repository name must not be more than 255 characters");
  }

  /* repo-only parsing (tag targets) has no default tag */
  berth_ref_t r;
  tap_ok(berth_ref_parse_repo("busybox", &r, NULL) == 0 && r.tag == NULL, "parse_repo: no default tag");
  berth_ref_clear(&r);

  tap_ok(berth_ref_tag_valid("latest") && berth_ref_tag_valid("_x") && !berth_ref_tag_valid(".x") &&
             !berth_ref_tag_valid(""),
         "tag grammar");
  char *f = berth_ref_familiarise_repo("docker.io/library/busybox");
  tap_ok(f && strcmp(f, "busybox") == 0, "familiarise docker.io/library/busybox");
  free(f);
  f = berth_ref_familiarise_repo("docker.io/library/a/b");
  tap_ok(f && strcmp(f, "library/a/b") == 0, "familiarise keeps library/ with more components");
  free(f);
  return tap_done();
}
