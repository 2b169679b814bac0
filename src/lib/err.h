#ifndef SALON_LIB_ERR_H
#define SALON_LIB_ERR_H

/* One error enum for the whole project (as curl's CURLcode). SL_OK is 0 so
 * "if (err)" reads naturally. Each value says what went wrong, not where. */
enum sl_err {
    SL_OK = 0,
    SL_EAGAIN,      /* need more input, or try again later (throttled) */
    SL_ELIMIT,      /* a configured or protocol limit was reached */
    SL_EPROTO,      /* the peer broke the protocol */
    SL_EINVAL,      /* a bad argument or value */
    SL_ENOTFOUND,   /* no such thing */
    SL_EEXIST,      /* already exists / already in use */
    SL_EPERM,       /* not allowed */
    SL_EDENIED,     /* refused by the policy gate */
    SL_EIO,         /* an I/O or system call failed */
    SL_ECLOSED,     /* the peer closed, or the object is closing */
    SL_EUTF8,       /* text is not valid UTF-8 */
};

/* Returns a static, human-readable name for err. */
const char *sl_strerror(enum sl_err err);

#endif
