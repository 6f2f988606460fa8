/* example-simple.c: the simple client example of docs/CLIENT.md (built by
 * the test suite). Usage: example-simple URL */
#include <stdio.h>
#include <stdlib.h>
#include <sio/client.h>

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:5000";
    struct sio_simple_opts opts = { .nsp = "/", .wait_timeout_ms = 5000 };
    sio_simple *s;
    json_t *refusal = NULL;
    int rc = sio_simple_connect(&s, url, &opts, &refusal);
    if (rc < 0) {
        fprintf(stderr, "connect: %s\n", sio_strerror(rc));
        json_decref(refusal);
        return 1;
    }
    printf("sid %s over %s\n", sio_simple_sid(s), sio_simple_transport(s));

    json_t *args = json_pack("[s,i]", "ping", 1), *reply;
    if (sio_simple_call(s, "echo", args, 2000, &reply) == 0) {   /* waits for the ack */
        char *text = json_dumps(reply, JSON_COMPACT);
        printf("ack: %s\n", text);
        free(text);
        json_decref(reply);
    }
    sio_simple_emit(s, "message", args);
    json_decref(args);

    char *event;
    json_t *eargs;
    while ((rc = sio_simple_receive(s, &event, &eargs, 1000)) == 0) {
        char *text = json_dumps(eargs, JSON_COMPACT);
        printf("event %s %s\n", event, text);
        free(text);
        free(event);
        json_decref(eargs);
    }
    if (rc == SIO_ERR_TIMEOUT)
        printf("quiet for a second, leaving\n");
    sio_simple_disconnect(&s);
    return 0;
}
