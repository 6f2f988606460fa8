/* error.h: the error convention of every sio function.
 *
 * 0 is success, > 0 a count where documented, < 0 either a negative errno
 * (-EINVAL, -ENOMEM, ...) or one of the codes below.
 */
#ifndef SIO_ERROR_H
#define SIO_ERROR_H

#include <sio/export.h>

enum sio_err {
    SIO_ERR_PROTO      = -1001, /* malformed Engine.IO/Socket.IO packet */
    SIO_ERR_TYPE       = -1002, /* unknown packet type */
    SIO_ERR_NSP        = -1003, /* bad namespace */
    SIO_ERR_ACKID      = -1004, /* bad ack id */
    SIO_ERR_JSON       = -1005, /* invalid JSON */
    SIO_ERR_SHAPE      = -1006, /* data of the wrong shape for the packet type */
    SIO_ERR_ATTACH     = -1007, /* attachment count or placeholder mismatch */
    SIO_ERR_TOOBIG     = -1008, /* over the size limit */
    SIO_ERR_BASE64     = -1009, /* bad base64 in a polling payload */
    SIO_ERR_VERSION    = -1010, /* unsupported envelope/ABI version */
    SIO_ERR_ENVELOPE   = -1011, /* malformed bus envelope */
    SIO_ERR_TIMEOUT    = -1012, /* an ack or wait timed out */
    SIO_ERR_CLOSED     = -1013, /* the socket/connection is gone */
    SIO_ERR_ABI        = -1014, /* plugin ABI mismatch */
    SIO_ERR_ANSWERED   = -1015, /* an ack token was already answered or released */
    SIO_ERR_FATAL      = -1900, /* below this, destroy the object */
    SIO_ERR_CALLBACK   = -1901, /* a user callback failed */
};

/* A static English description of err (either range). Never NULL. */
SIO_EXPORT const char *sio_strerror(int err);

#endif
