/* peer.c: see peer.h. */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *src_dir(void)
{
    const char *d = getenv("SIO_SOURCE_DIR");
    return d ? d : ".";
}

bool peer_available(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/interop/node_modules/socket.io/package.json",
             src_dir());
    return access(path, R_OK) == 0 && system("node --version >/dev/null 2>&1") == 0;
}

bool py_peer_available(void)
{
    return system("/usr/bin/python3 -c 'import socketio, aiohttp' >/dev/null 2>&1") == 0;
}

int peer_start(struct peer *p, const char *script, unsigned port, const char *const *args)
{
    memset(p, 0, sizeof *p);
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    char path[1024], portstr[16];
    snprintf(path, sizeof path, "%s/%s", src_dir(), script);
    snprintf(portstr, sizeof portstr, "%u", port);
    size_t sl = strlen(script);
    bool py = sl > 3 && strcmp(script + sl - 3, ".py") == 0;
    const char *prog = py ? "/usr/bin/python3" : "node";
    const char *argv[32] = { prog, path, "--port", portstr };
    int n = 4;
    for (size_t i = 0; args && args[i] && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* die with the test process, even when an assertion aborts it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        if (devnull >= 0 && !getenv("SIO_TEST_PEER_STDERR"))
            dup2(devnull, 2);
        close(fds[0]);
        close(fds[1]);
        execvp(prog, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    char line[512];
    size_t len = 0;
    time_t end = time(NULL) + 15;
    while (time(NULL) < end && len < sizeof line - 1) {
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t r = read(fds[0], line + len, sizeof line - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        line[len] = 0;
        const char *l = strstr(line, "listening on http");
        if (l && strchr(l, '\n')) {
            bool tls = strncmp(l, "listening on https://", 21) == 0;
            const char *colon = strchr(l + strlen("listening on http://"), ':');
            p->port = colon ? (unsigned)atoi(colon + 1) : 0;
            snprintf(p->url, sizeof p->url, "%s://127.0.0.1:%u", tls ? "https" : "http",
                     p->port);
            close(fds[0]);     /* the server only prints once */
            return p->port ? 0 : -1;
        }
    }
    close(fds[0]);
    peer_kill(p);
    return -1;
}

static void reap(struct peer *p, int sig, int wait_ms)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGCONT);
    kill(p->pid, sig);
    for (int i = 0; i < wait_ms / 10; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

void peer_stop(struct peer *p) { reap(p, SIGTERM, 2000); }
void peer_kill(struct peer *p) { reap(p, SIGKILL, 2000); }

struct fake {
    int lfd;
    pthread_t th;
    const char *const *resp;
    volatile int stop;
};

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    size_t i = 0;
    while (!f->stop) {
        struct pollfd pfd = { f->lfd, POLLIN, 0 };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[4096];
        struct pollfd cp = { fd, POLLIN, 0 };
        if (poll(&cp, 1, 1000) > 0 && read(fd, buf, sizeof buf) > 0) {
            const char *r = f->resp[i];
            if (f->resp[i + 1])
                i++;
            if (write(fd, r, strlen(r)) < 0)
                break;
        }
        usleep(20000);
        close(fd);
    }
    return NULL;
}

struct fake *fake_start(const char *const *responses, unsigned *port)
{
    struct fake *f = calloc(1, sizeof *f);
    f->resp = responses;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->lfd, 16) < 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) < 0) {
        close(f->lfd);
        free(f);
        return NULL;
    }
    *port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, fake_main, f);
    return f;
}

void fake_stop(struct fake *f)
{
    if (!f)
        return;
    f->stop = 1;
    pthread_join(f->th, NULL);
    close(f->lfd);
    free(f);
}
