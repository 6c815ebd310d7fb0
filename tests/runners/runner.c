/*
 * The C conformance runner: executes the scenario list over the C ABI (aivault.h) and prints one
 * result line per step, as tests/README.md describes.
 *
 *   runner-c SCENARIO_LINES VAULT_ROOT
 *
 * It reads the harness's flattened line format (tests/README.md, "The C runner's input"), so it
 * never parses a scenario's structure: each step line holds the C function's arguments in
 * order, as JSON texts. The little JSON it does read (a string argument, a returned record's
 * top-level field, the response headers) is handled by the small scanner below.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aivault.h"

/* ---- a growable byte buffer ---- */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf;

static void die(const char *what) {
    fprintf(stderr, "runner broke: %s\n", what);
    exit(1);
}

static void buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            die("out of memory");
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* Appends `n` bytes as a JSON string literal (control characters escaped; other bytes as is). */
static void buf_json_string(buf *b, const unsigned char *s, size_t n) {
    buf_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            buf_add(b, esc, 2);
        } else if (s[i] < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", s[i]);
            buf_str(b, esc);
        } else {
            buf_add(b, (const char *)&s[i], 1);
        }
    }
    buf_str(b, "\"");
}

/* ---- a minimal JSON scanner ---- */

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

/* `p` at a '"': the position after the closing quote, or NULL. */
static const char *skip_string(const char *p) {
    for (p++; *p != '\0'; p++) {
        if (*p == '\\') {
            if (p[1] == '\0') {
                return NULL;
            }
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* The position after the JSON value at `p`, or NULL. */
static const char *skip_value(const char *p) {
    p = skip_ws(p);
    if (*p == '"') {
        return skip_string(p);
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p != '\0') {
            if (*p == '"') {
                p = skip_string(p);
                if (p == NULL) {
                    return NULL;
                }
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) {
                    return p + 1;
                }
            }
            p++;
        }
        return NULL;
    }
    while (*p != '\0' && *p != ',' && *p != '}' && *p != ']' && !isspace((unsigned char)*p)) {
        p++;
    }
    return p;
}

/* Finds top-level `key` of the JSON object at `json`: its raw value in [*start, *end). */
static int json_field(const char *json, const char *key, const char **start, const char **end) {
    const char *p = skip_ws(json);
    if (*p != '{') {
        return 0;
    }
    p = skip_ws(p + 1);
    size_t key_len = strlen(key);
    while (*p == '"') {
        const char *after = skip_string(p);
        if (after == NULL) {
            return 0;
        }
        int same = (size_t)(after - p - 2) == key_len && strncmp(p + 1, key, key_len) == 0;
        p = skip_ws(after);
        if (*p != ':') {
            return 0;
        }
        const char *value = skip_ws(p + 1);
        const char *value_end = skip_value(value);
        if (value_end == NULL) {
            return 0;
        }
        if (same) {
            *start = value;
            *end = value_end;
            return 1;
        }
        p = skip_ws(value_end);
        if (*p != ',') {
            return 0;
        }
        p = skip_ws(p + 1);
    }
    return 0;
}

static void put_utf8(buf *b, unsigned long c) {
    char out[4];
    size_t n;
    if (c < 0x80) {
        out[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (c >> 18));
        out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    buf_add(b, out, n);
}

static int hex4(const char *p, unsigned long *out) {
    char digits[5] = {0};
    for (int i = 0; i < 4; i++) {
        if (!isxdigit((unsigned char)p[i])) {
            return 0;
        }
        digits[i] = p[i];
    }
    *out = strtoul(digits, NULL, 16);
    return 1;
}

/* Decodes the JSON string literal `text` into `out` (NUL-terminated). 0 when it is none. */
static int json_decode(const char *text, buf *out) {
    const char *p = skip_ws(text);
    if (*p != '"') {
        return 0;
    }
    for (p++; *p != '"'; p++) {
        if (*p == '\0') {
            return 0;
        }
        if (*p != '\\') {
            buf_add(out, p, 1);
            continue;
        }
        p++;
        unsigned long c;
        switch (*p) {
        case 'b': buf_add(out, "\b", 1); break;
        case 'f': buf_add(out, "\f", 1); break;
        case 'n': buf_add(out, "\n", 1); break;
        case 'r': buf_add(out, "\r", 1); break;
        case 't': buf_add(out, "\t", 1); break;
        case 'u':
            if (!hex4(p + 1, &c)) {
                return 0;
            }
            p += 4;
            if (c >= 0xD800 && c < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                unsigned long low;
                if (hex4(p + 3, &low) && low >= 0xDC00 && low < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
            }
            put_utf8(out, c);
            break;
        case '\0': return 0;
        default: buf_add(out, p, 1); break; /* \" \\ \/ */
        }
    }
    if (out->data == NULL) {
        buf_add(out, "", 0);
    }
    return 1;
}

/* ---- saved values ---- */

#define MAX_VARS 64
static char *var_names[MAX_VARS];
static char *var_values[MAX_VARS];
static int var_count;

static void vars_clear(void) {
    for (int i = 0; i < var_count; i++) {
        free(var_names[i]);
        free(var_values[i]);
    }
    var_count = 0;
}

static char *copy(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (out == NULL) {
        die("out of memory");
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static void var_set(const char *name, const char *value, size_t value_len) {
    for (int i = 0; i < var_count; i++) {
        if (strcmp(var_names[i], name) == 0) {
            free(var_values[i]);
            var_values[i] = copy(value, value_len);
            return;
        }
    }
    if (var_count == MAX_VARS) {
        die("too many saved values");
    }
    var_names[var_count] = copy(name, strlen(name));
    var_values[var_count] = copy(value, value_len);
    var_count++;
}

/* `text` with every `${name}` of a saved value replaced (a new string to free). */
static char *substitute(const char *text) {
    buf out = {0};
    buf_add(&out, "", 0);
    const char *p = text;
    while (*p != '\0') {
        const char *end = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        int done = 0;
        for (int i = 0; end != NULL && i < var_count; i++) {
            size_t n = (size_t)(end - p - 2);
            if (strlen(var_names[i]) == n && strncmp(p + 2, var_names[i], n) == 0) {
                buf_str(&out, var_values[i]);
                p = end + 1;
                done = 1;
                break;
            }
        }
        if (!done) {
            buf_add(&out, p, 1);
            p++;
        }
    }
    return out.data;
}

/* ---- one step ---- */

#define MAX_FIELDS 8

typedef struct {
    char *op;
    char *fields[MAX_FIELDS]; /* substituted JSON texts */
    int count;
    buf decoded[MAX_FIELDS];  /* decoded strings, for string and byte parameters */
} step;

static const char *field(step *s, int i) {
    if (i >= s->count) {
        die("a step line has too few fields");
    }
    return s->fields[i];
}

/* A string parameter: NULL for `null`, else the decoded JSON string. */
static const char *arg_s(step *s, int i) {
    const char *text = field(s, i);
    if (strcmp(text, "null") == 0) {
        return NULL;
    }
    if (!json_decode(text, &s->decoded[i])) {
        die("a string field is no JSON string");
    }
    return s->decoded[i].data;
}

/* A byte parameter: as arg_s, with its length. */
static const uint8_t *arg_b(step *s, int i, size_t *len) {
    const char *text = arg_s(s, i);
    *len = text == NULL ? 0 : s->decoded[i].len;
    return (const uint8_t *)text;
}

/* A JSON parameter: NULL for `null`, else the text as is. */
static const char *arg_j(step *s, int i) {
    const char *text = field(s, i);
    return strcmp(text, "null") == 0 ? NULL : text;
}

/* The invoke result as {"status", "headers": {lowercase-name: value}, "body": text}. */
static void response_json(aivault_response *response, buf *out) {
    char head[64];
    snprintf(head, sizeof head, "{\"status\":%u,\"headers\":{",
             (unsigned)aivault_response_status(response));
    buf_str(out, head);
    const char *p = skip_ws(aivault_response_headers(response));
    int first = 1;
    if (*p == '[') {
        p = skip_ws(p + 1);
        while (*p == '{') {
            const char *name, *name_end, *value, *value_end;
            const char *next = skip_value(p);
            if (next == NULL || !json_field(p, "name", &name, &name_end) ||
                !json_field(p, "value", &value, &value_end)) {
                die("unexpected response headers JSON");
            }
            if (!first) {
                buf_str(out, ",");
            }
            first = 0;
            for (const char *c = name; c < name_end; c++) {
                char lower = (char)tolower((unsigned char)*c);
                buf_add(out, &lower, 1);
            }
            buf_str(out, ":");
            buf_add(out, value, (size_t)(value_end - value));
            p = skip_ws(next);
            if (*p == ',') {
                p = skip_ws(p + 1);
            }
        }
    }
    buf_str(out, "},\"body\":");
    size_t len = 0;
    const uint8_t *body = aivault_response_body(response, &len);
    buf_json_string(out, body, len);
    buf_str(out, "}");
}

/* Runs one step: its status, and on success its JSON value in `out`. */
static aivault_status run_step(aivault_vault *v, step *s, buf *out) {
    const char *op = s->op;
    char *json = NULL;
    aivault_status st;
    size_t n = 0;
    const uint8_t *bytes;
    if (strcmp(op, "status") == 0) {
        st = aivault_vault_status(v, &json);
    } else if (strcmp(op, "secrets.create") == 0) {
        bytes = arg_b(s, 1, &n);
        st = aivault_secret_create(v, arg_s(s, 0), bytes, n, arg_s(s, 2), arg_s(s, 3), arg_s(s, 4),
                                   arg_j(s, 5), &json);
    } else if (strcmp(op, "secrets.list") == 0) {
        st = aivault_secret_list(v, arg_s(s, 0), arg_s(s, 1), arg_s(s, 2), &json);
    } else if (strcmp(op, "secrets.update") == 0) {
        st = aivault_secret_update(v, arg_s(s, 0), arg_j(s, 1), &json);
    } else if (strcmp(op, "secrets.rotate") == 0) {
        bytes = arg_b(s, 1, &n);
        st = aivault_secret_rotate(v, arg_s(s, 0), bytes, n, &json);
    } else if (strcmp(op, "secrets.delete") == 0) {
        st = aivault_secret_delete(v, arg_s(s, 0), &json);
    } else if (strcmp(op, "secrets.attachGroup") == 0) {
        st = aivault_secret_attach_group(v, arg_s(s, 0), arg_s(s, 1), arg_s(s, 2), &json);
    } else if (strcmp(op, "secrets.detachGroup") == 0) {
        st = aivault_secret_detach_group(v, arg_s(s, 0), arg_s(s, 1), arg_s(s, 2), &json);
    } else if (strcmp(op, "secrets.import") == 0) {
        st = aivault_secret_import(v, arg_j(s, 0), arg_s(s, 1), arg_s(s, 2), arg_s(s, 3), &json);
    } else if (strcmp(op, "credentials.create") == 0) {
        st = aivault_credential_create(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "credentials.list") == 0) {
        st = aivault_credential_list(v, &json);
    } else if (strcmp(op, "credentials.delete") == 0) {
        st = aivault_credential_delete(v, arg_s(s, 0), &json);
    } else if (strcmp(op, "capabilities.list") == 0) {
        st = aivault_capability_list(v, &json);
    } else if (strcmp(op, "capabilities.describe") == 0) {
        st = aivault_capability_describe(v, arg_s(s, 0), &json);
    } else if (strcmp(op, "capabilities.create") == 0) {
        st = aivault_capability_create(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "capabilities.delete") == 0) {
        st = aivault_capability_delete(v, arg_s(s, 0), &json);
    } else if (strcmp(op, "capabilities.setPolicy") == 0) {
        st = aivault_capability_set_policy(v, arg_s(s, 0), arg_j(s, 1), &json);
    } else if (strcmp(op, "capabilities.bind") == 0) {
        st = aivault_capability_bind(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "capabilities.unbind") == 0) {
        st = aivault_capability_unbind(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "capabilities.bindings") == 0) {
        st = aivault_capability_bindings(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "capabilities.route") == 0) {
        st = aivault_capability_route(v, arg_s(s, 0), arg_s(s, 1), arg_s(s, 2), &json);
    } else if (strcmp(op, "audit.query") == 0) {
        st = aivault_audit_query(v, arg_j(s, 0), &json);
    } else if (strcmp(op, "audit.verify") == 0) {
        st = aivault_audit_verify(v, &json);
    } else if (strcmp(op, "invoke") == 0) {
        aivault_response *response = NULL;
        bytes = arg_b(s, 1, &n);
        st = aivault_invoke(v, arg_j(s, 0), bytes, n, &response);
        if (st == AIVAULT_OK) {
            response_json(response, out);
        }
        aivault_response_free(response);
        return st;
    } else {
        fprintf(stderr, "runner broke: unknown op '%s'\n", op);
        exit(1);
    }
    if (st == AIVAULT_OK) {
        buf_str(out, json);
    }
    aivault_string_free(json);
    return st;
}

/* Splits `line` (modified in place) at tabs into at most `max` parts. */
static int split(char *line, char **parts, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        parts[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL) {
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static void step_free(step *s) {
    for (int i = 0; i < s->count; i++) {
        free(s->fields[i]);
        free(s->decoded[i].data);
    }
    free(s->op);
    memset(s, 0, sizeof *s);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCENARIO_LINES VAULT_ROOT\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (in == NULL) {
        die("cannot open the scenario lines");
    }
    aivault_vault *vault = NULL;
    char *scenario = NULL;  /* its name as a JSON string */
    int scenario_index = -1;
    int step_index = 0;
    buf result = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) != -1) {
        if (len > 0 && line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        char *parts[MAX_FIELDS + 2];
        int count = split(line, parts, MAX_FIELDS + 2);
        if (strcmp(parts[0], "scenario") == 0 && count == 2) {
            aivault_vault_free(vault);
            vault = NULL;
            vars_clear();
            free(scenario);
            scenario = copy(parts[1], strlen(parts[1]));
            scenario_index++;
            step_index = 0;
            buf dir = {0};
            char number[32];
            snprintf(number, sizeof number, "/%d", scenario_index);
            buf_str(&dir, argv[2]);
            buf_str(&dir, number);
            if (aivault_vault_open(dir.data, &vault) != AIVAULT_OK) {
                fprintf(stderr, "runner broke: open %s: %s\n", dir.data, aivault_last_error());
                return 1;
            }
            free(dir.data);
        } else if (strcmp(parts[0], "step") == 0 && count >= 2 && vault != NULL) {
            step s = {0};
            s.op = copy(parts[1], strlen(parts[1]));
            for (int i = 2; i < count; i++) {
                s.fields[s.count++] = substitute(parts[i]);
            }
            result.len = 0;
            buf_add(&result, "", 0);
            aivault_status st = run_step(vault, &s, &result);
            if (st == AIVAULT_OK) {
                printf("{\"scenario\":%s,\"step\":%d,\"result\":{\"ok\":%s}}\n", scenario,
                       step_index, result.data);
            } else {
                result.len = 0; /* no value: keep the last one out of the saves below */
                printf("{\"scenario\":%s,\"step\":%d,\"result\":{\"error\":\"%s\"}}\n", scenario,
                       step_index, aivault_status_name((int)st));
            }
            fflush(stdout);
            step_free(&s);
            step_index++;
        } else if (strcmp(parts[0], "save") == 0 && count == 3) {
            const char *start, *end;
            if (result.len > 0 && json_field(result.data, parts[2], &start, &end)) {
                if (*start == '"') { /* a string: its escaped text between the quotes */
                    start++;
                    end--;
                }
                var_set(parts[1], start, (size_t)(end - start));
            }
        } else {
            die("an unexpected line");
        }
    }
    free(line);
    free(result.data);
    free(scenario);
    vars_clear();
    aivault_vault_free(vault);
    fclose(in);
    return 0;
}
