/*
 * aivault from C on the other side of the boundary: an agent that holds only the socket of a
 * running `aivault serve` and a caller token (AIVAULT_SOCKET and AIVAULT_TOKEN), never the
 * vault. It lists the token's capabilities, invokes one, and shows that a capability outside
 * the token is refused.
 *
 *   AIVAULT_SOCKET=... AIVAULT_TOKEN=... remote CAPABILITY PATH [OUTSIDE_CAPABILITY]
 *
 * Exits 0 when every step behaved.
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

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s CAPABILITY PATH [OUTSIDE_CAPABILITY]\n", argv[0]);
        return 2;
    }
    aivault_remote *remote = NULL;
    /* NULL, NULL: the socket and the token come from the environment. */
    aivault_status status = aivault_connect(NULL, NULL, &remote);
    if (status != AIVAULT_OK) {
        fail("aivault_connect", status);
    }

    char *listing = NULL;
    status = aivault_remote_capability_list(remote, &listing);
    if (status != AIVAULT_OK) {
        fail("aivault_remote_capability_list", status);
    }
    printf("capabilities: %s\n", listing);
    aivault_string_free(listing);

    char request[1024];
    snprintf(request, sizeof request, "{\"capability\":\"%s\",\"path\":\"%s\"}", argv[1], argv[2]);
    aivault_response *response = NULL;
    status = aivault_remote_invoke(remote, request, NULL, 0, &response);
    if (status != AIVAULT_OK) {
        fail("aivault_remote_invoke", status);
    }
    size_t len = 0;
    const uint8_t *body = aivault_response_body(response, &len);
    printf("status: %u\n", (unsigned)aivault_response_status(response));
    printf("headers: %s\n", aivault_response_headers(response));
    printf("planned: %s\n", aivault_response_planned(response));
    printf("body: %.*s\n", (int)len, (const char *)body);
    aivault_response_free(response);

    if (argc == 4) {
        snprintf(request, sizeof request, "{\"capability\":\"%s\"}", argv[3]);
        response = NULL;
        status = aivault_remote_invoke(remote, request, NULL, 0, &response);
        printf("outside the token: %d %s: %s\n", (int)status, aivault_status_name((int)status),
               aivault_last_error());
        if (status != AIVAULT_UNAUTHORIZED || response != NULL) {
            return 1;
        }
    }
    aivault_remote_free(remote);
    return 0;
}
