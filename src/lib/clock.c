#include "lib/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *clock_iso8601(int64_t wall_ms, char *out)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Fields are clamped so the result always has exactly CLOCK_ISO_LEN
     * characters (and gcc can prove it cannot truncate). */
    snprintf(out, CLOCK_ISO_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)(wall_ms % 1000));
    return out;
}

/* Reads exactly n digits at *p; returns -1 when a character is not one. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

int64_t clock_parse_iso8601(const char *s)
{
    /* Strictly "YYYY-MM-DDThh:mm:ss[.fff]Z" (IRCv3 server-time). */
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int year = digits(&p, 4);
    if (year < 0 || *p++ != '-')
        return -1;
    int mon = digits(&p, 2);
    if (mon < 0 || *p++ != '-')
        return -1;
    int day = digits(&p, 2);
    if (day < 0 || *p++ != 'T')
        return -1;
    int hour = digits(&p, 2);
    if (hour < 0 || *p++ != ':')
        return -1;
    int min = digits(&p, 2);
    if (min < 0 || *p++ != ':')
        return -1;
    int sec = digits(&p, 2);
    if (sec < 0)
        return -1;
    int ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (*p != 'Z' || p[1] != '\0')
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse what moved. */
    if (t == (time_t)-1 || tm.tm_mon != mon - 1 || tm.tm_mday != day)
        return -1;
    return (int64_t)t * 1000 + ms;
}
