#include "api/json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_send_json(struct conn *c, int status, json_t *doc, const char *headers)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    http_respond(c, status, "application/json", body ? body : "{}", body ? strlen(body) : 2,
                 headers ? headers : "Cache-Control: no-store\r\n");
    free(body);
}

void api_error(struct conn *c, int status, const char *code, const char *field,
               const char *message, const char *headers)
{
    json_t *err = json_pack("{s:s, s:s?, s:s}", "code", code, "field", field, "message", message);
    api_send_json(c, status, json_pack("{s:o}", "error", err), headers);
}

bool api_cookie(const struct http_request *req, const char *name, char *out, size_t cap)
{
    const char *h = http_request_header(req, "Cookie");
    size_t nl = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        const char *end = strchr(h, ';');
        size_t len = end ? (size_t)(end - h) : strlen(h);
        if (len > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl + 1 > cap)
                return false;
            memcpy(out, h + nl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        h = end;
    }
    return false;
}

json_t *api_body_json(struct conn *c, const struct http_request *req)
{
    const char *ctype = http_request_header(req, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        api_error(c, 415, "unsupported_media_type", NULL, "Send JSON (application/json).", NULL);
        return NULL;
    }
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        api_error(c, 400, "invalid_json", NULL, "The request is not a JSON object.", NULL);
        return NULL;
    }
    return doc;
}
