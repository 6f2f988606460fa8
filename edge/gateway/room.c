/* room.c: the rooms index of a namespace (gw.h).
 *
 * Per namespace a map room name -> members (sid -> socket); per socket the
 * array of its rooms, so leaving everything on disconnect is O(rooms of
 * the socket). A socket's own sid room is implicit: emit/join/leave code
 * resolves a room name that is a socket sid to that socket (socket.c).
 * Empty rooms are deleted.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "edge/gateway/gw.h"
#include "base/vec.h"

void gw_room_free(struct gw_room *r)
{
    sio_map_clear(&r->members);
    free(r->name);
    free(r);
}

struct gw_room *gw_room_get(struct gw_nsp *n, const char *name, size_t len, bool create)
{
    struct gw_room *r = sio_map_get(&n->rooms, name, len);
    if (r || !create)
        return r;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (GW_METRICS(n->t))
        GW_M_ADD(n->t, rooms, 1);
    r->name = malloc(len + 1);
    if (r->name) {
        memcpy(r->name, name, len);
        r->name[len] = 0;
    }
    r->name_len = len;
    sio_map_init(&r->members);
    if (!r->name || sio_map_put(&n->rooms, name, len, r) < 0) {
        free(r->name);
        free(r);
        return NULL;
    }
    return r;
}

int gw_room_join(struct gw_sock *s, const char *name, size_t len)
{
    struct gw_room *r = gw_room_get(s->nsp, name, len, true);
    if (!r)
        return -ENOMEM;
    if (sio_map_get(&r->members, s->sid, GW_SID_LEN))
        return 0;
    if (SIO_VEC_ROOM(s->rooms, s->nrooms, s->roomcap, 4) < 0)
        return -ENOMEM;
    if (sio_map_put(&r->members, s->sid, GW_SID_LEN, s) < 0)
        return -ENOMEM;
    s->rooms[s->nrooms++] = r;
    if (s->sess->t->admin_watch && s->connected)
        gw_admin_room(s, name, len, true);
    return 0;
}

static void drop(struct gw_sock *s, size_t i)
{
    struct gw_room *r = s->rooms[i];
    if (s->sess->t->admin_watch && s->connected)
        gw_admin_room(s, r->name, r->name_len, false);
    sio_map_del(&r->members, s->sid, GW_SID_LEN);
    s->rooms[i] = s->rooms[--s->nrooms];
    if (r->members.n == 0) {
        if (GW_METRICS(s->sess->t))
            GW_M_ADD(s->sess->t, rooms, -1);
        sio_map_del(&s->nsp->rooms, r->name, r->name_len);
        gw_room_free(r);
    }
}

void gw_room_leave(struct gw_sock *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (s->rooms[i]->name_len == len && memcmp(s->rooms[i]->name, name, len) == 0) {
            drop(s, i);
            return;
        }
}

void gw_room_leave_all(struct gw_sock *s)
{
    while (s->nrooms)
        drop(s, s->nrooms - 1);
    free(s->rooms);
    s->rooms = NULL;
    s->roomcap = 0;
}
