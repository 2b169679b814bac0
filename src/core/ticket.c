#include "core/ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"

static unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
static unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
static bool has_key;

static const char *const gender_names[] = {"unsaid", "woman", "man", "other"};

const char *ticket_gender_name(enum gender g)
{
    return (unsigned)g < 4 ? gender_names[g] : "unsaid";
}

int ticket_gender_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, gender_names[i]) == 0)
            return i;
    return -1;
}

static enum sl_err read_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
    ssize_t n = read(fd, secret_key, sizeof secret_key);
    close(fd);
    if (n != (ssize_t)sizeof secret_key) {
        log_error("ticket key %s is damaged (%zd bytes)", path, n);
        return SL_EIO;
    }
    crypto_sign_ed25519_sk_to_pk(public_key, secret_key);
    return SL_OK;
}

enum sl_err ticket_init(const char *data_dir)
{
    if (sodium_init() < 0)
        return SL_EIO;
    char path[4096];
    snprintf(path, sizeof path, "%s/ticket.key", data_dir);
    enum sl_err err = read_key(path);
    if (err == SL_ENOTFOUND) {
        crypto_sign_keypair(public_key, secret_key);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            /* Another process created it first: use theirs. */
            if (errno == EEXIST)
                err = read_key(path);
            else
                log_error("cannot create %s: %m", path);
            if (errno != EEXIST)
                return SL_EIO;
        } else {
            bool ok = write(fd, secret_key, sizeof secret_key) == (ssize_t)sizeof secret_key;
            ok = fsync(fd) == 0 && ok;
            close(fd);
            if (!ok) {
                unlink(path);
                return SL_EIO;
            }
            log_info("created ticket signing key %s", path);
            err = SL_OK;
        }
    }
    has_key = err == SL_OK;
    return err;
}

void ticket_new_session_id(char out[SESSION_ID_LEN + 1])
{
    unsigned char rnd[SESSION_ID_LEN / 2];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(out, SESSION_ID_LEN + 1, rnd, sizeof rnd);
}

static bool field_ok(const char *s)
{
    return !strchr(s, '|');
}

enum sl_err ticket_mint(const struct ticket *t, char *out, size_t cap)
{
    if (!has_key)
        return SL_EINVAL;
    if (!field_ok(t->nick) || !field_ok(t->profile.region) || !field_ok(t->device) ||
        strlen(t->session) != SESSION_ID_LEN || !field_ok(t->session))
        return SL_EINVAL;
    char payload[256];
    int n = snprintf(payload, sizeof payload, "%s|%d|%s|%s|%d|%" PRId64 "|%" PRId64 "|%s|%s",
                     t->session, t->profile.age, ticket_gender_name(t->profile.gender),
                     t->profile.region, t->profile.show_region ? 1 : 0, t->issued_ms,
                     t->expires_ms, t->nick, t->device);
    if (n < 0 || (size_t)n >= sizeof payload)
        return SL_ELIMIT;
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (unsigned char *)payload, (size_t)n, secret_key);
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    size_t plen = sodium_base64_ENCODED_LEN((size_t)n, variant);
    size_t slen = sodium_base64_ENCODED_LEN(sizeof sig, variant);
    if (3 + plen + 1 + slen > cap)
        return SL_ELIMIT;
    memcpy(out, "v1.", 3);
    sodium_bin2base64(out + 3, plen, (unsigned char *)payload, (size_t)n, variant);
    size_t at = strlen(out);
    out[at++] = '.';
    sodium_bin2base64(out + at, slen, sig, sizeof sig, variant);
    return SL_OK;
}

enum sl_err ticket_verify(const char *s, int64_t now_wall_ms, struct ticket *t)
{
    if (!has_key || strncmp(s, "v1.", 3) != 0 || strlen(s) > TICKET_MAX)
        return SL_EINVAL;
    const char *p = s + 3;
    const char *dot = strchr(p, '.');
    if (!dot)
        return SL_EINVAL;
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    char payload[TICKET_MAX];
    size_t plen = 0;
    if (sodium_base642bin((unsigned char *)payload, sizeof payload - 1, p, (size_t)(dot - p),
                          NULL, &plen, NULL, variant) != 0)
        return SL_EINVAL;
    payload[plen] = '\0';
    unsigned char sig[crypto_sign_BYTES];
    size_t siglen = 0;
    if (sodium_base642bin(sig, sizeof sig, dot + 1, strlen(dot + 1), NULL, &siglen, NULL,
                          variant) != 0 || siglen != sizeof sig)
        return SL_EINVAL;
    if (crypto_sign_verify_detached(sig, (unsigned char *)payload, plen, public_key) != 0)
        return SL_EINVAL;

    /* Signed by us, so well-formed unless the format changed: parse strictly. */
    char *fields[9];
    int nf = 0;
    char *rest = payload, *f;
    while ((f = strsep(&rest, "|")) != NULL && nf < 9)
        fields[nf++] = f;
    if (nf < 8 || f || strlen(fields[0]) != SESSION_ID_LEN)
        return SL_EINVAL;
    memset(t, 0, sizeof *t);
    snprintf(t->session, sizeof t->session, "%s", fields[0]);
    t->profile.age = atoi(fields[1]);
    int g = ticket_gender_parse(fields[2]);
    t->profile.gender = g < 0 ? GENDER_UNSAID : (enum gender)g;
    snprintf(t->profile.region, sizeof t->profile.region, "%s", fields[3]);
    t->profile.show_region = fields[4][0] == '1';
    t->issued_ms = strtoll(fields[5], NULL, 10);
    t->expires_ms = strtoll(fields[6], NULL, 10);
    t->profile.session_created_ms = t->issued_ms;
    snprintf(t->nick, sizeof t->nick, "%s", fields[7]);
    if (nf == 9)
        snprintf(t->device, sizeof t->device, "%s", fields[8]);
    if (now_wall_ms >= t->expires_ms)
        return SL_EPERM;
    return SL_OK;
}
