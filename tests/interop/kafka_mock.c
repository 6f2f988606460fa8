/* kafka_mock.c: librdkafka's mock cluster as the Kafka broker of
 * tests/interop/kafka_test.sh (built as adapters/sio-kafka-mock when
 * librdkafka is found).
 *
 *   sio-kafka-mock [TOPIC [PARTITIONS]]
 *
 * Starts a one-broker mock cluster on loopback, creates TOPIC (default
 * "socketio", 1 partition), prints "bootstrap HOST:PORT" and runs until
 * stdin closes or SIGTERM/SIGINT. Commands on stdin, one a line:
 *
 *   produce PATH    produce the bytes of file PATH to TOPIC (no key) with a
 *                   librdkafka producer; answers "produced" or "error ..."
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sigaction (the project passes -D_GNU_SOURCE) */
#endif
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void produce(rd_kafka_t *prod, const char *topic, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("error %s: %s\n", path, strerror(errno));
        return;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *n = realloc(buf, cap);
            if (!n)
                break;
            buf = n;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    rd_kafka_resp_err_t e = rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic),
                                              RD_KAFKA_V_VALUE(buf, len),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_END);
    free(buf);
    if (!e)
        e = rd_kafka_flush(prod, 5000);
    if (e)
        printf("error %s\n", rd_kafka_err2str(e));
    else
        printf("produced\n");
}

int main(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[1] : "socketio";
    int parts = argc > 2 ? atoi(argv[2]) : 1;
    char err[512];

    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot start a mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, parts > 0 ? parts : 1, 1);
    if (e) {
        fprintf(stderr, "kafka_mock: topic %s: %s\n", topic, rd_kafka_err2str(e));
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);

    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(pconf, "log_level", "3", err, sizeof err);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    if (!prod) {
        fprintf(stderr, "kafka_mock: producer: %s\n", err);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }

    printf("bootstrap %s\n", bs);
    fflush(stdout);

    char line[4096];
    size_t have = 0;
    while (!stop) {
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int n = poll(&p, 1, 200);
        rd_kafka_poll(prod, 0);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        ssize_t r = read(0, line + have, sizeof line - 1 - have);
        if (r <= 0)
            break;      /* stdin closed */
        have += (size_t)r;
        line[have] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            if (strncmp(line, "produce ", 8) == 0)
                produce(prod, topic, line + 8);
            else if (line[0])
                printf("error unknown command\n");
            fflush(stdout);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have - used + 1);
            have -= used;
        }
        if (have == sizeof line - 1)
            have = 0;   /* an overlong line: drop it */
    }
    rd_kafka_flush(prod, 1000);
    rd_kafka_destroy(prod);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
