/* POST /containers/{name}/rename?name=NEW: dockerd's checks and messages;
 * 204 on success. */
#include <errno.h>
#include <string.h>
#include "app.h"
#include "ctr_rt.h" /* ctr_from_request */
#include "events.h"
#include "log.h"

void api_handle_ctr_rename(api_request_t *r) {
  const char *new_name = api_request_query(r, "name");
  if (new_name == NULL || new_name[0] == '\0' || (new_name[0] == '/' && new_name[1] == '\0')) {
    api_reply_error(r, 400, "Neither old nor new names may be empty");
    return;
  }
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  api_app_t *app = api_request_userdata(r);
  const char *bare = new_name[0] == '/' ? new_name + 1 : new_name;
  if (!ctr_valid_name(bare)) {
    api_reply_error(r, 400, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", new_name);
    return;
  }
  if (strcmp(bare, c->name) == 0) {
    api_reply_error(r, 400, "Renaming a container with the same name as its current name");
    return;
  }
  char old[129];
  memcpy(old, c->name, sizeof old);
  berth_error_t err = NULL;
  if (ctr_rename(app->ctrs, c, bare, &err) < 0) {
    unsigned st = err->status == EEXIST ? 409 : err->status == EINVAL ? 400 : 500;
    api_reply_error(r, st, "%s", err->msg);
    berth_error_release(&err);
    return;
  }
  log_info("container %s renamed from %s to %s", c->id, old, c->name);
  char old_path[131]; /* dockerd's oldName is the old Name, with its '/' */
  snprintf(old_path, sizeof old_path, "/%s", old);
  api_event_ctr(c, "rename", "oldName", old_path, NULL);
  api_reply(r, 204, NULL, "", 0, NULL);
}
