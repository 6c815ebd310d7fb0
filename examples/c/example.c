/*
 * aivault from C: create a secret, list its metadata, let a credential inject it into a call to
 * a local HTTP service, and handle errors.
 *
 *   example VAULT_DIR PORT
 *
 * The secret's value is read from standard input (one line), so it never shows in the process
 * list. The service is expected on 127.0.0.1:PORT (plain HTTP, a local service: the credential
 * opts in with allowPrivateNetwork and insecureHttp). Exits 0 when every step behaved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aivault.h"

/* Prints the failure of `what` and exits. */
static void fail(const char *what, aivault_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, aivault_status_name((int)status),
            aivault_last_error());
    exit(1);
}

/* Copies the string value of "key":"..." out of a JSON text (enough for this example). */
static int json_field(const char *json, const char *key, char *out, size_t out_len) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = strstr(json, pattern);
    if (start == NULL) {
        return 0;
    }
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= out_len) {
        return 0;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VAULT_DIR PORT < value\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    const char *port = argv[2];
    char value[4096];
    if (fgets(value, sizeof value, stdin) == NULL) {
        fprintf(stderr, "no value on standard input\n");
        return 2;
    }
    value[strcspn(value, "\n")] = '\0';

    aivault_vault *vault = NULL;
    aivault_status status = aivault_vault_open(dir, &vault);
    if (status != AIVAULT_OK) {
        fail("aivault_vault_open", status);
    }

    /* 1. A secret: the value goes in as bytes; only metadata comes back. */
    char *meta = NULL;
    status = aivault_secret_create(vault, "ACME_TOKEN", (const uint8_t *)value, strlen(value),
                                   "global", NULL, NULL, "[\"acme\"]", &meta);
    memset(value, 0, sizeof value);
    if (status != AIVAULT_OK) {
        fail("aivault_secret_create", status);
    }
    char secret_id[128];
    if (!json_field(meta, "secretId", secret_id, sizeof secret_id)) {
        fprintf(stderr, "no secretId in %s\n", meta);
        return 1;
    }
    aivault_string_free(meta);

    char *list = NULL;
    status = aivault_secret_list(vault, NULL, NULL, NULL, &list);
    if (status != AIVAULT_OK) {
        fail("aivault_secret_list", status);
    }
    printf("secrets: %s\n", list);
    aivault_string_free(list);

    /* 2. A credential that injects it as a bearer token towards the local service, and a
     * capability that allows GET /v1 there. */
    char request[1024];
    snprintf(request, sizeof request,
             "{\"id\":\"acme\",\"provider\":\"acme\",\"secretRefs\":[\"vault:secret:%s\"],"
             "\"auth\":{\"kind\":\"header\"},\"hosts\":[\"127.0.0.1:%s\"],"
             "\"network\":{\"allowPrivateNetwork\":true,\"insecureHttp\":true}}",
             secret_id, port);
    char *record = NULL;
    status = aivault_credential_create(vault, request, &record);
    if (status != AIVAULT_OK) {
        fail("aivault_credential_create", status);
    }
    aivault_string_free(record);
    status = aivault_capability_create(
        vault, "{\"id\":\"acme/api\",\"credential\":\"acme\",\"methods\":[\"GET\"],\"paths\":[\"/v1\"]}",
        &record);
    if (status != AIVAULT_OK) {
        fail("aivault_capability_create", status);
    }
    aivault_string_free(record);

    /* 3. The call: the broker injects the key; the caller never holds it. */
    aivault_response *response = NULL;
    status = aivault_invoke(vault, "{\"capability\":\"acme/api\",\"path\":\"/v1/ping\"}", NULL, 0,
                            &response);
    if (status != AIVAULT_OK) {
        fail("aivault_invoke", status);
    }
    size_t body_len = 0;
    const uint8_t *body = aivault_response_body(response, &body_len);
    printf("status: %u\n", (unsigned)aivault_response_status(response));
    printf("planned: %s\n", aivault_response_planned(response));
    printf("body: %.*s\n", (int)body_len, (const char *)body);
    aivault_response_free(response);

    /* 4. Errors: a stable status number and this thread's message. */
    status = aivault_invoke(vault, "{\"capability\":\"acme/nope\"}", NULL, 0, &response);
    printf("unknown capability: %s\n", aivault_status_name((int)status));
    if (status != AIVAULT_CAPABILITY_NOT_FOUND) {
        return 1;
    }
    status = aivault_secret_list(vault, NULL, NULL, NULL, NULL);
    printf("NULL out: %s: %s\n", aivault_status_name((int)status), aivault_last_error());
    if (status != AIVAULT_INVALID_INPUT) {
        return 1;
    }
    status = aivault_secret_create(vault, "\xff\xfe", (const uint8_t *)"v", 1, NULL, NULL, NULL,
                                   NULL, &meta);
    printf("invalid UTF-8: %s: %s\n", aivault_status_name((int)status), aivault_last_error());
    if (status != AIVAULT_INVALID_INPUT) {
        return 1;
    }
    status = aivault_secret_list(NULL, NULL, NULL, NULL, &list);
    if (status != AIVAULT_INVALID_INPUT) {
        return 1;
    }

    aivault_vault_free(vault);
    aivault_vault_free(NULL); /* a no-op */
    return 0;
}
