/* error.c: sio_strerror() for both error ranges. */
#include <string.h>
#include <sio/sio.h>
#include "sio-config.h"

SIO_EXPORT const char *sio_version(void)
{
    return SIO_VERSION;
}

SIO_EXPORT const char *sio_strerror(int err)
{
    switch (err) {
    case 0:                 return "success";
    case SIO_ERR_PROTO:     return "malformed packet";
    case SIO_ERR_TYPE:      return "unknown packet type";
    case SIO_ERR_NSP:       return "bad namespace";
    case SIO_ERR_ACKID:     return "bad ack id";
    case SIO_ERR_JSON:      return "invalid JSON";
    case SIO_ERR_SHAPE:     return "data of the wrong shape for the packet type";
    case SIO_ERR_ATTACH:    return "attachment count mismatch";
    case SIO_ERR_TOOBIG:    return "over the size limit";
    case SIO_ERR_BASE64:    return "invalid base64";
    case SIO_ERR_VERSION:   return "unsupported version";
    case SIO_ERR_ENVELOPE:  return "malformed bus envelope";
    case SIO_ERR_TIMEOUT:   return "timed out";
    case SIO_ERR_CLOSED:    return "closed";
    case SIO_ERR_ABI:       return "plugin ABI mismatch";
    case SIO_ERR_ANSWERED:  return "already answered";
    case SIO_ERR_FATAL:     return "fatal error";
    case SIO_ERR_CALLBACK:  return "callback failed";
    default:
        if (err < 0 && err > -1000)
            return strerror(-err);
        return "unknown error";
    }
}
