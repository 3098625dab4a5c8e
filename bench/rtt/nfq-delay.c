/*
 * nfq-delay: hold every packet of an NFQUEUE queue for a fixed time, then accept it.
 *
 * The kernels here have no netem, so bench/rtt.ts emulates a WAN link this way: inside the
 * benchmark's own network namespace, `iptables -t mangle -A OUTPUT -o lo -j NFQUEUE --queue-num N
 * --queue-bypass` sends every loopback packet here once, and holding each for D ms gives a round
 * trip of 2*D ms. Packets leave in the order they came (a FIFO; every packet waits the same D).
 *
 *   nfq-delay QUEUE_NUM DELAY_MS
 *
 * Prints "ready" once bound to the queue. SIGTERM or SIGINT: accept what is held, unbind, exit 0.
 * Built by bench/run.sh with: cc -O2 -Wall -o nfq-delay nfq-delay.c -lnetfilter_queue
 */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CAPACITY 65536 /* packets held at once; the kernel queue is as long */

struct held {
	uint32_t id;
	int64_t due_ns;
};

static struct held ring[CAPACITY];
static size_t head, count;
static int64_t delay_ns;
static unsigned long overflowed;
static volatile sig_atomic_t stopping;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
	(void)msg;
	(void)data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	if (ph == NULL)
		return 0;
	uint32_t id = ntohl(ph->packet_id);
	if (count == CAPACITY) {
		/* Cannot hold it: let it through undelayed, and say so at exit. */
		overflowed++;
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	}
	ring[(head + count) % CAPACITY] = (struct held){ .id = id, .due_ns = now_ns() + delay_ns };
	count++;
	return 0;
}

/* Accept every held packet whose time has come (all of them when `all`). */
static void release(struct nfq_q_handle *qh, int all)
{
	int64_t now = now_ns();
	while (count > 0 && (all || ring[head].due_ns <= now)) {
		nfq_set_verdict(qh, ring[head].id, NF_ACCEPT, 0, NULL);
		head = (head + 1) % CAPACITY;
		count--;
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s QUEUE_NUM DELAY_MS\n", argv[0]);
		return 2;
	}
	int queue = atoi(argv[1]);
	delay_ns = (int64_t)(atof(argv[2]) * 1e6);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct nfq_handle *h = nfq_open();
	if (h == NULL) {
		perror("nfq_open");
		return 1;
	}
	struct nfq_q_handle *qh = nfq_create_queue(h, queue, on_packet, NULL);
	if (qh == NULL) {
		perror("nfq_create_queue");
		return 1;
	}
	/* Only the packet id is needed, never the payload. */
	if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, CAPACITY) < 0) {
		perror("nfq_set_mode/maxlen");
		return 1;
	}
	int fd = nfq_fd(h);
	int big = 16 << 20, one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	printf("ready\n");
	fflush(stdout);

	char buf[65536] __attribute__((aligned));
	while (!stopping) {
		struct timespec wait, *timeout = NULL;
		if (count > 0) {
			int64_t left = ring[head].due_ns - now_ns();
			if (left < 0)
				left = 0;
			wait = (struct timespec){ .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
			timeout = &wait;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ready = ppoll(&pfd, 1, timeout, NULL);
		if (ready < 0 && errno != EINTR) {
			perror("ppoll");
			break;
		}
		if (ready > 0) {
			for (;;) {
				ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
				if (n <= 0)
					break;
				nfq_handle_packet(h, buf, (int)n);
			}
		}
		release(qh, 0);
	}
	release(qh, 1);
	nfq_destroy_queue(qh);
	nfq_close(h);
	if (overflowed > 0)
		fprintf(stderr, "nfq-delay: %lu packets passed undelayed (more than %d held)\n", overflowed,
			CAPACITY);
	return 0;
}
