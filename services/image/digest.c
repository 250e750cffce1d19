/* sha256 digests ("sha256:<hex>") and OCI chain ids, on OpenSSL's EVP. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "store.h"

struct berth_sha256 {
  EVP_MD_CTX *ctx;
};

berth_sha256_t *berth_sha256_new(void) {
  berth_sha256_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(h->ctx);
    free(h);
    return NULL;
  }
  return h;
}

void berth_sha256_update(berth_sha256_t *h, const void *buf, size_t len) {
  if (len > 0)
    EVP_DigestUpdate(h->ctx, buf, len);
}

static void to_digest(const unsigned char *md, char out[BERTH_DIGEST_SIZE]) {
  static const char hex[] = "0123456789abcdef";
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++) {
    out[7 + 2 * i] = hex[md[i] >> 4];
    out[8 + 2 * i] = hex[md[i] & 15];
  }
  out[BERTH_DIGEST_LEN] = '\0';
}

void berth_sha256_final(berth_sha256_t *h, char out[BERTH_DIGEST_SIZE]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(h->ctx, md, &n);
  to_digest(md, out);
  berth_sha256_free(h);
}

void berth_sha256_free(berth_sha256_t *h) {
  if (h == NULL)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

void berth_sha256_buf(const void *buf, size_t len, char out[BERTH_DIGEST_SIZE]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
  to_digest(md, out);
}

bool berth_digest_valid(const char *s) {
  if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != BERTH_DIGEST_LEN)
    return false;
  for (const char *p = s + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

void berth_chain_id(const char *parent_chain, const char *diff_id, char out[BERTH_DIGEST_SIZE]) {
  if (parent_chain == NULL) {
    snprintf(out, BERTH_DIGEST_SIZE, "%s", diff_id);
    return;
  }
  char buf[2 * BERTH_DIGEST_SIZE + 1];
  int n = snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
  berth_sha256_buf(buf, (size_t)n, out);
}
