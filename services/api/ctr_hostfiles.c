/* The container's /etc/hosts and /etc/resolv.conf, as libnetwork writes
 * them: with the host network, the host's own files (unless entries were
 * asked for); otherwise Docker's default hosts lines plus ExtraHosts, and the
 * host's resolv.conf without loopback nameservers (unreachable from a private
 * network namespace; Docker's fallback to public resolvers is pointless
 * offline, so none are added) or the Dns/DnsSearch/DnsOptions asked for. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr_internal.h"
#include "ctr_json.h"

static bool ip_valid(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool word_valid(const char *s, size_t max) {
  return s[0] != '\0' && strlen(s) <= max && strpbrk(s, " \t\r\n#;") == NULL;
}

int ctr_check_dns(struct json_object *hc, berth_error_t *err) {
  struct json_object *dns = ctrj_get(hc, "Dns"), *search = ctrj_get(hc, "DnsSearch");
  struct json_object *opts = ctrj_get(hc, "DnsOptions"), *extra = ctrj_get(hc, "ExtraHosts");
  if (ctrj_len(dns) > 16 || ctrj_len(search) > 16 || ctrj_len(opts) > 32 || ctrj_len(extra) > 1024)
    return berth_error_make(err, EINVAL, "too many Dns, DnsSearch, DnsOptions or ExtraHosts entries");
  for (size_t i = 0; i < ctrj_len(dns); i++)
    if (!ip_valid(ctrj_idx_str(dns, i)))
      return berth_error_make(err, EINVAL, "%s is not an ip address", ctrj_idx_str(dns, i));
  for (size_t i = 0; i < ctrj_len(search); i++)
    if (!word_valid(ctrj_idx_str(search, i), 253))
      return berth_error_make(err, EINVAL, "%s is not a valid domain", ctrj_idx_str(search, i));
  for (size_t i = 0; i < ctrj_len(opts); i++)
    if (!word_valid(ctrj_idx_str(opts, i), 255))
      return berth_error_make(err, EINVAL, "invalid DNS option: \"%s\"", ctrj_idx_str(opts, i));
  for (size_t i = 0; i < ctrj_len(extra); i++) {
    const char *e = ctrj_idx_str(extra, i);
    const char *colon = strchr(e, ':');
    if (colon == NULL || colon == e || (size_t)(colon - e) > 253)
      return berth_error_make(err, EINVAL, "bad format for add-host: \"%s\"", e);
    char name[254];
    snprintf(name, sizeof name, "%.*s", (int)(colon - e), e);
    if (!word_valid(name, 253))
      return berth_error_make(err, EINVAL, "bad format for add-host: \"%s\"", e);
    if (strcmp(colon + 1, "host-gateway") == 0)
      return berth_error_make(err, EINVAL, "add-host %s:host-gateway: not supported by berth yet", name);
    if (!ip_valid(colon + 1))
      return berth_error_make(err, EINVAL, "invalid IP address in add-host: \"%s\"", colon + 1);
  }
  return 0;
}

typedef struct {
  char *buf;
  size_t len, cap;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *nb = realloc(b->buf, cap);
    if (nb == NULL)
      return; /* leaves the text short: the executor's size check still holds */
    b->buf = nb;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

static void puts_(sbuf_t *b, const char *s) {
  put(b, s, strlen(s));
}

static char *done(sbuf_t *b) {
  return b->buf ? b->buf : strdup("");
}

char *ctr_hosts_text(struct json_object *config, struct json_object *hc, const ctr_host_t *host) {
  struct json_object *extra = ctrj_get(hc, "ExtraHosts");
  sbuf_t b = {0};
  if (strcmp(ctrj_str_or(hc, "NetworkMode", ""), "host") == 0 && ctrj_len(extra) == 0) {
    puts_(&b, host->hosts ? host->hosts : "");
    return done(&b);
  }
  static const char *const defaults[] = {
      "127.0.0.1\tlocalhost\n", "::1\tlocalhost ip6-localhost ip6-loopback\n", "fe00::0\tip6-localnet\n",
      "ff00::0\tip6-mcastprefix\n", "ff02::1\tip6-allnodes\n", "ff02::2\tip6-allrouters\n",
  };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    puts_(&b, defaults[i]);
  for (size_t i = 0; i < ctrj_len(extra); i++) {
    const char *e = ctrj_idx_str(extra, i), *colon = strchr(e, ':');
    if (colon == NULL)
      continue;
    puts_(&b, colon + 1);
    puts_(&b, "\t");
    put(&b, e, (size_t)(colon - e));
    puts_(&b, "\n");
  }
  /* The "IP\thostname" line follows once the container has an address
   * on a network (a later issue); loopback-only has none. */
  (void)config;
  return done(&b);
}

