/* Container names (Docker's "adjective_surname" form and its name rule) and
 * the texts `docker ps` / `docker inspect` show for states and times. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "ctr.h"

static const char *const adjectives[] = {
    "admiring", "agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "charming",
    "cheerful", "clever", "cool", "curious", "daring", "dazzling", "determined", "eager", "elated", "elegant",
    "epic", "fervent", "festive", "focused", "friendly", "gallant", "gentle", "gifted", "happy", "hopeful",
    "humble", "inspiring", "jolly", "keen", "kind", "lively", "loving", "lucid", "merry", "modest",
    "nifty", "nimble", "patient", "peaceful", "practical", "quirky", "relaxed", "serene", "sharp", "silly",
    "stoic", "sweet", "tender", "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "wizardly", "zealous",
};

static const char *const surnames[] = {
    "agnesi", "allen", "archimedes", "babbage", "bardeen", "bartik", "bell", "bohr", "boole", "borg",
    "cannon", "carson", "cerf", "chandrasekhar", "curie", "darwin", "dijkstra", "einstein", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton",
    "hawking", "heisenberg", "hertz", "hodgkin", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr",
    "lamport", "leakey", "liskov", "lovelace", "maxwell", "mayer", "mcclintock", "meitner", "mendel", "mirzakhani",
    "morse", "newton", "noether", "pascal", "pasteur", "perlman", "planck", "poincare", "ritchie", "sammet",
    "shannon", "sinoussi", "tesla", "thompson", "torvalds", "turing", "volhard", "wilson", "wing", "yalow",
};

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static unsigned rnd(unsigned n) {
  unsigned v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
    v = (unsigned)clock() ^ (unsigned)time(NULL);
  return v % n;
}

int ctr_generate_name(ctr_registry_t *reg, char out[129]) {
  /* As dockerd: plain names first, then with a digit, then wider suffixes. */
  for (unsigned attempt = 0; attempt < 200; attempt++) {
    int n = snprintf(out, 129, "%s_%s", adjectives[rnd(LEN(adjectives))], surnames[rnd(LEN(surnames))]);
    if (attempt >= 6)
      snprintf(out + n, (size_t)(129 - n), "%u", rnd(attempt < 50 ? 10 : 100000));
    if (!ctr_name_in_use(reg, out))
      return 0;
  }
  return -1;
}

bool ctr_valid_name(const char *name) {
  if (name == NULL)
    return false;
  if (name[0] == '/')
    name++;
  size_t len = strlen(name);
  if (len < 2 || len > 128)
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = name[i];
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
      return false;
  }
  return true;
}

const char *ctr_status_name(ctr_status_t s) {
  switch (s) {
  case CTR_CREATED: return "created";
  case CTR_RUNNING: return "running";
  case CTR_EXITED: return "exited";
  case CTR_REMOVING: return "removing";
  }
  return "dead";
}

/* go-units HumanDuration. */
static void human_duration(int64_t ns, char *out, size_t size) {
  int64_t s = ns / 1000000000;
  int64_t minutes = s / 60;
  int64_t hours = (ns + 1800000000000LL) / 3600000000000LL; /* rounded, as d.Hours()+0.5 */
  if (s < 1)
    snprintf(out, size, "Less than a second");
  else if (s == 1)
    snprintf(out, size, "1 second");
  else if (s < 60)
    snprintf(out, size, "%lld seconds", (long long)s);
  else if (minutes == 1)
    snprintf(out, size, "About a minute");
  else if (minutes < 60)
    snprintf(out, size, "%lld minutes", (long long)minutes);
  else if (hours == 1)
    snprintf(out, size, "About an hour");
  else if (hours < 48)
    snprintf(out, size, "%lld hours", (long long)hours);
  else if (hours < 24 * 7 * 2)
    snprintf(out, size, "%lld days", (long long)(hours / 24));
  else if (hours < 24 * 30 * 2)
    snprintf(out, size, "%lld weeks", (long long)(hours / 24 / 7));
  else if (hours < 24 * 365 * 2)
    snprintf(out, size, "%lld months", (long long)(hours / 24 / 30));
  else
    snprintf(out, size, "%lld years", (long long)(s / 3600 / 24 / 365));
}

void ctr_status_text(const api_ctr_t *c, int64_t now_ns, char *out, size_t size) {
  char d[64];
  switch (c->status) {
  case CTR_RUNNING:
    human_duration(now_ns - c->started_ns, d, sizeof d);
    snprintf(out, size, "Up %s", d);
    return;
  case CTR_REMOVING:
    snprintf(out, size, "Removal In Progress");
    return;
  case CTR_CREATED:
    snprintf(out, size, "Created");
    return;
  case CTR_EXITED:
    if (c->started_ns == 0) {
      snprintf(out, size, "Created");
    } else if (c->finished_ns == 0) {
      snprintf(out, size, "%s", "");
    } else {
      human_duration(now_ns - c->finished_ns, d, sizeof d);
      snprintf(out, size, "Exited (%d) %s ago", c->exit_code, d);
    }
    return;
  }
  snprintf(out, size, "Dead");
}

void ctr_time_text(int64_t ns, char out[40]) {
  if (ns <= 0) {
    snprintf(out, 40, "0001-01-01T00:00:00Z");
    return;
  }
  time_t s = (time_t)(ns / 1000000000);
  long frac = (long)(ns % 1000000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
  if (frac) { /* Go's RFC3339Nano: trailing zeros of the fraction dropped */
    char f[16];
    snprintf(f, sizeof f, ".%09ld", frac);
    size_t fl = strlen(f);
    while (f[fl - 1] == '0')
      f[--fl] = '\0';
    snprintf(out + n, 40 - n, "%sZ", f);
  } else {
    snprintf(out + n, 40 - n, "Z");
  }
}
