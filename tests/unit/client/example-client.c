/* example-client.c: the event-driven client example of docs/CLIENT.md
 * (built by the test suite so it cannot rot). Usage: example-client URL */
#include <stdio.h>
#include <stdlib.h>
#include <event2/event.h>
#include <sio/client.h>

static json_t *on_chat(sio_client *c, const char *nsp, const char *event,
                       json_t *args, bool want_ack, void *ud)
{
    char *text = json_dumps(args, JSON_COMPACT);
    printf("%s %s %s\n", nsp, event, text);
    free(text);
    return want_ack ? json_pack("[s]", "thanks") : NULL;   /* becomes the ack */
}

static void on_reply(sio_client *c, int status, json_t *args, void *ud)
{
    if (status == 0) {
        char *text = json_dumps(args, JSON_COMPACT);
        printf("ack: %s\n", text);
        free(text);
    } else {
        printf("no ack: %s\n", sio_strerror(status));
    }
    sio_client_disconnect(c);            /* done: leave; sio_client_wait() returns */
}

static void on_connect(sio_client *c, const char *nsp, void *ud)
{
    printf("connected to %s as %s over %s\n", nsp, sio_client_sid(c, nsp),
           sio_client_transport(c));
    json_t *args = json_pack("[s,o]", "hello", sio_binary_new("\x00\x01", 2));
    sio_client_emit_ack(c, nsp, "chat", args, on_reply, NULL, 5000);
    json_decref(args);
}

static void on_connect_error(sio_client *c, const char *nsp, json_t *data, void *ud)
{
    char *text = json_dumps(data, JSON_ENCODE_ANY);
    fprintf(stderr, "refused: %s\n", text);
    free(text);
}

static void on_disconnect(sio_client *c, const char *nsp, const char *reason, void *ud)
{
    printf("disconnected from %s: %s\n", nsp, reason);
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:5000";
    struct event_base *base = event_base_new();
    struct sio_client_opts opts;
    sio_client_opts_init(&opts);
    opts.reconnection_attempts = 5;

    sio_client *c;
    if (!base || sio_client_new(&c, base, &opts) < 0)
        return 1;
    struct sio_client_namespace root = {
        .nsp = "/", .on_connect = on_connect, .on_connect_error = on_connect_error,
        .on_disconnect = on_disconnect,
    };
    sio_client_on_namespace(c, &root);
    sio_client_on(c, "/", "chat", on_chat, NULL);
    sio_client_on(c, "*", "*", on_chat, NULL);    /* every other event */

    json_t *auth = json_pack("{s:s}", "token", "secret");
    int rc = sio_client_connect(c, url, NULL, auth);
    json_decref(auth);
    if (rc == 0)
        sio_client_wait(c);       /* or event_base_dispatch(base) in your program */
    else
        fprintf(stderr, "connect: %s\n", sio_strerror(rc));
    sio_client_destroy(&c);
    event_base_free(base);
    return rc == 0 ? 0 : 1;
}
