#include "lib/err.h"

const char *sl_strerror(enum sl_err err)
{
    switch (err) {
    case SL_OK:        return "ok";
    case SL_EAGAIN:    return "try again";
    case SL_ELIMIT:    return "limit reached";
    case SL_EPROTO:    return "protocol error";
    case SL_EINVAL:    return "invalid argument";
    case SL_ENOTFOUND: return "not found";
    case SL_EEXIST:    return "already exists";
    case SL_EPERM:     return "not permitted";
    case SL_EDENIED:   return "denied";
    case SL_EIO:       return "i/o error";
    case SL_ECLOSED:   return "closed";
    case SL_EUTF8:     return "invalid utf-8";
    }
    return "unknown error";
}