/* "nameserver X" with X in 127.0.0.0/8 or ::1. */
static bool loopback_nameserver(const char *line, size_t n) {
  char tmp[256];
  if (n >= sizeof tmp)
    return false;
  memcpy(tmp, line, n);
  tmp[n] = '\0';
  char word[16], addr[128];
  if (sscanf(tmp, " %15s %127s", word, addr) != 2 || strcmp(word, "nameserver") != 0)
    return false;
  return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

static bool is_key_line(const char *line, size_t n, const char *key) {
  size_t k = strlen(key);
  while (n && (*line == ' ' || *line == '\t')) {
    line++;
    n--;
  }
  return n > k && strncmp(line, key, k) == 0 && (line[k] == ' ' || line[k] == '\t');
}

/* The host's file without loopback nameservers; *nservers counts the rest. */
static void filter_resolv(const char *text, sbuf_t *b, int *nservers) {
  *nservers = 0;
  for (const char *p = text ? text : ""; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (!loopback_nameserver(p, n)) {
      if (is_key_line(p, n, "nameserver"))
        (*nservers)++;
      put(b, p, n);
      puts_(b, "\n");
    }
    p += n + (nl ? 1 : 0);
  }
}

/* Values of "key a b c" lines of text (the last search line, every nameserver). */
static void collect(const char *text, const char *key, sbuf_t *out) {
  for (const char *p = text ? text : ""; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (is_key_line(p, n, key) && !(strcmp(key, "nameserver") == 0 && loopback_nameserver(p, n))) {
      const char *v = p + strspn(p, " \t") + strlen(key);
      size_t vn = n - (size_t)(v - p);
      if (strcmp(key, "nameserver") != 0)
        out->len = 0; /* the last search/options line wins, as the resolver reads it */
      put(out, v, vn);
      puts_(out, "\n");
    }
    p += n + (nl ? 1 : 0);
  }
}

char *ctr_resolv_text(struct json_object *hc, const ctr_host_t *host) {
  struct json_object *dns = ctrj_get(hc, "Dns"), *search = ctrj_get(hc, "DnsSearch");
  struct json_object *opts = ctrj_get(hc, "DnsOptions");
  bool host_net = strcmp(ctrj_str_or(hc, "NetworkMode", ""), "host") == 0;
  bool custom = ctrj_len(dns) || ctrj_len(search) || ctrj_len(opts);
  const char *base = host->resolv_conf ? host->resolv_conf : "";
  sbuf_t b = {0};
  if (host_net && !custom) {
    puts_(&b, base);
    return done(&b);
  }
  int n = 0;
  filter_resolv(base, &b, &n);
  if (n == 0 && host->resolv_conf_alt) { /* systemd-resolved's stub: use its upstream list */
    free(b.buf);
    b = (sbuf_t){0};
    base = host->resolv_conf_alt;
    filter_resolv(base, &b, &n);
  }
  if (!custom)
    return done(&b);
  free(b.buf);
  b = (sbuf_t){0};
  /* resolvconf.Build: search, nameservers, options; the host's where none were asked for. */
  sbuf_t hs = {0}, hn = {0}, ho = {0};
  collect(base, "search", &hs);
  collect(base, "nameserver", &hn);
  collect(base, "options", &ho);
  if (ctrj_len(search)) {
    puts_(&b, "search");
    for (size_t i = 0; i < ctrj_len(search); i++) {
      puts_(&b, " ");
      puts_(&b, ctrj_idx_str(search, i));
    }
    puts_(&b, "\n");
  } else if (hs.buf) {
    puts_(&b, "search");
    puts_(&b, hs.buf);
  }
  if (ctrj_len(dns)) {
    for (size_t i = 0; i < ctrj_len(dns); i++) {
      puts_(&b, "nameserver ");
      puts_(&b, ctrj_idx_str(dns, i));
      puts_(&b, "\n");
    }
  } else {
    for (const char *p = hn.buf ? hn.buf : ""; *p;) {
      const char *nl = strchr(p, '\n');
      puts_(&b, "nameserver");
      put(&b, p, (size_t)(nl - p) + 1);
      p = nl + 1;
    }
  }
  if (ctrj_len(opts)) {
    puts_(&b, "options");
    for (size_t i = 0; i < ctrj_len(opts); i++) {
      puts_(&b, " ");
      puts_(&b, ctrj_idx_str(opts, i));
    }
    puts_(&b, "\n");
  } else if (ho.buf) {
    puts_(&b, "options");
    puts_(&b, ho.buf);
  }
  free(hs.buf);
  free(hn.buf);
  free(ho.buf);
  return done(&b);
}
