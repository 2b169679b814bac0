#include "lib/ini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

bool ini_read(const char *path, ini_entry_fn *fn, void *ud)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "salon: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = true, has_section = false;
    char line[INI_LINE_MAX + 2], section[INI_LINE_MAX] = "";
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "salon: %s:%d: line longer than %d bytes\n", path, lineno,
                    INI_LINE_MAX);
            ok = false;
            break;
        }
        char *s = trim(line);
        if (lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
            s += 3;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || end[1] != '\0') {
                fprintf(stderr, "salon: %s:%d: bad section header\n", path, lineno);
                ok = false;
                continue;
            }
            *end = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            has_section = true;
            if (!fn(ud, section, NULL, NULL, lineno)) {
                fprintf(stderr, "salon: %s:%d: unknown section [%s]\n", path, lineno, section);
                ok = false;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq || !has_section) {
            fprintf(stderr, "salon: %s:%d: expected 'key = value' inside a [section]\n", path,
                    lineno);
            ok = false;
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!fn(ud, section, key, value, lineno)) {
            fprintf(stderr, "salon: %s:%d: [%s] %s = %s: unknown key or bad value\n", path,
                    lineno, section, key, value);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}

bool ini_long(const char *value, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(value, &end, 10);
    if (errno || end == value || *end || n < min || n > max)
        return false;
    *out = n;
    return true;
}
