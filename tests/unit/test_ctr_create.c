/* Placeholder while the real test is written (replaced in the next commit). */
#include "ctr.h"
#include "tap.h"
int main(void) {
  tap_ok(ctr_valid_name("ab"), "placeholder");
  return tap_done();
}
