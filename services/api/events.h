/* GET /events (docker events), as dockerd serves it: every change apid
 * makes to a container or an image is one event, kept in a ring of the
 * last 256 (events_log.h) for ?since= and sent to every subscriber whose
 * filters take it. Each emit point is one call below. */
#pragma once
#include <stdint.h>
#include "app.h"

/* A container event: the attributes are the NULL-terminated name, value
 * pairs given, then the container's labels, "image" and "name" (dockerd's
 * LogContainerEventWithAttributes; a label wins over a given pair). */
void api_event_ctr(const api_ctr_t *c, const char *action, ...) __attribute__((sentinel));
/* An image event (dockerd's LogImageEvent): actor image_id, attribute "name"
 * when name is not NULL. */
void api_event_image(const char *image_id, const char *name, const char *action);
/* berth-imaged's remove report ([{"Untagged": ref} | {"Deleted": id}...]) or
 * prune report ({"ImagesDeleted": [...], "SpaceReclaimed": N}): an "untag"
 * per reference and a "delete" per image, as dockerd's ImageDelete logs
 * them (actor and name: the image id), and "prune" after a prune. */
void api_event_image_report(const char *json);
/* "prune" of type "container" or "image" with attribute reclaimed (no actor id). */
void api_event_prune(const char *type, uint64_t reclaimed);
/* Forgets the kept events (at exit). */
void api_events_shutdown(void);

void api_handle_events(api_request_t *r);
